use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use super::*;
use crate::collect::testutil::{TestNetns, require_root};
use crate::collect::{CollectOptions, Collector, SocketSource};
use crate::model::{Family, Snapshot};

/// Copied from this machine (Linux 6.18) while a test program held a listener, two
/// connections (one IPv4-mapped), a keepalive timer and TIME_WAIT sockets; `ss -tano` at the
/// same moment showed `timer:(keepalive,28sec,0)` for the first connection and
/// `timer:(timewait,58sec,0)` for 127.0.0.1:40830.
const TCP: &str = include_str!("tcp.txt");
const TCP6: &str = include_str!("tcp6.txt");

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn parse_all(text: &str) -> Vec<Socket> {
    text.lines().filter_map(|l| parse_line(l, 100)).collect()
}

#[test]
fn ipv4_lines_give_addresses_states_timers_and_inodes() {
    let sockets = parse_all(TCP);
    assert_eq!(sockets.len(), 8, "the header is skipped");

    let listen = sockets[1];
    assert_eq!(listen.family, Family::Inet);
    assert_eq!(listen.state, TcpState::Listen);
    assert_eq!(listen.local, addr("127.0.0.1:45683"));
    assert_eq!(listen.remote, addr("0.0.0.0:0"));
    assert_eq!(listen.inode, 12930);
    assert_eq!(listen.timer, Timer::default());

    let keepalive = sockets[2];
    assert_eq!(keepalive.state, TcpState::Established);
    assert_eq!(keepalive.local, addr("127.0.0.1:40800"));
    assert_eq!(keepalive.remote, addr("127.0.0.1:45683"));
    assert_eq!(
        keepalive.timer,
        Timer {
            kind: TimerKind::Keepalive,
            expires_ms: 28_890,
            retransmits: 0
        }
    );
    assert_eq!(keepalive.inode, 12931);

    let time_wait = sockets[3];
    assert_eq!(time_wait.state, TcpState::TimeWait);
    assert_eq!(time_wait.local, addr("127.0.0.1:40830"));
    assert_eq!(time_wait.timer.kind, TimerKind::TimeWait);
    assert_eq!(time_wait.timer.expires_ms, 59_000);
    assert_eq!(
        (time_wait.uid, time_wait.inode, time_wait.cookie),
        (0, 0, 0)
    );
}

#[test]
fn ipv6_words_are_host_order_so_loopback_and_mapped_addresses_come_out_right() {
    let sockets = parse_all(TCP6);
    assert_eq!(sockets.len(), 4);
    assert!(sockets.iter().all(|s| s.family == Family::Inet6));
    assert_eq!(sockets[0].local, addr("[::1]:53023"));
    assert_eq!(sockets[0].remote, addr("[::]:0"));
    assert_eq!(sockets[1].local, addr("[::]:48805"));
    assert_eq!(sockets[2].local, addr("[::ffff:127.0.0.1]:40814"));
    assert_eq!(sockets[2].remote, addr("[::ffff:127.0.0.1]:45683"));
    assert_eq!(sockets[2].inode, 12935);
    assert_eq!(sockets[3].state, TcpState::TimeWait);
    assert_eq!(sockets[3].timer.expires_ms, 10_120);
}

#[test]
fn non_loopback_addresses_keep_their_byte_order() {
    // 192.0.2.10:443 -> 198.51.100.7:51000; 2001:db8::1 (words B80D0120 00000000 00000000 01000000).
    let v4 = "   0: 0A0200C0:01BB 076433C6:C738 01 0000001A:00000005 01:00000032 00000003  1000        0 777 1";
    let s = parse_line(v4, 100).unwrap();
    assert_eq!(s.local, addr("192.0.2.10:443"));
    assert_eq!(s.remote, addr("198.51.100.7:51000"));
    assert_eq!((s.send_q, s.recv_q), (26, 5));
    assert_eq!(
        s.timer,
        Timer {
            kind: TimerKind::Retransmit,
            expires_ms: 500,
            retransmits: 3
        }
    );
    assert_eq!((s.uid, s.inode), (1000, 777));

    let v6 = "   0: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 42 1";
    let s = parse_line(v6, 100).unwrap();
    assert_eq!(s.local, addr("[2001:db8::1]:443"));
    assert_eq!(s.recv_q, 3, "a listener's rx_queue is its accept queue");
}

#[test]
fn probe_timers_report_the_probe_count_not_retrnsmt() {
    let line = "   0: 0100007F:0050 0100007F:9C40 01 00000010:00000000 04:00000064 00000001     0        2 9 1";
    let s = parse_line(line, 100).unwrap();
    assert_eq!(
        s.timer,
        Timer {
            kind: TimerKind::Probe,
            expires_ms: 1000,
            retransmits: 2
        }
    );
}

#[test]
fn clock_ticks_set_the_expiry_unit() {
    let line = "   0: 0100007F:0050 0100007F:9C40 06 00000000:00000000 03:00000400 00000000     0        0 0 3";
    assert_eq!(parse_line(line, 1024).unwrap().timer.expires_ms, 1000);
}

#[test]
fn malformed_lines_are_skipped() {
    let good = "   0: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1";
    assert!(parse_line(good, 100).is_some());
    let bad = [
        "",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0",
        "   0: 0100007G:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: 0100007F:0050 0100007F:9C40 0F 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: 0100007F:0050 0100007F:9C40 01 00000000 00:00000000 00000000     0        0 9 1",
        "   0: 0100007F:0050 00000000000000000000000001000000:0000 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: 0100007F:10000 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: 100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 -9 1",
        "   0 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
        "   0: +100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 9 1",
    ];
    for line in bad {
        assert_eq!(parse_line(line, 100), None, "{line:?}");
    }
}

#[test]
fn files_are_read_again_through_the_same_handles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tcp"), TCP).unwrap();
    std::fs::write(dir.path().join("tcp6"), format!("{TCP6}garbage\n")).unwrap();
    let files = ProcNetFiles::open_at(dir.path()).unwrap();
    for _ in 0..2 {
        let mut sockets = Vec::new();
        files.read(&mut sockets).unwrap();
        assert_eq!(sockets.len(), 12);
        assert_eq!(sockets[11].local, addr("[::ffff:127.0.0.1]:50758"));
    }
    assert!(ProcNetFiles::open_at(&dir.path().join("missing")).is_err());
}

/// Sockets that stay open while the namespace is polled.
struct HeldSockets {
    _held: Vec<TcpStream>,
    _listeners: Vec<TcpListener>,
}

/// In the namespace: per loopback address, a listener with one connection accepted
/// (holding 5 unread bytes) and one waiting in the accept queue, plus one TIME_WAIT.
fn hold_sockets(loopbacks: &[&str]) -> HeldSockets {
    let mut held = Vec::new();
    let mut listeners = Vec::new();
    for (bind, connect) in loopbacks.iter().map(|l| l.split_once('>').unwrap()) {
        let listener = TcpListener::bind(format!("{bind}:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = format!("{connect}:{port}");
        let mut client = TcpStream::connect(&target).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"hello").unwrap();
        held.extend([client, server]);

        let closer = TcpStream::connect(&target).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        drop(closer);
        // A bug here should fail the test, not hang it.
        peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        drop(peer);

        // Left in the accept queue: connect only after the last accept().
        held.push(TcpStream::connect(&target).unwrap());
        listeners.push(listener);
    }
    HeldSockets {
        _held: held,
        _listeners: listeners,
    }
}

fn poll(target: &crate::collect::NetnsTarget, force_procnet: bool) -> Snapshot {
    let mut collector = Collector::open(CollectOptions {
        netns: target.clone(),
        processes: false,
        force_procnet,
        ..CollectOptions::default()
    })
    .unwrap();
    collector.poll().unwrap()
}

#[test]
fn proc_net_tcp_agrees_with_sock_diag_in_a_namespace() {
    if !require_root("proc_net_tcp_agrees_with_sock_diag_in_a_namespace") {
        return;
    }
    let netns = TestNetns::new("procnet");
    netns.exec(&["sysctl", "-q", "-w", "net.ipv4.tcp_rfc1337=1"]);
    let _lab = netns.enter(|| {
        hold_sockets(&[
            "127.0.0.1>127.0.0.1",
            "[::1]>[::1]",
            "[::]>[::ffff:127.0.0.1]",
        ])
    });
    // Let the last FINs and ACKs settle so both polls see the same states.
    std::thread::sleep(Duration::from_millis(100));

    let diag = poll(&netns.target(), false);
    let proc = poll(&netns.target(), true);
    assert_eq!(diag.source, crate::model::SourceKind::Netlink);
    assert_eq!(proc.source, crate::model::SourceKind::ProcNet);
    // Per address: listener, accepted pair, queued pair, TIME_WAIT.
    assert_eq!(diag.sockets.len(), 3 * 6, "{:#?}", diag.sockets);
    assert_eq!(
        proc.sockets.len(),
        diag.sockets.len(),
        "{:#?}",
        proc.sockets
    );
    for state in [TcpState::Listen, TcpState::TimeWait] {
        assert_eq!(proc.state_counts().get(state), 3);
    }

    for d in &diag.sockets {
        let p = proc
            .sockets
            .iter()
            .find(|p| (p.state, p.local, p.remote) == (d.state, d.local, d.remote))
            .unwrap_or_else(|| panic!("not in /proc/net/tcp: {d:?}"));
        let what = format!("{d:?}\n{p:?}");
        assert_eq!(p.family, d.family, "{what}");
        assert_eq!(p.recv_q, d.recv_q, "{what}");
        assert_eq!(p.uid, d.uid, "{what}");
        assert_eq!(p.inode, d.inode, "{what}");
        assert_eq!(p.timer.kind, d.timer.kind, "{what}");
        assert_eq!(p.timer.retransmits, d.timer.retransmits, "{what}");
        assert!(
            p.timer.expires_ms.abs_diff(d.timer.expires_ms) < 2000,
            "{what}"
        );
        if d.state == TcpState::Listen {
            assert_eq!((d.recv_q, d.send_q, p.send_q), (1, 128, 0), "{what}");
        } else {
            assert_eq!(p.send_q, d.send_q, "{what}");
        }
    }
    let unread: Vec<u16> = proc
        .sockets
        .iter()
        .filter(|s| s.recv_q == 5)
        .map(|s| s.local.port())
        .collect();
    assert_eq!(
        unread.len(),
        3,
        "one server side per address holds 5 unread bytes"
    );
}
