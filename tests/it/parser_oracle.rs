//! netlink-packet-sock-diag as a test oracle for the hand-written parser: every message of
//! every capture in tests/data, and hand-built messages for the states a capture cannot
//! hold, are decoded by both, and every field the crate decodes must agree.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::SocketAddr;
use std::time::Duration;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{InetResponse, Timer as CrateTimer};
use sockscope::collect::parse::{
    INET_DIAG_CGROUP_ID, INET_DIAG_INFO, NLMSG_DONE, encode_socket_in_cgroup, parse_datagram,
    parse_tcp_info,
};
use sockscope::model::{Family, Socket, TcpInfo, TcpState, Timer, TimerKind};

use super::parser::capture;

const CAPTURES: [&str; 6] = [
    "inet-0.bin",
    "inet-1.bin",
    "inet-2.bin",
    "inet-3.bin",
    "inet6-0.bin",
    "inet6-1.bin",
];

/// What the crate decoded from one socket message.
struct Oracle {
    response: InetResponse,
    /// The `INET_DIAG_INFO` payload, as the crate delimited it (it keeps it as bytes
    /// without `rich_nlas`).
    tcp_info: Option<Vec<u8>>,
    /// The `INET_DIAG_CGROUP_ID` payload as a u64 (the crate keeps it as an unknown
    /// attribute's bytes).
    cgroup_id: Option<u64>,
    /// Every attribute type the crate found, in message order.
    attributes: Vec<u16>,
}

/// Decode each message of `datagram` with the crate: the socket messages, in order, and
/// whether a `NLMSG_DONE` ended it.
fn oracle(datagram: &[u8]) -> (Vec<Oracle>, bool) {
    let mut out = Vec::new();
    let mut done = false;
    let mut at = 0;
    while at < datagram.len() {
        let len = u32::from_ne_bytes(datagram[at..at + 4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes(datagram[at + 4..at + 6].try_into().unwrap());
        let message = &datagram[at..at + len];
        at += (len + 3) & !3;
        if kind == NLMSG_DONE {
            done = true;
            continue;
        }
        let parsed = NetlinkMessage::<SockDiagMessage>::deserialize(message).unwrap();
        let NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) = parsed.payload
        else {
            panic!(
                "message at {at}: not an inet response: {:?}",
                parsed.payload
            );
        };
        let mut tcp_info = None;
        let mut cgroup_id = None;
        let mut attributes = Vec::new();
        for nla in &response.nlas {
            let kind = netlink_packet_core::Nla::kind(nla);
            attributes.push(kind);
            if let Nla::TcpInfo(bytes) = nla {
                tcp_info = Some(bytes.clone());
            }
            if kind == INET_DIAG_CGROUP_ID {
                let mut value = vec![0u8; netlink_packet_core::Nla::value_len(nla)];
                netlink_packet_core::Nla::emit_value(nla, &mut value);
                cgroup_id = Some(u64::from_ne_bytes(value[..8].try_into().unwrap()));
            }
        }
        out.push(Oracle {
            response: *response,
            tcp_info,
            cgroup_id,
            attributes,
        });
    }
    (out, done)
}

/// Assert that the hand-written parser's `socket` and `info` say what the crate decoded.
fn assert_agrees(
    what: &str,
    (socket, info, cgroup_id): &(Socket, Option<TcpInfo>, u64),
    oracle: &Oracle,
) {
    let info = info.as_ref();
    let h = &oracle.response.header;
    let id = &h.socket_id;
    let family = match socket.family {
        Family::Inet => 2,
        Family::Inet6 => 10,
    };
    assert_eq!(family, h.family, "{what}: family");
    assert_eq!(
        Some(socket.state),
        TcpState::from_kernel(h.state),
        "{what}: state (kernel {})",
        h.state
    );
    assert_eq!(
        socket.local.get(),
        SocketAddr::new(id.source_address, id.source_port),
        "{what}: local address and port"
    );
    assert_eq!(
        socket.remote.get(),
        SocketAddr::new(id.destination_address, id.destination_port),
        "{what}: remote address and port"
    );
    let crate_cookie = u64::from(u32::from_ne_bytes(id.cookie[..4].try_into().unwrap()))
        | u64::from(u32::from_ne_bytes(id.cookie[4..].try_into().unwrap())) << 32;
    assert_eq!(socket.cookie, crate_cookie, "{what}: cookie");
    assert_eq!(
        id.interface_id, 0,
        "{what}: a capture socket bound to an interface (the record keeps none)"
    );
    let expires = |t: &Timer| Duration::from_millis(u64::from(t.expires_ms));
    let t = &socket.timer;
    match &h.timer {
        None => assert_eq!(t.kind, TimerKind::Off, "{what}: timer"),
        Some(CrateTimer::Retransmit(d, retransmits)) => {
            assert_eq!(t.kind, TimerKind::Retransmit, "{what}: timer");
            assert_eq!(expires(t), *d, "{what}: expires");
            assert_eq!(t.retransmits, *retransmits, "{what}: retransmits");
        }
        Some(CrateTimer::KeepAlive(d)) => {
            assert_eq!(t.kind, TimerKind::Keepalive, "{what}: timer");
            assert_eq!(expires(t), *d, "{what}: expires");
        }
        Some(CrateTimer::TimeWait) => assert_eq!(t.kind, TimerKind::TimeWait, "{what}: timer"),
        Some(CrateTimer::Probe(d)) => {
            assert_eq!(t.kind, TimerKind::Probe, "{what}: timer");
            assert_eq!(expires(t), *d, "{what}: expires");
        }
    }
    assert_eq!(socket.recv_q, h.recv_queue, "{what}: rqueue");
    assert_eq!(socket.send_q, h.send_queue, "{what}: wqueue");
    assert_eq!(socket.uid, h.uid, "{what}: uid");
    assert_eq!(socket.inode, h.inode, "{what}: inode");
    // The attribute walks agree when the hand-written parser took tcp_info from exactly
    // the bytes the crate delimited, and found none where the crate found none.
    assert_eq!(
        info.copied(),
        oracle.tcp_info.as_deref().map(parse_tcp_info),
        "{what}: tcp_info"
    );
    assert_eq!(
        *cgroup_id,
        oracle.cgroup_id.unwrap_or(0),
        "{what}: cgroup id"
    );
}

#[test]
fn every_capture_decodes_like_netlink_packet_sock_diag_field_by_field() {
    let mut compared = 0;
    let mut timers = Vec::new();
    let mut attributes = Vec::new();
    let mut cgroups = Vec::new();
    for name in CAPTURES {
        let data = capture(name);
        let mut mine = Vec::new();
        parse_datagram(&data, 0, &mut |s, i, c| mine.push((s, i, c))).unwrap();
        let (theirs, done) = oracle(&data);
        assert_eq!(mine.len(), theirs.len(), "{name}: sockets");
        assert_eq!(done, name.ends_with("-3.bin") || name == "inet6-1.bin");
        for (i, (parsed, oracle)) in mine.iter().zip(&theirs).enumerate() {
            assert_agrees(&format!("{name} socket {i}"), parsed, oracle);
            timers.push(parsed.0.timer.kind);
            cgroups.push(parsed.2);
            attributes.extend(oracle.attributes.iter().copied());
        }
        compared += mine.len();
    }
    assert_eq!(compared, 127 + 7, "every socket of the six captures");
    // What the comparison covered: the timers and the attributes the captures hold.
    assert!(timers.contains(&TimerKind::TimeWait), "{timers:?}");
    assert!(timers.contains(&TimerKind::Off), "{timers:?}");
    assert!(attributes.contains(&INET_DIAG_INFO), "{attributes:?}");
    assert!(attributes.contains(&INET_DIAG_CGROUP_ID), "{attributes:?}");
    // Recorded in the root cgroup (id 1); TIME_WAIT sockets carry none.
    assert!(cgroups.contains(&1), "{cgroups:?}");
    assert!(cgroups.contains(&0), "{cgroups:?}");
}

#[test]
fn hand_built_messages_decode_like_the_crate_for_every_timer_and_kernel_state() {
    // States 12 (TCP_NEW_SYN_RECV) and 13 (TCP_BOUND_INACTIVE) never come out of a dump
    // (the kernel reports them as 3 and 7) but are mapped if they do.
    let reported = [
        (1, TcpState::Established),
        (2, TcpState::SynSent),
        (3, TcpState::SynRecv),
        (4, TcpState::FinWait1),
        (5, TcpState::FinWait2),
        (6, TcpState::TimeWait),
        (7, TcpState::Close),
        (8, TcpState::CloseWait),
        (9, TcpState::LastAck),
        (10, TcpState::Listen),
        (11, TcpState::Closing),
        (12, TcpState::SynRecv),
        (13, TcpState::Close),
    ];
    let timers = [
        (TimerKind::Off, 0, 0),
        (TimerKind::Retransmit, 1_200, 3),
        (TimerKind::Keepalive, 7_000, 0),
        (TimerKind::TimeWait, 0, 0),
        (TimerKind::Probe, 400, 0),
    ];
    for (number, state) in reported {
        for (k, &(kind, expires_ms, retransmits)) in timers.iter().enumerate() {
            let local = if k % 2 == 0 {
                "[2001:db8::1]:443"
            } else {
                "192.0.2.1:443"
            };
            let remote = if k % 2 == 0 {
                "[2001:db8::2]:50000"
            } else {
                "198.51.100.7:50000"
            };
            let mut socket = Socket::new(state, local.parse().unwrap(), remote.parse().unwrap());
            (socket.recv_q, socket.send_q, socket.uid, socket.inode) = (3, 4, 1000, 4242);
            socket.cookie = 0x1234_5678_9abc_def0 + u64::from(number);
            socket.timer = Timer {
                kind,
                expires_ms,
                retransmits,
            };
            let info = TcpInfo {
                rtt_us: 150,
                snd_cwnd: 10,
                ..TcpInfo::default()
            };
            let mut data = Vec::new();
            // Full sockets carry a cgroup id; timewait and request sockets none.
            let cgroup_id = if matches!(number, 6 | 12) {
                0
            } else {
                0x0000_0001_0000_2a00 + u64::from(number)
            };
            encode_socket_in_cgroup(&socket, Some(&info), cgroup_id, 1, 104, &mut data);
            data[17] = number;
            let mut mine = Vec::new();
            parse_datagram(&data, 1, &mut |s, i, c| mine.push((s, i, c))).unwrap();
            let (theirs, _) = oracle(&data);
            let what = format!("kernel state {number}, timer {}", kind.name());
            assert_eq!(theirs[0].response.header.state, number, "{what}");
            assert_eq!(mine.len(), 1, "{what}");
            assert_eq!(mine[0].0.state, state, "{what}");
            assert_eq!(mine[0].2, cgroup_id, "{what}: cgroup id");
            assert_agrees(&what, &mine[0], &theirs[0]);
        }
    }
}
