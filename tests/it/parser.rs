//! The sock_diag message parser on recorded captures (tests/data, recorded with
//! `cargo run --example record_dump` in a namespace holding a known set of sockets) and on
//! truncated, oversized and garbage input.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::SocketAddr;

use proptest::prelude::*;
use sockscope::collect::parse::{
    DatagramStats, ParseError, Progress, TCPDIAG_GETSOCK, encode_done, encode_socket, ends_dump,
    parse_datagram,
};
use sockscope::model::{Family, Socket, StateCounts, TcpInfo, TcpState, Timer, TimerKind};

/// The bytes of the capture `name` in tests/data.
pub(crate) fn capture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The sockets of the captures `files`, each with its tcp_info, and each datagram's progress.
fn parse_all(files: &[&str]) -> (Vec<(Socket, Option<TcpInfo>)>, Vec<Progress>) {
    let mut sockets = Vec::new();
    let mut progress = Vec::new();
    for f in files {
        let (p, _) = parse_datagram(&capture(f), 0, &mut |s, i, _| sockets.push((s, i))).unwrap();
        progress.push(p);
    }
    (sockets, progress)
}

/// The sockets of `parsed`, without their tcp_info.
fn sockets_of(parsed: &[(Socket, Option<TcpInfo>)]) -> Vec<Socket> {
    parsed.iter().map(|(s, _)| *s).collect()
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn recorded_ipv4_dump_yields_every_socket_with_its_state() {
    let (parsed, progress) = parse_all(&["inet-0.bin", "inet-1.bin", "inet-2.bin", "inet-3.bin"]);
    let sockets = sockets_of(&parsed);
    assert_eq!(
        progress,
        vec![
            Progress::More,
            Progress::More,
            Progress::More,
            Progress::Done
        ]
    );
    let counts = StateCounts::of(&sockets);
    assert_eq!(counts.get(TcpState::Listen), 1);
    assert_eq!(counts.get(TcpState::Established), 122);
    assert_eq!(counts.get(TcpState::TimeWait), 1);
    assert_eq!(counts.get(TcpState::FinWait2), 1);
    assert_eq!(counts.get(TcpState::CloseWait), 1);
    assert_eq!(
        counts.get(TcpState::Close),
        1,
        "bound-inactive socket reads as CLOSE"
    );
    assert_eq!(counts.total(), 127);
    assert!(sockets.iter().all(|s| s.family == Family::Inet));

    let listener = sockets
        .iter()
        .find(|s| s.state == TcpState::Listen)
        .unwrap();
    assert_eq!(listener.local, addr("127.0.0.1:8080"));
    assert_eq!(listener.remote, addr("0.0.0.0:0"));
    assert_eq!((listener.recv_q, listener.send_q), (0, 16));
    assert_ne!(listener.inode, 0);

    let bound = sockets.iter().find(|s| s.state == TcpState::Close).unwrap();
    assert_eq!(bound.local, addr("127.0.0.1:9090"));

    let close_wait = sockets
        .iter()
        .find(|s| s.state == TcpState::CloseWait)
        .unwrap();
    assert_eq!(close_wait.local.port(), 8080);
    assert_eq!(
        close_wait.recv_q, 1,
        "the peer's FIN counts as one byte queued"
    );

    let time_wait = sockets
        .iter()
        .find(|s| s.state == TcpState::TimeWait)
        .unwrap();
    assert_eq!(time_wait.timer.kind, TimerKind::TimeWait);
    assert!(time_wait.timer.expires_ms > 50_000 && time_wait.timer.expires_ms <= 60_000);
    assert_eq!(
        (time_wait.inode, time_wait.uid),
        (0, 0),
        "TIME_WAIT belongs to no process"
    );
    for (socket, info) in &parsed {
        match socket.state {
            TcpState::Established => assert_eq!(info.map(|i| i.snd_cwnd), Some(10)),
            TcpState::TimeWait => assert_eq!(*info, None, "a TIME_WAIT socket has no tcp_info"),
            _ => {}
        }
    }
    let mut cookies: Vec<u64> = sockets.iter().map(|s| s.cookie).collect();
    cookies.sort_unstable();
    cookies.dedup();
    assert_eq!(cookies.len(), 127, "every socket has its own cookie");
}

#[test]
fn recorded_ipv6_dump_brackets_nothing_and_keeps_v6_addresses() {
    let (parsed, progress) = parse_all(&["inet6-0.bin", "inet6-1.bin"]);
    let sockets = sockets_of(&parsed);
    assert_eq!(progress, vec![Progress::More, Progress::Done]);
    let counts = StateCounts::of(&sockets);
    assert_eq!(
        TcpState::LIFECYCLE.map(|s| counts.get(s)),
        [1, 0, 0, 2, 0, 1, 0, 1, 1, 0, 1]
    );
    let listener = sockets
        .iter()
        .find(|s| s.state == TcpState::Listen)
        .unwrap();
    assert_eq!(listener.local, addr("[::1]:8080"));
    assert!(sockets.iter().all(|s| s.family == Family::Inet6));
}

#[test]
fn every_truncation_of_a_capture_is_an_error_not_a_panic() {
    let data = capture("inet-0.bin");
    for cut in 1..data.len() {
        let result = parse_datagram(&data[..cut], 0, &mut |_, _, _| {});
        // A cut exactly between two messages is a valid shorter datagram.
        if let Err(e) = result {
            assert!(
                matches!(
                    e,
                    ParseError::Truncated { .. } | ParseError::BadLength { .. }
                ),
                "cut {cut}: {e}"
            );
        }
    }
    let cut_mid_header = parse_datagram(&data[..10], 0, &mut |_, _, _| {});
    assert_eq!(
        cut_mid_header,
        Err(ParseError::Truncated {
            offset: 0,
            need: 16,
            have: 10
        })
    );
}

#[test]
fn a_length_beyond_the_datagram_is_refused() {
    let mut data = capture("inet-0.bin");
    data[0..4].copy_from_slice(&100_000u32.to_ne_bytes());
    assert_eq!(
        parse_datagram(&data, 0, &mut |_, _, _| {}),
        Err(ParseError::BadLength {
            offset: 0,
            len: 100_000,
            available: data.len()
        })
    );
}

#[test]
fn a_reply_to_another_request_is_refused() {
    let data = capture("inet-0.bin");
    assert_eq!(
        parse_datagram(&data, 77, &mut |_, _, _| {}),
        Err(ParseError::Sequence {
            expected: 77,
            got: 1
        })
    );
}

#[test]
fn kernel_errors_in_error_and_done_messages_are_reported() {
    let mut done = Vec::new();
    encode_done(5, libc_enoent(), &mut done);
    let err = parse_datagram(&done, 5, &mut |_, _, _| {}).unwrap_err();
    assert_eq!(err, ParseError::DumpFailed(2));
    assert_eq!(
        err.to_string(),
        "dump ended with an error: No such file or directory (os error 2) (errno 2)"
    );

    let mut error = done.clone();
    error[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR, errno -2
    assert_eq!(
        parse_datagram(&error, 5, &mut |_, _, _| {}),
        Err(ParseError::Refused(2))
    );

    let mut ok_done = Vec::new();
    encode_done(5, 0, &mut ok_done);
    assert_eq!(
        parse_datagram(&ok_done, 5, &mut |_, _, _| {}),
        Ok((Progress::Done, DatagramStats::default()))
    );
}

#[test]
fn the_receiver_stops_at_done_errors_and_garbage_but_not_at_sockets() {
    let mut sockets = Vec::new();
    encode_socket(&sample_socket(), Some(&sample_info()), 5, 104, &mut sockets);
    assert!(!ends_dump(&sockets));
    assert!(!ends_dump(&[]));
    let mut done = sockets.clone();
    encode_done(5, 0, &mut done);
    assert!(ends_dump(&done));
    let mut failed = Vec::new();
    encode_done(5, libc_enoent(), &mut failed);
    failed[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR, errno -2
    assert!(ends_dump(&failed));
    assert!(ends_dump(&sockets[..20]), "a cut message ends the reading");
    for capture_name in ["inet-0.bin", "inet-1.bin", "inet-2.bin"] {
        assert!(!ends_dump(&capture(capture_name)), "{capture_name}");
    }
    assert!(ends_dump(&capture("inet-3.bin")));
}

#[test]
fn answers_to_the_both_families_request_parse_like_per_family_ones() {
    let mut data = Vec::new();
    encode_socket(&sample_socket(), Some(&sample_info()), 9, 232, &mut data);
    data[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    let mut got = Vec::new();
    let (progress, stats) = parse_datagram(&data, 9, &mut |s, i, _| got.push((s, i))).unwrap();
    assert_eq!((progress, stats.sockets), (Progress::More, 1));
    assert_eq!(got, vec![(sample_socket(), Some(sample_info()))]);
    assert!(!ends_dump(&data));
}

fn libc_enoent() -> i32 {
    2
}

fn sample_socket() -> Socket {
    let mut s = Socket::new(
        TcpState::Established,
        addr("[2001:db8::1]:443"),
        addr("[2001:db8::2]:50000"),
    );
    s.recv_q = 3;
    s.send_q = 4;
    s.uid = 1000;
    s.inode = 4242;
    s.cookie = 0x1234_5678_9abc_def0;
    s.timer = Timer {
        kind: TimerKind::Keepalive,
        expires_ms: 7_000,
        retransmits: 2,
    };
    s
}

fn sample_info() -> TcpInfo {
    TcpInfo {
        rtt_us: 150,
        rttvar_us: 75,
        snd_cwnd: 10,
        retransmits: 1,
        total_retrans: 9,
        lost: 2,
        unacked: 3,
        last_data_sent_ms: 10,
        last_data_recv_ms: 20,
        bytes_acked: 0x1_0000_0002,
        bytes_received: 0x3_0000_0004,
        segs_out: 41,
        segs_in: 37,
    }
}

#[test]
fn short_tcp_info_reads_only_the_fields_it_covers() {
    let info = sample_info();
    // 144 bytes: up to and including segs_in. 132: bytes_received (128..136) and the
    // segment counts are cut off. 104 bytes: up to and including total_retrans. 70 bytes:
    // rtt (68..72) is cut off.
    let up_to_total_retrans = TcpInfo {
        bytes_acked: 0,
        bytes_received: 0,
        segs_out: 0,
        segs_in: 0,
        ..info
    };
    for (len, expected) in [
        (232, info),
        (144, info),
        (
            132,
            TcpInfo {
                bytes_received: 0,
                segs_out: 0,
                segs_in: 0,
                ..info
            },
        ),
        (104, up_to_total_retrans),
        (
            70,
            TcpInfo {
                rtt_us: 0,
                rttvar_us: 0,
                snd_cwnd: 0,
                total_retrans: 0,
                ..up_to_total_retrans
            },
        ),
    ] {
        let mut data = Vec::new();
        encode_socket(&sample_socket(), Some(&info), 1, len, &mut data);
        let mut got = Vec::new();
        parse_datagram(&data, 1, &mut |_, i, _| got.push(i)).unwrap();
        assert_eq!(got, [Some(expected)], "tcp_info of {len} bytes");
    }
}

#[test]
fn unknown_attributes_and_unknown_states_are_skipped() {
    let mut data = Vec::new();
    encode_socket(&sample_socket(), None, 1, 0, &mut data);
    // Append an attribute of type 21 (e.g. cgroup id) with 8 bytes of payload.
    data.extend_from_slice(&12u16.to_ne_bytes());
    data.extend_from_slice(&21u16.to_ne_bytes());
    data.extend_from_slice(&7u64.to_ne_bytes());
    let len = data.len() as u32;
    data[0..4].copy_from_slice(&len.to_ne_bytes());
    // A second message with a state number from the future (14).
    let mut future = Vec::new();
    encode_socket(&sample_socket(), None, 1, 0, &mut future);
    future[17] = 14;
    data.extend_from_slice(&future);

    let mut got = Vec::new();
    let (_, stats) = parse_datagram(&data, 1, &mut |s, _, _| got.push(s)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(stats.sockets, 1);
    assert_eq!(stats.unknown_states, 1);
    assert_eq!(got[0].inode, 4242);
}

#[test]
fn an_attribute_longer_than_its_message_is_refused() {
    let mut data = Vec::new();
    encode_socket(&sample_socket(), Some(&sample_info()), 1, 104, &mut data);
    let attr = 16 + 72;
    data[attr..attr + 2].copy_from_slice(&500u16.to_ne_bytes());
    assert!(matches!(
        parse_datagram(&data, 1, &mut |_, _, _| {}),
        Err(ParseError::BadAttribute { len: 500, .. })
    ));
}

fn any_state() -> impl Strategy<Value = TcpState> {
    prop::sample::select(TcpState::LIFECYCLE.to_vec())
}

fn any_socket() -> impl Strategy<Value = (Socket, Option<TcpInfo>)> {
    (
        any_state(),
        any::<bool>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<(u16, u16, u32, u32, u32, u32, u64)>(),
        any::<Option<(u32, u32, u32, u8, u32, (u64, u64, u32, u32))>>(),
    )
        .prop_map(
            |(state, v6, a, b, (sp, dp, rq, sq, uid, inode, cookie), info)| {
                let ip = |raw: [u8; 16]| -> std::net::IpAddr {
                    if v6 {
                        std::net::Ipv6Addr::from(raw).into()
                    } else {
                        std::net::Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]).into()
                    }
                };
                let mut s = Socket::new(
                    state,
                    SocketAddr::new(ip(a), sp),
                    SocketAddr::new(ip(b), dp),
                );
                (s.recv_q, s.send_q, s.uid, s.inode, s.cookie) = (rq, sq, uid, inode, cookie);
                let info = info.map(|(rtt, cwnd, lost, retransmits, total, counts)| TcpInfo {
                    rtt_us: rtt,
                    snd_cwnd: cwnd,
                    lost,
                    retransmits,
                    total_retrans: total,
                    bytes_acked: counts.0,
                    bytes_received: counts.1,
                    segs_out: counts.2,
                    segs_in: counts.3,
                    ..TcpInfo::default()
                });
                (s, info)
            },
        )
}

proptest! {
    #[test]
    fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..2048), seq in any::<u32>()) {
        let _ = parse_datagram(&data, seq, &mut |_, _, _| {});
    }

    #[test]
    fn mutated_captures_never_panic(flips in prop::collection::vec((0usize..3388, any::<u8>()), 1..16)) {
        let mut data = capture("inet-0.bin");
        for (at, byte) in flips {
            let at = at % data.len();
            data[at] = byte;
        }
        let _ = parse_datagram(&data, 0, &mut |_, _, _| {});
    }

    #[test]
    fn encoded_sockets_parse_back_identical(sockets in prop::collection::vec(any_socket(), 0..20), seq in 1u32..) {
        let mut data = Vec::new();
        for (s, info) in &sockets {
            encode_socket(s, info.as_ref(), seq, 232, &mut data);
        }
        encode_done(seq, 0, &mut data);
        let mut got = Vec::new();
        let (progress, stats) = parse_datagram(&data, seq, &mut |s, i, _| got.push((s, i))).unwrap();
        prop_assert_eq!(progress, Progress::Done);
        prop_assert_eq!(stats.sockets, sockets.len());
        prop_assert_eq!(got, sockets);
    }
}
