//! The NETLINK_SOCK_DIAG socket: sends one dump request per address family and feeds the
//! answer, datagram by datagram, through the parser.

use std::io;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::{Socket as NlSocket, SocketAddr as NlAddr, protocols::NETLINK_SOCK_DIAG};

use super::parse::{self, DatagramStats, ParseError, Progress};
use crate::model::{Family, Socket, StateSet, TcpState};

/// `TCP_BOUND_INACTIVE`: bound-but-inactive sockets are dumped only when this bit is asked for.
const TCPF_BOUND_INACTIVE: u32 = 1 << 13;
/// The kernel packs at most ~32 KiB into one dump datagram; twice that leaves room.
const RECV_BUFFER: usize = 64 * 1024;

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
    buf: Vec<u8>,
    tcp_info: bool,
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
        let mut socket = NlSocket::new(NETLINK_SOCK_DIAG).map_err(DumpError::Open)?;
        socket.bind_auto().map_err(DumpError::Open)?;
        socket
            .connect(&NlAddr::new(0, 0))
            .map_err(DumpError::Open)?;
        Ok(SockDiag {
            socket,
            seq: 0,
            buf: vec![0; RECV_BUFFER],
            tcp_info: true,
        })
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
        on_socket: &mut dyn FnMut(Socket),
    ) -> Result<DumpStats, DumpError> {
        let mut stats = DumpStats::default();
        self.each_datagram(family, states, &mut |datagram, seq| {
            let (progress, d) = parse::parse_datagram(datagram, seq, on_socket)?;
            stats.add(d);
            Ok(progress)
        })?;
        Ok(stats)
    }

    /// Dump like [`SockDiag::dump`] but hand back the raw datagrams (for recording captures).
    pub fn dump_raw(
        &mut self,
        family: Family,
        states: StateSet,
    ) -> Result<Vec<Vec<u8>>, DumpError> {
        let mut datagrams = Vec::new();
        self.each_datagram(family, states, &mut |datagram, seq| {
            datagrams.push(datagram.to_vec());
            Ok(parse::parse_datagram(datagram, seq, &mut |_| {})?.0)
        })?;
        Ok(datagrams)
    }

    /// Send one dump request and feed each datagram of the answer to `each` until it says
    /// the dump is done.
    fn each_datagram(
        &mut self,
        family: Family,
        states: StateSet,
        each: &mut DatagramHandler<'_>,
    ) -> Result<(), DumpError> {
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        let mut bits = states.bits();
        if states.contains(TcpState::Close) {
            bits |= TCPF_BOUND_INACTIVE;
        }
        self.socket
            .send(&request_bytes(family, bits, self.tcp_info, seq), 0)
            .map_err(|source| DumpError::Io { op: "send", source })?;
        loop {
            let n = match self.socket.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(DumpError::Io { op: "recv", source }),
            };
            if n > self.buf.len() {
                return Err(DumpError::Truncated(n));
            }
            let progress = each(&self.buf[..n], seq).map_err(|source| DumpError::Parse {
                family: family.name(),
                source,
            })?;
            if progress == Progress::Done {
                return Ok(());
            }
        }
    }
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
