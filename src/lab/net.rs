//! The lab's network: two namespaces, one veth pair, per-stage addresses, pinned
//! neighbour entries (the "wire" each stage can cut and mend) and per-namespace sysctls.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use socket2::{Domain, Protocol, Socket, Type};

use super::LabError;
use crate::collect::netns::{self, NETNS_RUN_DIR, NetnsTarget};
use crate::model::Family;

/// The veth end's name, the same in both namespaces (each namespace has its own names).
pub(crate) const DEV: &str = "lab0";
/// The IFB device in the monitored namespace that swallows packets to spoofed sources
/// (an IFB device frees what is routed to it and reports success).
const SPOOF_DEV: &str = "spoof0";
/// The monitored end's MAC.
const MONITORED_MAC: &str = "02:00:00:00:01:01";
/// The peer end's MAC.
const PEER_MAC: &str = "02:00:00:00:01:02";
/// A MAC nobody owns: frames sent to it are dropped by the receiving veth end.
const BOGUS_MAC: &str = "02:00:00:00:00:99";
/// Spoofed IPv4 sources come from 198.18.0.0/15 (RFC 2544 benchmarking range).
const SPOOF_V4_BASE: u32 = 0xc612_0000;
/// How many spoofed IPv4 sources the /15 holds (network and broadcast aside).
const SPOOF_V4_LEN: u32 = (1 << 17) - 2;
/// Stage slots: monitored 192.0.2.k and peer 192.0.2.(128+k), k in 1..=126.
const MAX_SLOT: u32 = 126;

/// Sysctls both namespaces get: exact, long-lived states.
const SYSCTLS: &[(&str, &str)] = &[
    // A stray RST must not end TIME_WAIT early.
    ("ipv4/tcp_rfc1337", "1"),
    // Request sockets, not cookies: SYN_RECV counts stay exact.
    ("ipv4/tcp_syncookies", "0"),
    ("ipv4/tcp_max_syn_backlog", "262144"),
    ("core/somaxconn", "65535"),
    // SYN, SYN-ACK and FIN retransmissions go on for hours instead of ending the socket.
    ("ipv4/tcp_syn_retries", "127"),
    ("ipv4/tcp_synack_retries", "255"),
    ("ipv4/tcp_retries2", "100"),
    ("ipv4/tcp_orphan_retries", "100"),
    ("ipv4/tcp_fin_timeout", "3600"),
    // Spoofed sources arrive on the veth: no reverse-path filtering.
    ("ipv4/conf/all/rp_filter", "0"),
    ("ipv4/conf/default/rp_filter", "0"),
    ("ipv4/conf/lab0/rp_filter", "0"),
];

/// Sysctls set just before the namespaces are deleted: whatever is left as an orphan gives
/// up after one retry instead of hours of them.
const TEARDOWN_SYSCTLS: &[(&str, &str)] = &[
    ("ipv4/tcp_syn_retries", "1"),
    ("ipv4/tcp_synack_retries", "1"),
    ("ipv4/tcp_retries2", "1"),
    ("ipv4/tcp_orphan_retries", "1"),
    ("ipv4/tcp_fin_timeout", "1"),
];

static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// Which namespace a neighbour entry or socket lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The monitored namespace.
    Monitored,
    /// The peer namespace.
    Peer,
}

/// One stage's addresses: one on each side, in one family.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pair {
    pub(crate) monitored: IpAddr,
    pub(crate) peer: IpAddr,
}

/// The two namespaces and what was allocated in them.
#[derive(Debug)]
pub(crate) struct LabNet {
    monitored: String,
    peer: String,
    created: Vec<String>,
    next_slot: u32,
    next_spoof: u32,
}

impl LabNet {
    /// Create the namespaces (`sslab-<pid>-<n>-m` and `-p`), the veth pair and the
    /// sysctls. On failure, whatever was created is deleted.
    pub(crate) fn create() -> Result<LabNet, LabError> {
        let base = format!(
            "sslab-{}-{}",
            std::process::id(),
            NEXT_LAB.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = LabNet {
            monitored: format!("{base}-m"),
            peer: format!("{base}-p"),
            created: Vec::new(),
            next_slot: 1,
            next_spoof: 0,
        };
        sweep_stale();
        for name in [net.monitored.clone(), net.peer.clone()] {
            // A namespace with our pid in its name can only be a leftover of a crashed
            // process that had the same pid.
            if Path::new(NETNS_RUN_DIR).join(&name).exists() {
                run(Command::new("ip").args(["netns", "del", &name]))?;
            }
            run(Command::new("ip").args(["netns", "add", &name]))?;
            net.created.push(name);
        }
        run(Command::new("ip").args([
            "-n",
            &net.monitored,
            "link",
            "add",
            DEV,
            "address",
            MONITORED_MAC,
            "type",
            "veth",
            "peer",
            "name",
            DEV,
            "address",
            PEER_MAC,
            "netns",
            &net.peer,
        ]))?;
        for side in [Side::Monitored, Side::Peer] {
            net.sysctls(side)?;
            net.batch(
                side,
                &["link set lo up".to_owned(), format!("link set {DEV} up")],
            )?;
        }
        // Answers to spoofed sources go to an IFB device, which swallows them and reports
        // success. Through the veth they would be dropped in bursts (the receiving CPU's
        // backlog holds 1000 packets, `net.core.netdev_max_backlog`, a host-wide sysctl) once
        // a thousand request sockets retransmit their SYN-ACKs on the same tick, and a
        // request socket whose SYN-ACK retransmission fails locally is deleted at once.
        net.batch(
            Side::Monitored,
            &[
                format!("link add {SPOOF_DEV} type ifb"),
                format!("link set {SPOOF_DEV} up"),
                format!("route add 198.18.0.0/15 dev {SPOOF_DEV}"),
                format!("route add 2001:db8:0:5::/64 dev {SPOOF_DEV}"),
            ],
        )?;
        Ok(net)
    }

    /// The monitored namespace's name.
    pub(crate) fn monitored(&self) -> &str {
        &self.monitored
    }

    /// The peer namespace's name.
    pub(crate) fn peer(&self) -> &str {
        &self.peer
    }

    fn name(&self, side: Side) -> &str {
        match side {
            Side::Monitored => &self.monitored,
            Side::Peer => &self.peer,
        }
    }

    fn sysctls(&self, side: Side) -> Result<(), LabError> {
        self.write_sysctls(side, SYSCTLS)
    }

    fn write_sysctls(&self, side: Side, sysctls: &[(&str, &str)]) -> Result<(), LabError> {
        let netns = self.name(side).to_owned();
        netns::run_in(&NetnsTarget::Named(netns.clone()), || {
            for (key, value) in sysctls {
                let path = format!("/proc/sys/net/{key}");
                std::fs::write(&path, value).map_err(|source| LabError::Sysctl {
                    netns: netns.clone(),
                    path,
                    value: (*value).to_owned(),
                    error: source,
                })?;
            }
            Ok(())
        })?
    }

    /// Add a fresh pair of addresses for one stage, with both neighbour entries pinned to
    /// the real MACs (no ARP or neighbour discovery ever runs in the lab).
    pub(crate) fn alloc(&mut self, family: Family) -> Result<Pair, LabError> {
        let k = self.next_slot;
        if k > MAX_SLOT {
            return Err(LabError::OutOfAddresses(k));
        }
        self.next_slot += 1;
        let (pair, prefix, flags) = match family {
            Family::Inet => (
                Pair {
                    monitored: Ipv4Addr::new(192, 0, 2, k as u8).into(),
                    peer: Ipv4Addr::new(192, 0, 2, 128 + k as u8).into(),
                },
                "/24",
                "",
            ),
            Family::Inet6 => (
                Pair {
                    monitored: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, k as u16).into(),
                    peer: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 2, k as u16).into(),
                },
                "/64",
                " nodad",
            ),
        };
        for (side, own, other, mac) in [
            (Side::Monitored, pair.monitored, pair.peer, PEER_MAC),
            (Side::Peer, pair.peer, pair.monitored, MONITORED_MAC),
        ] {
            self.batch(
                side,
                &[
                    format!("addr add {own}{prefix} dev {DEV}{flags}"),
                    neigh(other, mac),
                ],
            )?;
        }
        Ok(pair)
    }

    /// `count` fresh spoofed source addresses (never reused within the lab). The monitored
    /// namespace routes them to an IFB device: SYN-ACKs to them vanish, and no neighbour
    /// resolution fails into an ICMP error that would drop the request sockets.
    pub(crate) fn spoofed_sources(&mut self, family: Family, count: usize) -> Vec<IpAddr> {
        let first = self.next_spoof;
        let sources: Vec<IpAddr> = (first..first + count as u32)
            .map(|i| match family {
                Family::Inet => Ipv4Addr::from(SPOOF_V4_BASE + 1 + i % SPOOF_V4_LEN).into(),
                Family::Inet6 => {
                    let host = i + 1;
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 5, 0, 0, (host >> 16) as u16, host as u16)
                        .into()
                }
            })
            .collect();
        self.next_spoof += count as u32;
        sources
    }

    /// Cut the wire from `side` toward `addr` (an address of the other side): frames go
    /// to a MAC nobody owns.
    pub(crate) fn cut(&self, side: Side, addr: IpAddr) -> Result<(), LabError> {
        self.batch(side, &[neigh(addr, BOGUS_MAC)])
    }

    /// Mend what [`LabNet::cut`] cut.
    pub(crate) fn mend(&self, side: Side, addr: IpAddr) -> Result<(), LabError> {
        let mac = match side {
            Side::Monitored => PEER_MAC,
            Side::Peer => MONITORED_MAC,
        };
        self.batch(side, &[neigh(addr, mac)])
    }

    /// `count` TCP sockets of `family` created in `side`'s namespace (every later call on
    /// them acts there, whatever thread makes it).
    pub(crate) fn tcp_sockets(
        &self,
        side: Side,
        family: Family,
        count: usize,
    ) -> Result<Vec<Socket>, LabError> {
        let netns = self.name(side).to_owned();
        netns::run_in(&NetnsTarget::Named(netns.clone()), move || {
            (0..count)
                .map(|_| Socket::new(domain(family), Type::STREAM, Some(Protocol::TCP)))
                .collect::<std::io::Result<Vec<Socket>>>()
                .map_err(|source| LabError::Socket {
                    what: format!("netns {netns}: creating {count} {} sockets", family.name()),
                    error: source,
                })
        })?
    }

    /// A raw socket in `side`'s namespace whose packets carry their own IP header.
    pub(crate) fn raw_socket(&self, side: Side, family: Family) -> Result<Socket, LabError> {
        let netns = self.name(side).to_owned();
        netns::run_in(&NetnsTarget::Named(netns.clone()), move || {
            Socket::new(
                domain(family),
                Type::RAW,
                Some(Protocol::from(libc::IPPROTO_RAW)),
            )
            .map_err(|source| LabError::Socket {
                what: format!("netns {netns}: creating a raw {} socket", family.name()),
                error: source,
            })
        })?
    }

    /// Run `ip` batch commands in `side`'s namespace.
    fn batch(&self, side: Side, lines: &[String]) -> Result<(), LabError> {
        let netns = self.name(side);
        let mut child = Command::new("ip")
            .args(["-n", netns, "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| LabError::Spawn {
                program: "ip".to_owned(),
                error,
            })?;
        let script = lines.join("\n") + "\n";
        if let Some(mut stdin) = child.stdin.take() {
            // A write error means ip exited early: its status and stderr below say why.
            let _ = stdin.write_all(script.as_bytes());
        }
        let output = child.wait_with_output().map_err(|error| LabError::Spawn {
            program: "ip".to_owned(),
            error,
        })?;
        if output.status.success() {
            return Ok(());
        }
        Err(LabError::Command {
            command: format!("ip -n {netns} -batch - <<< {:?}", lines.join("; ")),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    /// Delete both namespaces (idempotent). Their sockets go with them once closed.
    ///
    /// A socket closed mid-handshake or mid-close lives on as an orphan in the deleted
    /// namespace, retrying by that namespace's (deliberately huge) retry sysctls: hours of
    /// kernel memory per lab. Shortening them first lets such orphans die within a minute
    /// or two.
    pub(crate) fn delete(&mut self) {
        for side in [Side::Monitored, Side::Peer] {
            if self.created.iter().any(|n| n == self.name(side)) {
                let _ = self.write_sysctls(side, TEARDOWN_SYSCTLS);
            }
        }
        for name in self.created.drain(..) {
            // Nothing to do about a failure here but leave the name behind for
            // `ip netns list` to show; the next lab of the same pid deletes it.
            let _ = run(Command::new("ip").args(["netns", "del", &name]));
        }
    }
}

impl Drop for LabNet {
    fn drop(&mut self) {
        self.delete();
    }
}

/// Delete lab namespaces left by processes that died without dropping their lab (killed
/// tests): `sslab-<pid>-…` names whose pid is gone. A live process's namespaces are never
/// touched, so parallel labs are safe.
fn sweep_stale() {
    for name in netns::list_named() {
        let Some(pid) = name
            .strip_prefix("sslab-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            // Another lab may sweep the same name at the same moment: either one wins.
            let _ = run(Command::new("ip").args(["netns", "del", &name]));
        }
    }
}

/// The socket2 domain of a family.
pub(crate) fn domain(family: Family) -> Domain {
    match family {
        Family::Inet => Domain::IPV4,
        Family::Inet6 => Domain::IPV6,
    }
}

fn neigh(addr: IpAddr, mac: &str) -> String {
    format!("neigh replace {addr} lladdr {mac} dev {DEV} nud permanent")
}

/// Run a command; its stderr becomes the error.
pub(crate) fn run(command: &mut Command) -> Result<(), LabError> {
    let line = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|error| LabError::Spawn {
            program: command.get_program().to_string_lossy().into_owned(),
            error,
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        command: line,
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}
