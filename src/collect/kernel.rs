//! Kernel TCP counters (`/proc/net/netstat`, `/proc/net/snmp`, `/proc/net/sockstat`) and
//! per-namespace limits (`/proc/sys/net/...`), opened inside the watched namespace.
//!
//! Files are opened once and re-read through the same handles (see [`super::procfile`]).
//! A file that is missing or unreadable leaves its values out; it is never an error.
//!
//! Scope, as Linux 6.18 has it: snmp and netstat counters, sockstat `inuse` and `tw`, and
//! every limit but one are per namespace. sockstat `orphan`, `alloc` and `mem` are
//! host-wide, and so is `tcp_max_orphans`, whose file exists only in the initial namespace:
//! inside any other namespace it reads as absent.

use std::fs::File;
use std::path::Path;
use std::str::FromStr;

use super::procfile::read_whole;
use crate::model::{Counters, Limits};

/// One namespace's cheap readings: what moves when any of its sockets could change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// The values of the `Tcp:` line of `/proc/net/snmp`, in file order.
    pub tcp: Vec<i64>,
    /// `inuse` of the `TCP:` line of `/proc/net/sockstat`.
    pub inuse: u64,
    /// `tw` of the same line.
    pub tw: u64,
}

/// The running kernel's release, as `uname -r` prints it (`None` when unreadable).
pub fn release() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Open handles on one namespace's counter and limit files; `None` where opening failed.
#[derive(Debug, Default)]
pub struct KernelFiles {
    netstat: Option<File>,
    snmp: Option<File>,
    sockstat: Option<File>,
    ip_local_port_range: Option<File>,
    tcp_max_tw_buckets: Option<File>,
    tcp_max_orphans: Option<File>,
    tcp_max_syn_backlog: Option<File>,
    somaxconn: Option<File>,
    tcp_syncookies: Option<File>,
    tcp_fin_timeout: Option<File>,
}

impl KernelFiles {
    /// Open the files of the calling thread's namespace
    /// (`/proc/thread-self/net/*`, `/proc/sys/net/*`). Files that are missing are left out.
    pub fn open() -> KernelFiles {
        KernelFiles::open_at(
            Path::new("/proc/thread-self/net"),
            Path::new("/proc/sys/net"),
        )
    }

    /// Open the files under the given directories (tests point these at fixtures).
    pub fn open_at(proc_net: &Path, proc_sys_net: &Path) -> KernelFiles {
        let net = |name: &str| File::open(proc_net.join(name)).ok();
        let sys = |name: &str| File::open(proc_sys_net.join(name)).ok();
        KernelFiles {
            netstat: net("netstat"),
            snmp: net("snmp"),
            sockstat: net("sockstat"),
            ip_local_port_range: sys("ipv4/ip_local_port_range"),
            tcp_max_tw_buckets: sys("ipv4/tcp_max_tw_buckets"),
            tcp_max_orphans: sys("ipv4/tcp_max_orphans"),
            tcp_max_syn_backlog: sys("ipv4/tcp_max_syn_backlog"),
            somaxconn: sys("core/somaxconn"),
            tcp_syncookies: sys("ipv4/tcp_syncookies"),
            tcp_fin_timeout: sys("ipv4/tcp_fin_timeout"),
        }
    }

    /// Fill in `tcp_max_orphans` from the calling thread's namespace when the watched one
    /// has no such file. The limit is host-wide and its file exists only in the initial
    /// namespace, like the orphan count in sockstat it is compared with; call this outside
    /// the watched namespace.
    #[must_use]
    pub fn with_host_max_orphans(mut self) -> KernelFiles {
        if self.tcp_max_orphans.is_none() {
            self.tcp_max_orphans = File::open("/proc/sys/net/ipv4/tcp_max_orphans").ok();
        }
        self
    }

    /// Read the counters now. A file that cannot be read leaves its list empty.
    pub fn counters(&self) -> Counters {
        let mut buf = Vec::new();
        let mut text = |file: &Option<File>| -> String {
            match file {
                Some(f) if read_whole(f, &mut buf).is_ok() => {
                    String::from_utf8_lossy(&buf).into_owned()
                }
                _ => String::new(),
            }
        };
        Counters {
            tcp_ext: parse_netstat_section(&text(&self.netstat), "TcpExt"),
            tcp: parse_snmp_section(&text(&self.snmp), "Tcp"),
            sockstat: parse_sockstat_line(&text(&self.sockstat), "TCP"),
            read_at: Some(std::time::SystemTime::now()),
        }
    }

    /// Read the cheap readings the dashboard's dump policy compares (see
    /// [`Signal`]): the `Tcp:` values of
    /// `/proc/net/snmp` and `inuse` and `tw` of `/proc/net/sockstat`; `None` when either file
    /// cannot be read.
    pub fn signal(&self) -> Option<Signal> {
        let mut buf = Vec::new();
        read_whole(self.snmp.as_ref()?, &mut buf).ok()?;
        let tcp = parse_snmp_section(&String::from_utf8_lossy(&buf), "Tcp")
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        read_whole(self.sockstat.as_ref()?, &mut buf).ok()?;
        let sockstat = parse_sockstat_line(&String::from_utf8_lossy(&buf), "TCP");
        let value = |name: &str| sockstat.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        Some(Signal {
            tcp,
            inuse: value("inuse")?,
            tw: value("tw")?,
        })
    }

    /// Read the limits now. A file that cannot be read or parsed leaves its value `None`.
    pub fn limits(&self) -> Limits {
        let mut buf = Vec::new();
        let mut value = |file: &Option<File>| -> Option<u64> {
            let file = file.as_ref()?;
            read_whole(file, &mut buf).ok()?;
            parse_single(&buf)
        };
        Limits {
            tcp_max_tw_buckets: value(&self.tcp_max_tw_buckets),
            tcp_max_orphans: value(&self.tcp_max_orphans),
            tcp_max_syn_backlog: value(&self.tcp_max_syn_backlog),
            somaxconn: value(&self.somaxconn),
            tcp_syncookies: value(&self.tcp_syncookies),
            tcp_fin_timeout: value(&self.tcp_fin_timeout),
            ip_local_port_range: self.ip_local_port_range.as_ref().and_then(|file| {
                read_whole(file, &mut buf).ok()?;
                parse_port_range(&buf)
            }),
        }
    }
}

/// Pair the names and values of one section of a header-line/value-line file such as
/// `/proc/net/netstat` (`TcpExt: SyncookiesSent ...` then `TcpExt: 0 ...`).
///
/// Only the first header/value pair of lines for `section` counts; other sections
/// (`IpExt`, `MPTcpExt`) are ignored. A value that is not a number drops that one pair.
/// When the two lines disagree on the column count, only the columns both have are kept
/// (the kernel appends new counters at the end, and a cut-short read loses the end).
/// A missing section gives an empty list.
pub fn parse_netstat_section(text: &str, section: &str) -> Vec<(String, u64)> {
    parse_section(text, section)
}

/// Like [`parse_netstat_section`], for `/proc/net/snmp`, whose values can be negative
/// (`Tcp: MaxConn` is -1).
pub fn parse_snmp_section(text: &str, section: &str) -> Vec<(String, i64)> {
    parse_section(text, section)
}

fn parse_section<T: FromStr>(text: &str, section: &str) -> Vec<(String, T)> {
    let mut lines = text.lines().filter_map(|line| {
        let (name, rest) = line.split_once(':')?;
        (name == section).then_some(rest)
    });
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_ascii_whitespace()
        .zip(values.split_ascii_whitespace())
        .filter_map(|(name, value)| Some((name.to_owned(), value.parse().ok()?)))
        .collect()
}

/// Pair the names and values of one line of `/proc/net/sockstat`
/// (`TCP: inuse 5 orphan 0 tw 0 alloc 7 mem 1`). A value that is not a number drops that
/// pair; a name without a value is dropped; a missing line gives an empty list.
pub fn parse_sockstat_line(text: &str, protocol: &str) -> Vec<(String, u64)> {
    let Some(rest) = text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        (name == protocol).then_some(rest)
    }) else {
        return Vec::new();
    };
    let words: Vec<&str> = rest.split_ascii_whitespace().collect();
    words
        .chunks_exact(2)
        .filter_map(|pair| Some((pair[0].to_owned(), pair[1].parse().ok()?)))
        .collect()
}

/// The one number a sysctl file such as `tcp_max_tw_buckets` holds.
fn parse_single(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok()?.trim().parse().ok()
}

/// `ip_local_port_range`: two ports separated by a tab.
fn parse_port_range(raw: &[u8]) -> Option<(u16, u16)> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut ports = text.split_ascii_whitespace().map(str::parse::<u16>);
    match (ports.next(), ports.next(), ports.next()) {
        (Some(Ok(first)), Some(Ok(last)), None) => Some((first, last)),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
