//! The NETLINK_SOCK_DIAG socket: sends one dump request per address family and feeds the
//! answer, datagram by datagram, through the parser.

mod receiver;

pub(super) use receiver::recv_one;

use std::io;
use std::sync::mpsc;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::{Socket as NlSocket, SocketAddr as NlAddr, protocols::NETLINK_SOCK_DIAG};

use super::parse::{self, DatagramStats, ParseError, Progress};
use crate::model::{Family, StateSet, TcpState};

/// `TCP_BOUND_INACTIVE`: bound-but-inactive sockets are dumped only when this bit is asked for.
const TCPF_BOUND_INACTIVE: u32 = 1 << 13;
/// The kernel packs at most ~32 KiB into one dump datagram; twice that leaves room.
pub(super) const RECV_BUFFER: usize = 64 * 1024;

/// Why a dump failed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The socket could not be opened (no netlink, or sock_diag not built in).
    #[error("cannot open a NETLINK_SOCK_DIAG socket: {0}")]
    Open(io::Error),
    /// Sending or receiving failed.
    #[error("netlink {op} failed: {source}")]
    Io {
        /// `send` or `recv`.
        op: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// A datagram was larger than the receive buffer.
    #[error("netlink datagram of {0} bytes did not fit the receive buffer")]
    Truncated(usize),
    /// The answer stopped before `NLMSG_DONE`.
    #[error("the kernel's answer ended without NLMSG_DONE; try again")]
    Unfinished,
    /// The answer could not be parsed, or the kernel reported an error.
    #[error("{family}: {source}")]
    Parse {
        /// `inet` or `inet6`.
        family: &'static str,
        /// The parse error.
        source: ParseError,
    },
}

impl DumpError {
    /// Whether this error means sock_diag for TCP is unavailable on this kernel (the
    /// /proc/net/tcp fallback applies), rather than a passing failure.
    pub fn means_unsupported(&self) -> bool {
        match self {
            DumpError::Open(_) => true,
            DumpError::Parse { source, .. } => matches!(
                source.errno(),
                Some(libc::ENOENT | libc::EPROTONOSUPPORT | libc::EOPNOTSUPP | libc::EINVAL)
            ),
            _ => false,
        }
    }
}

/// What a whole dump saw besides sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// Socket messages received (before de-duplication).
    pub messages: usize,
    /// Datagrams received.
    pub datagrams: usize,
    /// Sockets skipped for a state number this version does not know.
    pub unknown_states: usize,
    /// Whether the kernel flagged the dump as interrupted.
    pub interrupted: bool,
}

impl DumpStats {
    fn add(&mut self, d: DatagramStats) {
        self.messages += d.sockets;
        self.datagrams += 1;
        self.unknown_states += d.unknown_states;
        self.interrupted |= d.interrupted;
    }
}

/// Called with each datagram of a dump and the request's sequence number.
type DatagramHandler<'a> = dyn FnMut(&[u8], u32) -> Result<Progress, ParseError> + 'a;

/// An open NETLINK_SOCK_DIAG socket, bound to the namespace it was created in.
pub struct SockDiag {
    socket: NlSocket,
    seq: u32,
    tcp_info: bool,
    /// Whether the kernel takes the one-walk request for both families (unknown until tried).
    both_in_one: Option<bool>,
    /// A second socket, opened beside the first in the same namespace, that asks for the
    /// bound-inactive sockets while the first walks the established table (see
    /// [`SockDiag::open_split`]).
    bound_walker: Option<NlSocket>,
}

impl std::fmt::Debug for SockDiag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockDiag")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl SockDiag {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<SockDiag, DumpError> {
        Ok(SockDiag {
            socket: open_socket()?,
            seq: 0,
            tcp_info: true,
            both_in_one: None,
            bound_walker: None,
        })
    }

    /// Like [`SockDiag::open`], plus a second socket in the same namespace for the
    /// bound-inactive sockets, when the kernel keeps them apart (Linux 6.8 and later).
    ///
    /// The kernel finds bound-inactive sockets by walking its bind table, in which every
    /// bound socket sits (each connected client and each accepted socket as well), before it
    /// walks the established table: at a million ESTABLISHED sockets that walk costs about
    /// 0.2 s and finds none. Asked for on a socket of its own, it runs on the other core
    /// while the established table is walked, and a dump that includes CLOSE takes the
    /// established walk's time alone. One descriptor more per namespace; costs nothing
    /// when CLOSE is not asked for.
    pub fn open_split() -> Result<SockDiag, DumpError> {
        let mut diag = SockDiag::open()?;
        if kernel_keeps_bound_inactive_apart() {
            diag.bound_walker = Some(open_socket()?);
        }
        Ok(diag)
    }

    /// Ask the kernel for `tcp_info` with each full socket (the default), or not. Without
    /// it a dump costs the kernel about a third less (no socket lock, no `tcp_get_info`)
    /// and arrives in a third of the bytes.
    pub fn set_tcp_info(&mut self, on: bool) {
        self.tcp_info = on;
    }

    /// Dump every TCP socket of `family` in `states` (bound-inactive sockets are included
    /// when CLOSE is asked for), with `tcp_info` unless [`SockDiag::set_tcp_info`] turned
    /// it off, calling `on_socket` for each.
    pub fn dump(
        &mut self,
        family: Family,
        states: StateSet,
        on_socket: &mut parse::OnSocket<'_>,
    ) -> Result<DumpStats, DumpError> {
        let mut stats = DumpStats::default();
        self.each_datagram(DumpRequest::Family(family), states, &mut |datagram, seq| {
            let (progress, d) = parse::parse_datagram(datagram, seq, on_socket)?;
            stats.add(d);
            Ok(progress)
        })?;
        Ok(stats)
    }

    /// Dump every TCP socket of both families in `states`, like [`SockDiag::dump`] for
    /// AF_INET then AF_INET6 — but in one walk of the kernel's tables where the kernel
    /// allows it. A per-family request walks every socket table whole and skips the other
    /// family's sockets, so two requests walk everything twice; the older
    /// `TCPDIAG_GETSOCK` request (`inet_diag_req`, which the kernel serves with family
    /// AF_UNSPEC) walks once: a third less kernel time at a million sockets. A kernel that
    /// refuses it gets the two per-family requests, now and for every later dump.
    pub fn dump_all(
        &mut self,
        states: StateSet,
        on_socket: &mut parse::OnSocket<'_>,
    ) -> Result<DumpStats, DumpError> {
        let mut stats = DumpStats::default();
        if self.both_in_one != Some(false) {
            let result = self.each_datagram(DumpRequest::Both, states, &mut |datagram, seq| {
                let (progress, d) = parse::parse_datagram(datagram, seq, on_socket)?;
                stats.add(d);
                Ok(progress)
            });
            match result {
                Err(DumpError::Parse {
                    source: ParseError::Refused(_),
                    ..
                }) if stats.datagrams == 0 => self.both_in_one = Some(false),
                other => {
                    other?;
                    self.both_in_one = Some(true);
                    return Ok(stats);
                }
            }
        }
        for family in [Family::Inet, Family::Inet6] {
            let d = self.dump(family, states, on_socket)?;
            stats.messages += d.messages;
            stats.datagrams += d.datagrams;
            stats.unknown_states += d.unknown_states;
            stats.interrupted |= d.interrupted;
        }
        Ok(stats)
    }

    /// Dump like [`SockDiag::dump`] but hand back the raw datagrams (for recording captures).
    pub fn dump_raw(
        &mut self,
        family: Family,
        states: StateSet,
    ) -> Result<Vec<Vec<u8>>, DumpError> {
        let mut datagrams = Vec::new();
        self.each_datagram(DumpRequest::Family(family), states, &mut |datagram, seq| {
            datagrams.push(datagram.to_vec());
            Ok(parse::parse_datagram(datagram, seq, &mut |_, _, _| {})?.0)
        })?;
        Ok(datagrams)
    }

    /// Send one dump request and feed each datagram of the answer to `each` until it says
    /// the dump is done. Datagrams are received on a thread of their own (see
    /// [`receiver`]) and handed to `each` on this one.
    fn each_datagram(
        &mut self,
        request: DumpRequest,
        states: StateSet,
        each: &mut DatagramHandler<'_>,
    ) -> Result<(), DumpError> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let tcp_info = self.tcp_info;
        let mut bits = states.bits();
        // Bound-inactive sockets come back as CLOSE: asked for with it, on the second socket
        // when there is one.
        let walker = self
            .bound_walker
            .as_ref()
            .filter(|_| states.contains(TcpState::Close));
        if states.contains(TcpState::Close) && walker.is_none() {
            bits |= TCPF_BOUND_INACTIVE;
        }
        let socket = &self.socket;
        socket
            .send(&request.bytes(bits, tcp_info, seq), 0)
            .map_err(|source| DumpError::Io { op: "send", source })?;
        let mut walker_failed = false;
        let result = std::thread::scope(|scope| {
            let bound = walker.map(|walker| {
                let bytes = request.bytes(TCPF_BOUND_INACTIVE, tcp_info, seq);
                scope.spawn(move || receiver::receive_all(walker, &bytes))
            });
            let (full_tx, full_rx) = mpsc::sync_channel(receiver::IN_FLIGHT);
            let (empty_tx, empty_rx) = mpsc::channel();
            scope.spawn(move || receiver::receive(socket, &full_tx, &empty_rx));
            let mut outcome = None;
            let mut feed = |datagram: &[u8], outcome: &mut Option<Result<(), DumpError>>| {
                if outcome.is_none() {
                    match each(datagram, seq) {
                        Ok(Progress::Done) => *outcome = Some(Ok(())),
                        Ok(Progress::More) => {}
                        Err(source) => {
                            *outcome = Some(Err(DumpError::Parse {
                                family: request.name(),
                                source,
                            }));
                        }
                    }
                }
            };
            // Runs until the receiver is done, also after an error here: it drains the answer.
            for received in full_rx {
                match received {
                    Ok(batch) => {
                        for datagram in batch.datagrams() {
                            feed(datagram, &mut outcome);
                        }
                        let _ = empty_tx.send(batch);
                    }
                    Err(e) => {
                        outcome.get_or_insert(Err(e));
                    }
                }
            }
            let outcome = outcome.unwrap_or(Err(DumpError::Unfinished));
            // The bound-inactive answer (always drained, so that the walker's next dump
            // starts clean), parsed after the established one has ended.
            let Some(bound) = bound else {
                return outcome;
            };
            let bound = bound.join().unwrap_or(Err(DumpError::Unfinished));
            walker_failed = bound.is_err();
            outcome?;
            let mut outcome = None;
            for datagram in bound?.datagrams() {
                feed(datagram, &mut outcome);
            }
            outcome.unwrap_or(Err(DumpError::Unfinished))
        });
        if walker_failed {
            // Its answer may not have been read to the end: later dumps ask the one socket.
            self.bound_walker = None;
        }
        result
    }
}

/// Open a NETLINK_SOCK_DIAG socket in the calling thread's namespace.
pub(super) fn open_socket() -> Result<NlSocket, DumpError> {
    let mut socket = NlSocket::new(NETLINK_SOCK_DIAG).map_err(DumpError::Open)?;
    socket.bind_auto().map_err(DumpError::Open)?;
    socket
        .connect(&NlAddr::new(0, 0))
        .map_err(DumpError::Open)?;
    Ok(socket)
}

/// The first release whose sock_diag reports bound-inactive sockets (kernel commit
/// 91051f003948, "tcp: Dump bound-only sockets in inet_diag").
const BOUND_INACTIVE_SINCE: (u32, u32) = (6, 8);

/// Whether the running kernel walks its bind table for bound-inactive sockets — a walk of
/// its own, which a request for bit 13 alone gets without the established table. An older
/// kernel knows no bit 13: it would walk the established table for nothing, so the split
/// is not made there (a kernel with the feature backported under an older number does
/// without the split: one request, as before).
fn kernel_keeps_bound_inactive_apart() -> bool {
    super::kernel::release()
        .and_then(|release| release_at_least(&release, BOUND_INACTIVE_SINCE))
        .unwrap_or(false)
}

/// Whether a kernel release string (`6.18.44-fc-v1098`) is at least `major.minor`, or
/// `None` when it does not start with two numbers.
fn release_at_least(release: &str, (major, minor): (u32, u32)) -> Option<bool> {
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .map(str::parse::<u32>);
    let found = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    Some(found >= (major, minor))
}

/// What one dump request asks for.
#[derive(Clone, Copy, Debug)]
enum DumpRequest {
    /// One family (`SOCK_DIAG_BY_FAMILY`, `inet_diag_req_v2`).
    Family(Family),
    /// Both families in one walk (`TCPDIAG_GETSOCK`, `inet_diag_req`).
    Both,
}

impl DumpRequest {
    fn name(self) -> &'static str {
        match self {
            DumpRequest::Family(family) => family.name(),
            DumpRequest::Both => "inet and inet6",
        }
    }

    fn bytes(self, state_bits: u32, tcp_info: bool, seq: u32) -> Vec<u8> {
        match self {
            DumpRequest::Family(family) => request_bytes(family, state_bits, tcp_info, seq),
            DumpRequest::Both => both_families_request_bytes(state_bits, tcp_info, seq),
        }
    }
}

/// The bytes of a `TCPDIAG_GETSOCK` dump request: `struct inet_diag_req` (family, source
/// and destination prefix lengths, extensions, a zero `inet_diag_sockid`, states, dbs).
pub fn both_families_request_bytes(state_bits: u32, tcp_info: bool, seq: u32) -> Vec<u8> {
    const SOCKID_LEN: usize = 48;
    let body_len = 4 + SOCKID_LEN + 8;
    let mut bytes = Vec::with_capacity(parse::NLMSG_HDRLEN + body_len);
    bytes.extend_from_slice(&((parse::NLMSG_HDRLEN + body_len) as u32).to_ne_bytes());
    bytes.extend_from_slice(&parse::TCPDIAG_GETSOCK.to_ne_bytes());
    bytes.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    bytes.extend_from_slice(&seq.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    // idiag_ext bit n asks for attribute n + 1: bit 1 is INET_DIAG_INFO.
    let extensions: u8 = if tcp_info {
        1 << (parse::INET_DIAG_INFO - 1)
    } else {
        0
    };
    bytes.extend_from_slice(&[0, 0, 0, extensions]);
    bytes.resize(bytes.len() + SOCKID_LEN, 0);
    bytes.extend_from_slice(&state_bits.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes
}

/// The bytes of one `SOCK_DIAG_BY_FAMILY` dump request, asking for `tcp_info` or not.
pub fn request_bytes(family: Family, state_bits: u32, tcp_info: bool, seq: u32) -> Vec<u8> {
    let (af, socket_id) = match family {
        Family::Inet => (AF_INET, SocketId::new_v4()),
        Family::Inet6 => (AF_INET6, SocketId::new_v6()),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    header.sequence_number = seq;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: af,
            protocol: IPPROTO_TCP,
            extensions: if tcp_info {
                ExtensionFlags::INFO
            } else {
                ExtensionFlags::empty()
            },
            // The crate names bits 1–11 only; keep the others (bound-inactive) as given.
            states: StateFlags::from_bits_retain(state_bits),
            socket_id,
        })
        .into(),
    );
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_both_families_request_is_an_inet_diag_req_for_tcpdiag_getsock() {
        let bits = StateSet::ALL.bits() | TCPF_BOUND_INACTIVE;
        let bytes = both_families_request_bytes(bits, true, 7);
        assert_eq!(bytes.len(), 16 + 60);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()), 76);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 18);
        assert_eq!(
            u16::from_ne_bytes(bytes[6..8].try_into().unwrap()),
            NLM_F_REQUEST | NLM_F_DUMP
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(
            bytes[16..20],
            [0, 0, 0, 0b10],
            "family any, INET_DIAG_INFO asked for"
        );
        assert!(bytes[20..68].iter().all(|b| *b == 0), "no socket id");
        assert_eq!(
            u32::from_ne_bytes(bytes[68..72].try_into().unwrap()),
            0x2ffe
        );
        assert_eq!(both_families_request_bytes(bits, false, 7)[19], 0);
    }

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        let since = BOUND_INACTIVE_SINCE;
        assert_eq!(release_at_least("6.18.44-fc-v1098", since), Some(true));
        assert_eq!(release_at_least("6.8.0", since), Some(true));
        assert_eq!(release_at_least("6.7.12-generic", since), Some(false));
        assert_eq!(release_at_least("6.5.0", since), Some(false));
        assert_eq!(release_at_least("5.15.0-91-generic", since), Some(false));
        assert_eq!(release_at_least("10.0", since), Some(true));
        assert_eq!(release_at_least("garbage", since), None);
        assert_eq!(release_at_least("6", since), None);
    }
}
