//! The sock_diag message parser: netlink datagrams in, [`Socket`] records out.
//!
//! Pure and allocation-free: it reads a byte slice, checks every length before using it,
//! and hands each socket to a callback. Truncated, oversized or garbage input is an error,
//! never a panic. `tcp_info` is read field by field, only as far as its attribute reaches,
//! because the struct grows with kernel versions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::model::{Family, Socket, TcpInfo, TcpState, Timer, TimerKind};

/// `NLMSG_NOOP`.
pub const NLMSG_NOOP: u16 = 1;
/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_OVERRUN`.
pub const NLMSG_OVERRUN: u16 = 4;
/// `SOCK_DIAG_BY_FAMILY`: the message type of requests and of each socket in a dump.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK`: the older request type that dumps both families in one walk; each
/// socket of its answer comes in a message of this type, laid out as for
/// [`SOCK_DIAG_BY_FAMILY`].
pub const TCPDIAG_GETSOCK: u16 = 18;
/// `NLM_F_MULTI`.
pub const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_DUMP_INTR`: the kernel noticed the tables changed during the dump.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct inet_diag_msg`.
pub const INET_DIAG_MSG_LEN: usize = 72;
/// `INET_DIAG_INFO`: the attribute carrying `struct tcp_info`.
pub const INET_DIAG_INFO: u16 = 2;
/// `INET_DIAG_CGROUP_ID`: the socket's cgroup v2 id (u64, native endian), sent with every
/// full socket without being asked for.
pub const INET_DIAG_CGROUP_ID: u16 = 21;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// What went wrong reading a datagram.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A header or body is cut short.
    #[error("truncated netlink message at byte {offset}: need {need} bytes, {have} left")]
    Truncated {
        /// Offset of the message in the datagram.
        offset: usize,
        /// Bytes the structure needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// `nlmsg_len` is smaller than a header or runs past the datagram.
    #[error(
        "bad netlink message length {len} at byte {offset} (datagram has {available} bytes left)"
    )]
    BadLength {
        /// Offset of the message.
        offset: usize,
        /// The length it claims.
        len: usize,
        /// Bytes actually left.
        available: usize,
    },
    /// A reply to some other request.
    #[error("netlink sequence number {got}, expected {expected}")]
    Sequence {
        /// The request's sequence number.
        expected: u32,
        /// The reply's.
        got: u32,
    },
    /// The kernel refused the request (`NLMSG_ERROR`).
    #[error("kernel refused the request: {}", errno_text(*.0))]
    Refused(i32),
    /// The dump ended with an error (`NLMSG_DONE` carrying a negative errno).
    #[error("dump ended with an error: {}", errno_text(*.0))]
    DumpFailed(i32),
    /// The kernel dropped messages.
    #[error("netlink overrun: the kernel dropped messages")]
    Overrun,
    /// A message type a sock_diag dump never sends.
    #[error("unexpected netlink message type {0}")]
    UnexpectedType(u16),
    /// A socket of a family other than AF_INET / AF_INET6.
    #[error("unexpected address family {0} in inet_diag_msg")]
    UnexpectedFamily(u8),
    /// An attribute whose length is impossible.
    #[error("bad attribute length {len} at byte {offset}")]
    BadAttribute {
        /// Offset of the attribute inside the message.
        offset: usize,
        /// The length it claims.
        len: usize,
    },
}

impl ParseError {
    /// The errno the kernel sent, for `Refused` and `DumpFailed`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            ParseError::Refused(e) | ParseError::DumpFailed(e) => Some(*e),
            _ => None,
        }
    }
}

fn errno_text(errno: i32) -> String {
    format!(
        "{} (errno {errno})",
        std::io::Error::from_raw_os_error(errno)
    )
}

/// Whether a datagram finished the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// More datagrams follow.
    More,
    /// `NLMSG_DONE` was seen.
    Done,
}

/// What one datagram held besides sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DatagramStats {
    /// Sockets delivered.
    pub sockets: usize,
    /// Socket messages skipped because their state number is unknown (a newer kernel).
    pub unknown_states: usize,
    /// Whether the kernel flagged the dump as interrupted (tables changed under it).
    pub interrupted: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[at..at + 2]);
    u16::from_ne_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(a)
}

fn be16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// What [`parse_datagram`] hands over for each socket: the record, its `tcp_info` if
/// attached, and its cgroup id (0: none, as for TIME_WAIT and request sockets).
pub type OnSocket<'a> = dyn FnMut(Socket, Option<TcpInfo>, u64) + 'a;

/// Parse one datagram of a sock_diag dump answering request `seq`, calling `on_socket` for
/// each socket. A `seq` of 0 accepts any sequence number (for recorded captures).
pub fn parse_datagram(
    data: &[u8],
    seq: u32,
    on_socket: &mut OnSocket<'_>,
) -> Result<(Progress, DatagramStats), ParseError> {
    let mut stats = DatagramStats::default();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < NLMSG_HDRLEN {
            return Err(ParseError::Truncated {
                offset,
                need: NLMSG_HDRLEN,
                have: rest.len(),
            });
        }
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(ParseError::BadLength {
                offset,
                len,
                available: rest.len(),
            });
        }
        let kind = u16_at(rest, 4);
        let flags = u16_at(rest, 6);
        let msg_seq = u32_at(rest, 8);
        if seq != 0 && msg_seq != seq {
            return Err(ParseError::Sequence {
                expected: seq,
                got: msg_seq,
            });
        }
        stats.interrupted |= flags & NLM_F_DUMP_INTR != 0;
        let body = &rest[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => {
                // Older kernels send DONE without a body; newer ones carry an errno (0 = fine).
                if body.len() >= 4 {
                    let errno = u32_at(body, 0) as i32;
                    if errno < 0 {
                        return Err(ParseError::DumpFailed(-errno));
                    }
                }
                return Ok((Progress::Done, stats));
            }
            NLMSG_ERROR => {
                if body.len() < 4 {
                    return Err(ParseError::Truncated {
                        offset,
                        need: NLMSG_HDRLEN + 4,
                        have: rest.len(),
                    });
                }
                let errno = u32_at(body, 0) as i32;
                if errno != 0 {
                    return Err(ParseError::Refused(-errno));
                }
                // errno 0 is an ACK: nothing to do.
            }
            NLMSG_NOOP => {}
            NLMSG_OVERRUN => return Err(ParseError::Overrun),
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => match parse_inet_diag_msg(body, offset)? {
                Some(parsed) => {
                    stats.sockets += 1;
                    on_socket(parsed.socket, parsed.tcp_info, parsed.cgroup_id);
                }
                None => stats.unknown_states += 1,
            },
            other => return Err(ParseError::UnexpectedType(other)),
        }
        offset += align4(len).min(rest.len());
    }
    Ok((Progress::More, stats))
}

/// Whether a datagram is the last one of a dump's answer: it holds `NLMSG_DONE`, an error
/// or an overrun, or it is malformed (the parser then reports why). Reads only headers, so
/// a receiving thread can decide whether to wait for more while another one parses.
pub fn ends_dump(data: &[u8]) -> bool {
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < NLMSG_HDRLEN {
            return true;
        }
        let len = u32_at(rest, 0) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return true;
        }
        let goes_on = match u16_at(rest, 4) {
            // errno 0: an ACK, not the end.
            NLMSG_ERROR => len >= NLMSG_HDRLEN + 4 && u32_at(rest, NLMSG_HDRLEN) == 0,
            NLMSG_NOOP | SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => true,
            // DONE, OVERRUN, and types the parser refuses.
            _ => false,
        };
        if !goes_on {
            return true;
        }
        offset += align4(len).min(rest.len());
    }
    false
}

/// One socket message, parsed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parsed {
    /// The socket record.
    pub socket: Socket,
    /// Its `tcp_info`, if attached.
    pub tcp_info: Option<TcpInfo>,
    /// Its cgroup v2 id (`INET_DIAG_CGROUP_ID`); 0 when absent (TIME_WAIT and request
    /// sockets, kernels without cgroup v2) or too short to read.
    pub cgroup_id: u64,
}

/// Parse the body of one `SOCK_DIAG_BY_FAMILY` message (an `inet_diag_msg` and its
/// attributes), with its `tcp_info` and cgroup id if attached. `Ok(None)` for a state
/// number this version does not know.
pub fn parse_inet_diag_msg(body: &[u8], offset: usize) -> Result<Option<Parsed>, ParseError> {
    if body.len() < INET_DIAG_MSG_LEN {
        return Err(ParseError::Truncated {
            offset,
            need: NLMSG_HDRLEN + INET_DIAG_MSG_LEN,
            have: NLMSG_HDRLEN + body.len(),
        });
    }
    let family = match body[0] {
        AF_INET => Family::Inet,
        AF_INET6 => Family::Inet6,
        other => return Err(ParseError::UnexpectedFamily(other)),
    };
    let Some(state) = TcpState::from_kernel(body[1]) else {
        return Ok(None);
    };
    let sport = be16_at(body, 4);
    let dport = be16_at(body, 6);
    let local = SocketAddr::new(address(family, &body[8..24]), sport);
    let remote = SocketAddr::new(address(family, &body[24..40]), dport);
    // idiag_cookie is two u32 words, low word first.
    let cookie = u64::from(u32_at(body, 44)) | (u64::from(u32_at(body, 48)) << 32);
    let mut socket = Socket::new(state, local, remote);
    socket.family = family;
    socket.timer = Timer {
        kind: TimerKind::from_kernel(body[2]),
        expires_ms: u32_at(body, 52),
        retransmits: body[3],
    };
    socket.recv_q = u32_at(body, 56);
    socket.send_q = u32_at(body, 60);
    socket.uid = u32_at(body, 64);
    socket.inode = u32_at(body, 68);
    socket.cookie = cookie;

    let mut tcp_info = None;
    let mut cgroup_id = 0;
    let mut at = INET_DIAG_MSG_LEN;
    while at + 4 <= body.len() {
        let attr_len = u16_at(body, at) as usize;
        let attr_type = u16_at(body, at + 2) & 0x3fff; // strip NLA_F_NESTED / NET_BYTEORDER
        if attr_len < 4 || at + attr_len > body.len() {
            return Err(ParseError::BadAttribute {
                offset: at,
                len: attr_len,
            });
        }
        match attr_type {
            INET_DIAG_INFO => tcp_info = Some(parse_tcp_info(&body[at + 4..at + attr_len])),
            INET_DIAG_CGROUP_ID if attr_len >= 4 + 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&body[at + 4..at + 12]);
                cgroup_id = u64::from_ne_bytes(raw);
            }
            _ => {}
        }
        at += align4(attr_len);
    }
    Ok(Some(Parsed {
        socket,
        tcp_info,
        cgroup_id,
    }))
}

fn address(family: Family, raw: &[u8]) -> IpAddr {
    match family {
        Family::Inet => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        Family::Inet6 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&raw[..16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    }
}

/// Read the `struct tcp_info` fields sockscope keeps, each only if `raw` is long enough to
/// hold it (missing fields read as 0).
pub fn parse_tcp_info(raw: &[u8]) -> TcpInfo {
    let field = |at: usize| {
        if at + 4 <= raw.len() {
            u32_at(raw, at)
        } else {
            0
        }
    };
    let field64 = |at: usize| {
        if at + 8 <= raw.len() {
            u64_at(raw, at)
        } else {
            0
        }
    };
    TcpInfo {
        retransmits: raw.get(2).copied().unwrap_or(0),
        unacked: field(24),
        lost: field(32),
        last_data_sent_ms: field(44),
        last_data_recv_ms: field(52),
        rtt_us: field(68),
        rttvar_us: field(72),
        snd_cwnd: field(80),
        total_retrans: field(100),
        bytes_acked: field64(120),
        bytes_received: field64(128),
        segs_out: field(136),
        segs_in: field(140),
    }
}

/// Encode one socket as a `SOCK_DIAG_BY_FAMILY` message: the inverse of the parser, for
/// tests, fuzzing and synthetic captures. `tcp_info`, if any, is attached as
/// `tcp_info_len` bytes.
pub fn encode_socket(
    socket: &Socket,
    tcp_info: Option<&TcpInfo>,
    seq: u32,
    tcp_info_len: usize,
    out: &mut Vec<u8>,
) {
    encode_socket_in_cgroup(socket, tcp_info, 0, seq, tcp_info_len, out);
}

/// [`encode_socket`], with an `INET_DIAG_CGROUP_ID` attribute after `tcp_info` when
/// `cgroup_id` is not 0 (where the kernel puts it).
pub fn encode_socket_in_cgroup(
    socket: &Socket,
    tcp_info: Option<&TcpInfo>,
    cgroup_id: u64,
    seq: u32,
    tcp_info_len: usize,
    out: &mut Vec<u8>,
) {
    let mut body = [0u8; INET_DIAG_MSG_LEN];
    body[0] = match socket.family {
        Family::Inet => AF_INET,
        Family::Inet6 => AF_INET6,
    };
    body[1] = socket.state.kernel_number();
    body[2] = match socket.timer.kind {
        TimerKind::Off => 0,
        TimerKind::Retransmit => 1,
        TimerKind::Keepalive => 2,
        TimerKind::TimeWait => 3,
        TimerKind::Probe => 4,
    };
    body[3] = socket.timer.retransmits;
    body[4..6].copy_from_slice(&socket.local.port().to_be_bytes());
    body[6..8].copy_from_slice(&socket.remote.port().to_be_bytes());
    put_addr(&mut body[8..24], socket.local.ip());
    put_addr(&mut body[24..40], socket.remote.ip());
    body[44..48].copy_from_slice(&(socket.cookie as u32).to_ne_bytes());
    body[48..52].copy_from_slice(&((socket.cookie >> 32) as u32).to_ne_bytes());
    body[52..56].copy_from_slice(&socket.timer.expires_ms.to_ne_bytes());
    body[56..60].copy_from_slice(&socket.recv_q.to_ne_bytes());
    body[60..64].copy_from_slice(&socket.send_q.to_ne_bytes());
    body[64..68].copy_from_slice(&socket.uid.to_ne_bytes());
    body[68..72].copy_from_slice(&socket.inode.to_ne_bytes());

    let info = tcp_info.map(|info| {
        let mut raw = vec![0u8; tcp_info_len];
        let mut put = |at: usize, v: u32| {
            if at + 4 <= raw.len() {
                raw[at..at + 4].copy_from_slice(&v.to_ne_bytes());
            }
        };
        put(24, info.unacked);
        put(32, info.lost);
        put(44, info.last_data_sent_ms);
        put(52, info.last_data_recv_ms);
        put(68, info.rtt_us);
        put(72, info.rttvar_us);
        put(80, info.snd_cwnd);
        put(100, info.total_retrans);
        put(136, info.segs_out);
        put(140, info.segs_in);
        for (at, v) in [(120, info.bytes_acked), (128, info.bytes_received)] {
            if at + 8 <= raw.len() {
                raw[at..at + 8].copy_from_slice(&v.to_ne_bytes());
            }
        }
        if let Some(b) = raw.get_mut(2) {
            *b = info.retransmits;
        }
        raw
    });
    let attr_len =
        info.as_ref().map_or(0, |raw| align4(4 + raw.len())) + if cgroup_id == 0 { 0 } else { 12 };
    let len = NLMSG_HDRLEN + INET_DIAG_MSG_LEN + attr_len;
    push_header(out, len, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, seq);
    out.extend_from_slice(&body);
    if let Some(raw) = info {
        out.extend_from_slice(&((4 + raw.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_INFO.to_ne_bytes());
        out.extend_from_slice(&raw);
        out.resize(out.len() + (align4(raw.len()) - raw.len()), 0);
    }
    if cgroup_id != 0 {
        out.extend_from_slice(&12u16.to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_CGROUP_ID.to_ne_bytes());
        out.extend_from_slice(&cgroup_id.to_ne_bytes());
    }
}

/// Encode an `NLMSG_DONE` message carrying `errno` (0 for success).
pub fn encode_done(seq: u32, errno: i32, out: &mut Vec<u8>) {
    push_header(out, NLMSG_HDRLEN + 4, NLMSG_DONE, NLM_F_MULTI, seq);
    out.extend_from_slice(&(-errno).to_ne_bytes());
}

fn push_header(out: &mut Vec<u8>, len: usize, kind: u16, flags: u16, seq: u32) {
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
}

fn put_addr(dst: &mut [u8], ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => dst[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => dst.copy_from_slice(&v6.octets()),
    }
}
