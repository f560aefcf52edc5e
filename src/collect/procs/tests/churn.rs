//! A process that closes one connection and accepts (or opens) another into the same
//! descriptor slot while a poll runs: its start time and descriptor count do not change, so
//! only the bounded re-read after the dump finds the new socket's owner.

use super::*;

/// One poll in an order the two threads allow and a test cannot otherwise force: the walk
/// reads every table it reads (here, on this thread) before the dump ends; `during_dump`
/// is what the processes do meanwhile; then `dumped` is attributed.
fn attribute_walk_first(
    attributor: &mut Attributor,
    mut dumped: Snapshot,
    during_dump: impl FnOnce(),
) -> Snapshot {
    let (proc_dir, counts_known) = attributor.begin_poll().unwrap();
    let outcomes = Walk::new(
        &proc_dir,
        &attributor.pids,
        &attributor.cache,
        attributor.poll,
        counts_known,
    )
    .run(&mut attributor.scanners[0]);
    during_dump();
    attributor.end_walk(outcomes);
    let parts = [dumped.sockets.len()];
    attributor.finish(&proc_dir, counts_known, &parts, &mut dumped);
    dumped
}

fn socket_at(state: TcpState, local: &str, inode: u32) -> Socket {
    let mut s = Socket::new(
        state,
        local.parse().unwrap(),
        "192.0.2.9:40000".parse().unwrap(),
    );
    s.inode = inode;
    s
}

/// Make descriptor `fd` of `pid` point at `target` instead: closed and opened again in the
/// same slot, the count unchanged.
fn reopen(fake: &FakeProc, pid: u32, fd: u32, target: &str) {
    let link = fake.root().join(format!("{pid}/fd/{fd}"));
    std::fs::remove_file(&link).unwrap();
    symlink(target, link).unwrap();
}

#[test]
fn a_connection_accepted_into_a_closed_one_s_slot_during_the_dump_is_found_through_its_listener() {
    // An nginx worker under keep-alive churn: after the walk read its table (listener 1,
    // connection 2), it closes connection 2 and accepts connection 3 into the same
    // descriptor, before the dump reaches it. Same start time, same descriptor count.
    let fake = FakeProc::new();
    fake.process(
        40,
        "worker",
        b"nginx: worker\0",
        7,
        &["socket:[1]", "socket:[2]", "/dev/null"],
    );
    fake.process(41, "client", b"client\0", 8, &["socket:[5]"]);
    fake.process(42, "idle", b"idle\0", 9, &["/dev/null"]);
    let dumped = Snapshot {
        sockets: vec![
            socket_at(TcpState::Listen, "0.0.0.0:80", 1),
            socket_at(TcpState::Established, "10.0.0.1:80", 3),
            socket_at(TcpState::Established, "10.0.0.1:5000", 5),
        ],
        ..Snapshot::default()
    };
    let mut attributor = Attributor::with_proc_root(fake.root());
    let snapshot = attribute_walk_first(&mut attributor, dumped, || {
        reopen(&fake, 40, 1, "socket:[3]");
    });
    assert_eq!(owners_by_socket(&snapshot), [vec![40], vec![40], vec![41]]);
    assert_eq!(
        attributor.last_walk(),
        WalkStats {
            processes: 3,
            // The walk's three, then the listener's owner once more.
            tables_read: 4,
            descriptors_read: 3 + 1 + 1 + 3,
            unreadable: 0
        }
    );
    assert_eq!(snapshot.attribution, Attribution::Complete);
}

#[test]
fn a_polling_attributor_finds_a_connection_swapped_in_after_the_walk_re_read_the_table() {
    // The dashboard: pid 40's table is read at the first poll and then taken from the
    // cache (same start time, same count) until its re-check. At that poll the walk reads
    // it, and the worker swaps connection 2 for connection 3 before the dump ends.
    let fake = FakeProc::new();
    fake.process(40, "worker", b"worker\0", 7, &["socket:[1]", "socket:[2]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let sockets = |connection| Snapshot {
        sockets: vec![
            socket_at(TcpState::Listen, "0.0.0.0:80", 1),
            socket_at(TcpState::Established, "10.0.0.1:80", connection),
        ],
        ..Snapshot::default()
    };
    let recheck = 1 + cache::RECHECK_POLLS + 40 % cache::RECHECK_POLLS;
    for _ in 1..recheck {
        let mut snapshot = sockets(2);
        attributor.attribute(&mut snapshot);
        assert_eq!(owners_by_socket(&snapshot), [vec![40], vec![40]]);
    }
    assert_eq!(attributor.last_walk().tables_read, 0);
    let snapshot = attribute_walk_first(&mut attributor, sockets(3), || {
        reopen(&fake, 40, 1, "socket:[3]");
    });
    assert_eq!(attributor.poll, recheck);
    assert_eq!(owners_by_socket(&snapshot), [vec![40], vec![40]]);
    // The walk's re-check, then once more after the dump.
    assert_eq!(attributor.last_walk().tables_read, 2);
}

#[test]
fn a_client_that_replaced_a_connection_during_the_dump_is_found_among_the_namespace_s_holders() {
    // No listener explains an outgoing connection: the namespace's holders are read again,
    // the busiest first, until it is found.
    let fake = FakeProc::new();
    fake.process(
        50,
        "client",
        b"client\0",
        7,
        &["socket:[6]", "socket:[7]", "socket:[4]"],
    );
    fake.process(51, "other", b"other\0", 8, &["socket:[9]"]);
    fake.process(
        52,
        "busy",
        b"busy\0",
        9,
        &["socket:[10]", "socket:[11]", "socket:[12]"],
    );
    let dumped = Snapshot {
        sockets: [
            (40_001, 6),
            (40_002, 8),
            (40_003, 9),
            (40_004, 10),
            (40_005, 4),
        ]
        .into_iter()
        .chain([(40_006, 11), (40_007, 12)])
        .map(|(port, inode)| socket_at(TcpState::Established, &format!("10.0.0.1:{port}"), inode))
        .collect(),
        ..Snapshot::default()
    };
    let mut attributor = Attributor::with_proc_root(fake.root());
    let snapshot = attribute_walk_first(&mut attributor, dumped, || {
        reopen(&fake, 50, 1, "socket:[8]");
    });
    assert_eq!(
        owners_by_socket(&snapshot),
        [
            vec![50],
            vec![50],
            vec![51],
            vec![52],
            vec![50],
            vec![52],
            vec![52]
        ]
    );
    // The walk's three, then pid 52 (three sockets held) and pid 50 (two) again; pid 51
    // (one) is not reached.
    assert_eq!(attributor.last_walk().tables_read, 5);
}
