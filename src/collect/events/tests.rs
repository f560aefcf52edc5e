use std::collections::{HashMap, HashSet};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};

use super::*;
use crate::collect::testutil::{TestNetns, require_root};
use crate::model::{Family, TcpState};

/// What the client of each conversation sends, and what the server answers.
const SENT: &[u8] = &[b'q'; 1000];
const ANSWERED: &[u8] = &[b'a'; 300];

/// A buffer that holds every event of these tests: about 1.3 KiB each (1,280 bytes of
/// allocation on 6.18), 401 at most.
const ROOMY: usize = 4 << 20;

/// A listener on loopback inside `lab`.
fn listen(lab: &TestNetns) -> TcpListener {
    lab.enter(|| TcpListener::bind("127.0.0.1:0").unwrap())
}

/// Hold `count` conversations with `listener` inside `lab`, one after the other: connect,
/// the client sends [`SENT`], the server reads it and answers [`ANSWERED`], the client
/// reads that and closes, the server reads the end and closes. Both sides end in order
/// (the client's FIN first), so every full socket is destroyed soon after: the client's
/// when the server's FIN moves it to TIME_WAIT, the server's when its FIN is acknowledged.
fn converse(lab: &TestNetns, listener: &TcpListener, count: usize) {
    let address = listener.local_addr().unwrap();
    lab.enter(|| {
        let mut buf = [0u8; 1000];
        for _ in 0..count {
            let mut client = TcpStream::connect(address).unwrap();
            let (mut server, _) = listener.accept().unwrap();
            client.write_all(SENT).unwrap();
            server.read_exact(&mut buf[..SENT.len()]).unwrap();
            server.write_all(ANSWERED).unwrap();
            client.read_exact(&mut buf[..ANSWERED.len()]).unwrap();
            drop(client);
            assert_eq!(server.read(&mut buf).unwrap(), 0, "the client's FIN");
            drop(server);
        }
    });
}

/// Receive until `done` says so of the events received and the events lost, or 10 s pass;
/// then 300 ms more, so that an event too many would be seen.
fn receive_until(
    events: &mut DestroyEvents,
    out: &mut Vec<DestroyEvent>,
    done: impl Fn(usize, u64) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(out.len(), events.lost()) && Instant::now() < deadline {
        events.receive(Duration::from_millis(100), out).unwrap();
    }
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle {
        events.receive(Duration::from_millis(50), out).unwrap();
    }
}

/// Receive until every one of the `destroyed` sockets is either received (into `out`) or
/// counted lost, and assert that they are, exactly; the events lost.
fn account_for(events: &mut DestroyEvents, out: &mut Vec<DestroyEvent>, destroyed: usize) -> u64 {
    let destroyed = destroyed as u64;
    receive_until(events, out, |n, lost| n as u64 + lost == destroyed);
    let lost = events.lost();
    assert_eq!(out.len() as u64 + lost, destroyed, "{} received", out.len());
    lost
}

#[test]
fn every_closed_connection_brings_one_destroy_event_per_side_with_its_bytes() {
    if !require_root("every_closed_connection_brings_one_destroy_event_per_side_with_its_bytes") {
        return;
    }
    let connections: usize = 200;
    let lab = TestNetns::new("events");
    let mut events = DestroyEvents::open(&lab.target(), ROOMY).unwrap();
    assert_eq!(events.buffer(), ROOMY, "SO_RCVBUFFORCE, as root");
    let listener = listen(&lab);
    let port = listener.local_addr().unwrap().port();
    converse(&lab, &listener, connections);
    let mut out = Vec::new();
    receive_until(&mut events, &mut out, |n, _| n >= 2 * connections);

    assert_eq!(out.len(), 2 * connections);
    assert_eq!(events.lost(), 0);
    let (servers, clients): (Vec<&DestroyEvent>, Vec<&DestroyEvent>) =
        out.iter().partition(|e| e.socket.local.port() == port);
    assert_eq!(servers.len(), connections);
    assert_eq!(clients.len(), connections);
    assert!(clients.iter().all(|e| e.socket.remote.port() == port));
    assert!(out.iter().all(|e| e.socket.state == TcpState::Close));
    let cookies: HashSet<u64> = out.iter().map(|e| e.socket.cookie).collect();
    assert_eq!(cookies.len(), 2 * connections, "one event per socket");

    // The stream's bytes, and its FINs: each side counts the peer's FIN received and its
    // own acknowledged; the client's SYN counts as acknowledged too (the accepted side's
    // SYN-ACK was sent before it existed).
    let info = |e: &DestroyEvent| e.tcp_info.expect("tcp_info with every event");
    let by_client_port: HashMap<u16, TcpInfo> = servers
        .iter()
        .map(|e| (e.socket.remote.port(), info(e)))
        .collect();
    for client in &clients {
        let mine = info(client);
        assert_eq!(
            (mine.bytes_acked, mine.bytes_received),
            (SENT.len() as u64 + 2, ANSWERED.len() as u64 + 1),
            "{mine:?}"
        );
        let theirs = by_client_port[&client.socket.local.port()];
        assert_eq!(
            (theirs.bytes_acked, theirs.bytes_received),
            (ANSWERED.len() as u64 + 1, SENT.len() as u64 + 1),
            "{theirs:?}"
        );
        // Loopback loses nothing: what one side sent, the other received (the server's
        // side counts the SYN it was made from, not the SYN-ACK sent on its behalf).
        assert_eq!(mine.segs_out, theirs.segs_in, "{mine:?} {theirs:?}");
        assert_eq!(mine.segs_in, theirs.segs_out + 1, "{mine:?} {theirs:?}");
    }

    // The listener is a full socket too: one more event, with no peer.
    drop(listener);
    let mut last = Vec::new();
    receive_until(&mut events, &mut last, |n, _| n >= 1);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].socket.local.port(), port);
    assert_eq!(last[0].socket.remote.port(), 0);
    assert_eq!(events.lost(), 0);
}

#[test]
fn ipv6_sockets_come_through_their_own_group() {
    if !require_root("ipv6_sockets_come_through_their_own_group") {
        return;
    }
    let lab = TestNetns::new("events-v6");
    let mut events = DestroyEvents::open(&lab.target(), ROOMY).unwrap();
    let listener = lab.enter(|| TcpListener::bind("[::1]:0").unwrap());
    let port = listener.local_addr().unwrap().port();
    converse(&lab, &listener, 3);
    let mut out = Vec::new();
    receive_until(&mut events, &mut out, |n, _| n >= 6);
    assert_eq!(out.len(), 6, "{out:?}");
    assert!(out.iter().all(|e| e.socket.family == Family::Inet6
        && e.socket.local.get().ip() == std::net::Ipv6Addr::LOCALHOST
        && (e.socket.local.port() == port || e.socket.remote.port() == port)));
    assert_eq!(events.lost(), 0);
}

#[test]
fn a_full_buffer_drops_events_and_lost_counts_each_one() {
    if !require_root("a_full_buffer_drops_events_and_lost_counts_each_one") {
        return;
    }
    let connections: usize = 200;
    let lab = TestNetns::new("events-lost");
    // The smallest buffer the kernel grants: 2,304 bytes on 6.18, one event.
    let mut events = DestroyEvents::open(&lab.target(), 0).unwrap();
    assert!(events.buffer() < 4096, "{}", events.buffer());
    let listener = listen(&lab);
    converse(&lab, &listener, connections);
    let mut out = Vec::new();
    let lost = account_for(&mut events, &mut out, 2 * connections);
    assert!(
        lost > 0 && !out.is_empty(),
        "{} received, {lost} lost",
        out.len()
    );
}

#[test]
fn events_received_while_others_are_dropped_add_up_with_the_lost() {
    if !require_root("events_received_while_others_are_dropped_add_up_with_the_lost") {
        return;
    }
    let connections: usize = 300;
    let lab = TestNetns::new("events-mixed");
    // Eight events' room, read by a slow reader while the connections close: ENOBUFS
    // comes and goes, and every event is either received or counted lost.
    let events = DestroyEvents::open(&lab.target(), 8 * 1280).unwrap();
    let listener = listen(&lab);
    let closing = std::sync::atomic::AtomicBool::new(true);
    let (mut events, mut out) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut events = events;
            let mut out = Vec::new();
            while closing.load(std::sync::atomic::Ordering::Relaxed) {
                events.receive(Duration::from_millis(5), &mut out).unwrap();
                std::thread::sleep(Duration::from_millis(3));
            }
            (events, out)
        });
        converse(&lab, &listener, connections);
        closing.store(false, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    account_for(&mut events, &mut out, 2 * connections);
    let cookies: HashSet<u64> = out.iter().map(|e| e.socket.cookie).collect();
    assert_eq!(cookies.len(), out.len(), "no event received twice");
}

#[test]
fn another_namespaces_destroyed_sockets_are_not_received() {
    if !require_root("another_namespaces_destroyed_sockets_are_not_received") {
        return;
    }
    let watched = TestNetns::new("events-watched");
    let other = TestNetns::new("events-other");
    let path = Path::new(netns::NETNS_RUN_DIR).join(watched.name());
    let handle = File::open(&path).unwrap();
    let mut events = DestroyEvents::open_in(&handle, &path, ROOMY).unwrap();
    let elsewhere = listen(&other);
    converse(&other, &elsewhere, 20);
    // One conversation in the watched namespace after them: its two events come after
    // any of the other's that were (wrongly) received.
    let here = listen(&watched);
    let port = here.local_addr().unwrap().port();
    converse(&watched, &here, 1);
    let mut out = Vec::new();
    receive_until(&mut events, &mut out, |n, _| n >= 2);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out.iter()
            .all(|e| e.socket.local.port() == port || e.socket.remote.port() == port),
        "{out:?}"
    );
    assert_eq!(events.lost(), 0);
}

#[test]
fn receiving_waits_at_most_as_long_as_asked() {
    if !require_root("receiving_waits_at_most_as_long_as_asked") {
        return;
    }
    let lab = TestNetns::new("events-wait");
    let mut events = DestroyEvents::open(&lab.target(), ROOMY).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    assert_eq!(events.receive(Duration::ZERO, &mut out).unwrap(), 0);
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    let started = Instant::now();
    assert_eq!(
        events
            .receive(Duration::from_millis(200), &mut out)
            .unwrap(),
        0
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(out.is_empty());
}

/// `/proc/net/netlink` of a test namespace on 6.18, after the subscription of inode
/// 19864765 (a buffer of one event) saw 100 sockets destroyed: one event queued (Rmem
/// 1280), 99 dropped. Inode 19865936 is a roomy subscription that took all 100.
const NETLINK_TABLE_SAMPLE: &str = "\
sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode
00000000e8918f33 0   0          00000000 0        0        0     2        0        19865917
0000000009fa0a3a 4   11711      00000005 128000   0        0     2        0        19865936
000000007d1e576a 4   3279576254 00000005 1280     0        0     2        99       19864765
00000000637cb288 4   0          00000000 0        0        0     2        0        19865923
00000000fdec2c44 12  0          00000000 0        0        0     2        0        19865924
";

#[test]
fn a_sockets_drops_are_read_from_its_line_of_proc_net_netlink() {
    let table = NETLINK_TABLE_SAMPLE.as_bytes();
    assert_eq!(drops_of(table, 19_864_765), Some(99));
    assert_eq!(drops_of(table, 19_865_936), Some(0));
    assert_eq!(drops_of(table, 1_986_476), None, "no such inode");
    assert_eq!(drops_of(b"", 19_864_765), None);
    let columns_moved = "Inode Drops\n19864765 7\n";
    assert_eq!(drops_of(columns_moved.as_bytes(), 19_864_765), Some(7));
    assert_eq!(
        drops_of(b"Inode Rmem\n19864765 7\n", 19_864_765),
        None,
        "no Drops"
    );
}

#[test]
fn the_kernels_32_bit_drop_counter_is_totalled_across_its_wrap() {
    let mut drops = DropCount {
        last: u32::MAX - 1,
        total: 0,
    };
    drops.advance(u32::MAX);
    drops.advance(2);
    drops.advance(2);
    assert_eq!(drops.total, 4);
}
