//! Fallback source: `/proc/net/tcp` and `/proc/net/tcp6`, for kernels without sock_diag.
//! No cookies, no tcp_info, no bound-inactive sockets.
//!
//! Differences from sock_diag that callers see: a LISTEN socket's `send_q` is 0 (the file
//! prints `write_seq - snd_una`, not the backlog; `Snapshot::backlog_known` says so to the
//! outputs and the rules), and timer expiries have 10 ms resolution
//! (the file prints clock ticks, sock_diag milliseconds).

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use super::procfile::for_each_line;
use crate::model::{Socket, TcpState, Timer, TimerKind};

/// `USER_HZ` on every Linux architecture sockscope runs on; used when sysconf cannot say.
const DEFAULT_CLOCK_TICKS: u64 = 100;

/// Open handles on one namespace's /proc/net/tcp and tcp6 (the default has none and
/// reads nothing).
#[derive(Debug, Default)]
pub struct ProcNetFiles {
    tcp: Option<File>,
    tcp6: Option<File>,
    clock_ticks: u64,
}

impl ProcNetFiles {
    /// Open the calling thread's namespace's tables (`/proc/thread-self/net/tcp{,6}`).
    pub fn open() -> std::io::Result<ProcNetFiles> {
        ProcNetFiles::open_at(Path::new("/proc/thread-self/net"))
    }

    /// Open `tcp` and `tcp6` under `dir` (tests point this at fixtures). `tcp` must exist;
    /// `tcp6` is skipped when missing (kernel without IPv6).
    pub fn open_at(dir: &Path) -> std::io::Result<ProcNetFiles> {
        Ok(ProcNetFiles {
            tcp: Some(File::open(dir.join("tcp"))?),
            tcp6: File::open(dir.join("tcp6")).ok(),
            clock_ticks: rustix::param::clock_ticks_per_second(),
        })
    }

    /// Read both tables, appending every socket to `out`. Lines that do not parse are
    /// skipped.
    pub fn read(&self, out: &mut Vec<Socket>) -> std::io::Result<()> {
        let ticks = if self.clock_ticks == 0 {
            DEFAULT_CLOCK_TICKS
        } else {
            self.clock_ticks
        };
        for file in self.tcp.iter().chain(self.tcp6.as_ref()) {
            for_each_line(file, |line| {
                if let Some(socket) = std::str::from_utf8(line)
                    .ok()
                    .and_then(|l| parse_line(l, ticks))
                {
                    out.push(socket);
                }
            })?;
        }
        Ok(())
    }
}

/// Parse one line of `/proc/net/tcp` or `/proc/net/tcp6` (the header and anything
/// malformed give `None`). `clock_ticks` is `USER_HZ`: the unit of the `tm->when` column.
///
/// Columns: `sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...`,
/// where `timeout` is the count of unanswered keepalive or zero-window probes.
pub fn parse_line(line: &str, clock_ticks: u64) -> Option<Socket> {
    let mut fields = line.split_ascii_whitespace();
    let _slot = fields.next()?.strip_suffix(':')?;
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = TcpState::from_kernel(u8::from_str_radix(fields.next()?, 16).ok()?)?;
    let (tx_queue, rx_queue) = hex_pair(fields.next()?)?;
    let (timer_active, when) = fields.next()?.split_once(':')?;
    let timer_active = u8::from_str_radix(timer_active, 16).ok()?;
    let when_ticks = u64::from_str_radix(when, 16).ok()?;
    let retransmits = u32::from_str_radix(fields.next()?, 16).ok()?;
    let uid: u32 = fields.next()?.parse().ok()?;
    let probes: u32 = fields.next()?.parse().ok()?;
    let inode: u32 = fields.next()?.parse().ok()?;
    if local.is_ipv4() != remote.is_ipv4() {
        return None;
    }

    let kind = TimerKind::from_kernel(timer_active);
    let mut socket = Socket::new(state, local, remote);
    // What sock_diag reports beside each timer: retransmissions for the retransmit timer,
    // unanswered probes for keepalive and zero-window probes, nothing for TIME_WAIT.
    let count = match kind {
        TimerKind::Retransmit | TimerKind::Off => retransmits,
        TimerKind::Keepalive | TimerKind::Probe => probes,
        TimerKind::TimeWait => 0,
    };
    socket.timer = Timer {
        kind,
        expires_ms: if kind == TimerKind::Off {
            0
        } else {
            u32::try_from(when_ticks.saturating_mul(1000) / clock_ticks.max(1)).unwrap_or(u32::MAX)
        },
        retransmits: u8::try_from(count).unwrap_or(u8::MAX),
    };
    socket.send_q = tx_queue;
    socket.recv_q = rx_queue;
    socket.uid = uid;
    socket.inode = inode;
    Some(socket)
}

/// `0100007F:0050` (IPv4: one u32 as the kernel holds it in memory, printed in host
/// order) or 32 hex digits (IPv6: four such u32 words), then the port in plain hex.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (addr, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(addr)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_exact_mut(4).enumerate() {
                chunk.copy_from_slice(&word(addr.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The four bytes of one address word: the kernel printed the u32 it read from memory, so
/// its native-endian bytes are the bytes as they sit in the packet.
fn word(hex: &str) -> Option<[u8; 4]> {
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
}

/// `00000000:0000001A` → (0, 26).
fn hex_pair(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once(':')?;
    Some((
        u32::from_str_radix(a, 16).ok()?,
        u32::from_str_radix(b, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests;
