use std::fmt::Write as _;
use std::os::unix::fs::symlink;
use std::path::Path;

use super::cache::parse_start_time;
use super::identity::cmdline_text;
use super::scan::{ScanFailure, classify, socket_inode};
use super::*;
use crate::collect::testutil::{in_child, require_root};
use crate::collect::{CollectOptions, Collector, SocketSource};
use crate::model::fixture::socket;
use crate::model::{Process, Socket, TcpState};
use rustix::io::Errno;
use walk::Walk;

mod churn;

/// A fake proc root: `PID/fd/N` symlinks, `PID/comm`, `PID/cmdline`, `PID/stat`.
struct FakeProc {
    dir: tempfile::TempDir,
}

impl FakeProc {
    fn new() -> FakeProc {
        FakeProc {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn process(&self, pid: u32, comm: &str, cmdline: &[u8], start_time: u64, fds: &[&str]) {
        let dir = self.root().join(pid.to_string());
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        self.set_identity(pid, comm, cmdline, start_time);
        for (n, target) in fds.iter().enumerate() {
            symlink(target, dir.join("fd").join(n.to_string())).unwrap();
        }
    }

    fn set_identity(&self, pid: u32, comm: &str, cmdline: &[u8], start_time: u64) {
        let dir = self.root().join(pid.to_string());
        std::fs::write(dir.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(dir.join("cmdline"), cmdline).unwrap();
        std::fs::write(
            dir.join("stat"),
            format!(
                "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {start_time} 1000 50 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0\n"
            ),
        )
        .unwrap();
    }
}

fn owner_pids(snapshot: &Snapshot, index: usize) -> Vec<u32> {
    snapshot
        .owners(&snapshot.sockets[index])
        .map(|p| p.pid)
        .collect()
}

#[test]
fn shared_inodes_list_every_holder_by_pid_and_inode_zero_belongs_to_nobody() {
    let fake = FakeProc::new();
    fake.process(
        200,
        "worker",
        b"nginx: worker\0",
        5000,
        &["socket:[1001]", "socket:[1002]", "socket:[1001]"],
    );
    fake.process(
        100,
        "nginx",
        b"/usr/sbin/nginx\0-g\0daemon off;\0",
        4000,
        &["/dev/null", "socket:[1001]", "socket:[5555]", "pipe:[77]"],
    );
    fake.process(300, "unrelated", b"sleep\0", 6000, &["socket:[5555]"]);
    std::fs::create_dir_all(fake.root().join("self")).unwrap();

    let mut snapshot = Snapshot {
        sockets: vec![
            socket(TcpState::Listen).inode(1001),
            socket(TcpState::TimeWait).inode(0),
            socket(TcpState::Established).inode(1002),
            socket(TcpState::SynRecv).inode(0),
            socket(TcpState::CloseWait).inode(9999),
        ],
        ..Snapshot::default()
    };
    let mut attributor = Attributor::with_proc_root(fake.root());
    attributor.attribute(&mut snapshot);

    assert_eq!(
        snapshot.processes,
        vec![
            Process {
                pid: 100,
                comm: "nginx".to_owned(),
                cmdline: "/usr/sbin/nginx -g daemon off;".to_owned(),
                descriptors: Some(4),
                fd_limit: None,
            },
            Process {
                pid: 200,
                comm: "worker".to_owned(),
                cmdline: "nginx: worker".to_owned(),
                descriptors: Some(3),
                fd_limit: None,
            },
        ]
    );
    assert_eq!(owner_pids(&snapshot, 0), [100, 200]);
    assert_eq!(owner_pids(&snapshot, 2), [200]);
    for no_owner in [1, 3, 4] {
        assert_eq!(snapshot.sockets[no_owner].owners, Owners::default());
    }
    assert_eq!(snapshot.owner_index, [0, 1, 1]);
    assert_eq!(snapshot.attribution, Attribution::Complete);
    assert_eq!(attributor.cached_processes(), 2);
}

#[test]
fn unreadable_fd_dirs_are_counted_and_vanished_processes_are_not() {
    let fake = FakeProc::new();
    fake.process(10, "server", b"server\0", 1, &["socket:[42]"]);
    // A descriptor table that cannot be opened (a symlink loop stands in for EACCES).
    std::fs::create_dir_all(fake.root().join("20")).unwrap();
    symlink("fd", fake.root().join("20/fd")).unwrap();
    // A process that exited between the listing and the fd walk.
    std::fs::create_dir_all(fake.root().join("30")).unwrap();
    // A process that exited after its descriptors were read: no comm, no stat.
    std::fs::create_dir_all(fake.root().join("40/fd")).unwrap();
    symlink("socket:[42]", fake.root().join("40/fd/3")).unwrap();

    let mut snapshot = Snapshot {
        sockets: vec![socket(TcpState::Listen).inode(42)],
        ..Snapshot::default()
    };
    // Socket 43 is held by no readable table: pid 20's may hold it.
    snapshot
        .sockets
        .push(socket(TcpState::Established).inode(43));
    Attributor::with_proc_root(fake.root()).attribute(&mut snapshot);
    assert_eq!(snapshot.attribution, Attribution::Partial { unreadable: 1 });
    assert_eq!(owner_pids(&snapshot, 0), [10]);
    assert_eq!(snapshot.processes.len(), 1);
}

#[test]
fn an_unreadable_table_makes_attribution_partial_only_if_a_socket_lacks_its_owner() {
    let fake = FakeProc::new();
    fake.process(10, "server", b"server\0", 1, &["socket:[42]"]);
    std::fs::create_dir_all(fake.root().join("20")).unwrap();
    symlink("fd", fake.root().join("20/fd")).unwrap();
    let mut attributor = Attributor::with_proc_root(fake.root());
    // Every socket with an inode has its owner, and timewait sockets (inode 0) have none
    // to find: nothing the unreadable process holds can be missing.
    let mut snapshot = Snapshot {
        sockets: vec![
            socket(TcpState::Listen).inode(42),
            socket(TcpState::TimeWait).inode(0),
        ],
        ..Snapshot::default()
    };
    attributor.attribute(&mut snapshot);
    assert_eq!(snapshot.attribution, Attribution::Complete);
    assert_eq!(owner_pids(&snapshot, 0), [10]);
    // A socket no readable table holds makes it partial, naming the unreadable process.
    let mut snapshot = Snapshot {
        sockets: vec![
            socket(TcpState::Listen).inode(42),
            socket(TcpState::Established).inode(77),
        ],
        ..Snapshot::default()
    };
    attributor.attribute(&mut snapshot);
    assert_eq!(snapshot.attribution, Attribution::Partial { unreadable: 1 });
}

#[test]
fn permission_errors_count_as_unreadable_and_exits_as_vanished() {
    assert_eq!(classify(Errno::ACCESS), ScanFailure::Unreadable);
    assert_eq!(classify(Errno::PERM), ScanFailure::Unreadable);
    assert_eq!(classify(Errno::LOOP), ScanFailure::Unreadable);
    assert_eq!(classify(Errno::NOENT), ScanFailure::Vanished);
    assert_eq!(classify(Errno::SRCH), ScanFailure::Vanished);
}

#[test]
fn cached_identity_is_reused_until_the_pid_gets_a_new_start_time() {
    let fake = FakeProc::new();
    fake.process(7, "old", b"old\0", 111, &["socket:[5]"]);
    let mut snapshot = Snapshot {
        sockets: vec![socket(TcpState::Established).inode(5)],
        ..Snapshot::default()
    };
    let mut attributor = Attributor::with_proc_root(fake.root());
    attributor.attribute(&mut snapshot);
    assert_eq!(snapshot.processes[0].comm, "old");

    // Same start time: the comm file is not read again (the cache answers).
    std::fs::write(fake.root().join("7/comm"), "renamed\n").unwrap();
    attributor.attribute(&mut snapshot);
    assert_eq!(snapshot.processes[0].comm, "old");

    // The pid now belongs to another process.
    fake.set_identity(7, "new", b"new\0--flag\0", 222);
    attributor.attribute(&mut snapshot);
    assert_eq!(snapshot.processes[0].comm, "new");
    assert_eq!(snapshot.processes[0].cmdline, "new --flag");
    assert_eq!(owner_pids(&snapshot, 0), [7]);
    assert_eq!(
        snapshot.owner_index,
        [0],
        "a second attribution starts over"
    );

    // Processes that no longer hold snapshot sockets leave the cache.
    snapshot.sockets[0].inode = 6;
    attributor.attribute(&mut snapshot);
    assert!(snapshot.processes.is_empty());
    assert_eq!(attributor.cached_processes(), 0);
}

fn snapshot_of(inodes: &[u32]) -> Snapshot {
    Snapshot {
        sockets: inodes
            .iter()
            .map(|i| socket(TcpState::Established).inode(*i))
            .collect(),
        ..Snapshot::default()
    }
}

fn owners_by_socket(snapshot: &Snapshot) -> Vec<Vec<u32>> {
    (0..snapshot.sockets.len())
        .map(|i| owner_pids(snapshot, i))
        .collect()
}

#[test]
fn a_poll_without_churn_reads_no_descriptor_table() {
    let fake = FakeProc::new();
    fake.process(10, "a", b"a\0", 1, &["socket:[1]", "/dev/null"]);
    fake.process(11, "b", b"b\0", 2, &["socket:[2]", "socket:[3]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let mut snapshot = snapshot_of(&[1, 2, 3]);
    attributor.attribute(&mut snapshot);
    assert_eq!(
        attributor.last_walk(),
        WalkStats {
            processes: 2,
            tables_read: 2,
            descriptors_read: 4,
            unreadable: 0
        }
    );
    let mut again = snapshot_of(&[1, 2, 3]);
    attributor.attribute(&mut again);
    assert_eq!(
        attributor.last_walk(),
        WalkStats {
            processes: 2,
            tables_read: 0,
            descriptors_read: 0,
            unreadable: 0
        }
    );
    assert_eq!(owners_by_socket(&again), [vec![10], vec![11], vec![11]]);
    assert_eq!(again.processes, snapshot.processes);
}

#[test]
fn a_socket_opened_after_the_first_poll_is_picked_up() {
    let fake = FakeProc::new();
    fake.process(10, "server", b"server\0", 1, &["socket:[1]"]);
    fake.process(11, "idle", b"idle\0", 2, &["/dev/null"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    attributor.attribute(&mut snapshot_of(&[1]));

    // Same descriptor count on this file system (a directory's size does not follow its
    // entries here): the socket nobody is known to hold sends the walk looking for it.
    symlink("socket:[2]", fake.root().join("10/fd/1")).unwrap();
    let mut snapshot = snapshot_of(&[1, 2]);
    attributor.attribute(&mut snapshot);
    assert_eq!(owners_by_socket(&snapshot), [vec![10], vec![10]]);
    assert_eq!(
        attributor.last_walk().tables_read,
        1,
        "the busiest process first, then stop"
    );

    // A socket nobody visible holds is searched for once, not at every poll.
    let mut snapshot = snapshot_of(&[1, 2, 99]);
    attributor.attribute(&mut snapshot);
    assert_eq!(attributor.last_walk().tables_read, 2);
    attributor.attribute(&mut snapshot);
    assert_eq!(attributor.last_walk().tables_read, 0);
    assert_eq!(owners_by_socket(&snapshot), [vec![10], vec![10], vec![]]);
}

#[test]
fn a_process_started_during_the_dump_is_read_after_it() {
    let fake = FakeProc::new();
    fake.process(10, "server", b"server\0", 1, &["socket:[1]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let dumped: Result<Snapshot, Infallible> = attributor.attribute_during(|| {
        // The pids were listed before the dump began: the walk cannot see this one.
        fake.process(12, "worker", b"worker\0", 5, &["socket:[7]", "/dev/null"]);
        Ok(snapshot_of(&[1, 7]))
    });
    let Ok(snapshot) = dumped;
    assert_eq!(owners_by_socket(&snapshot), [vec![10], vec![12]]);
    assert_eq!(
        attributor.last_walk(),
        WalkStats {
            processes: 1,
            tables_read: 2,
            descriptors_read: 3,
            unreadable: 0
        }
    );
    assert_eq!(snapshot.processes[1].comm, "worker");

    // Nothing missing: nothing listed or read again after the dump.
    let mut again = snapshot_of(&[1, 7]);
    attributor.attribute(&mut again);
    assert_eq!(attributor.last_walk().tables_read, 0);
    assert_eq!(owners_by_socket(&again), [vec![10], vec![12]]);
}

#[test]
fn a_pid_that_exits_disappears_with_its_sockets_owners() {
    let fake = FakeProc::new();
    fake.process(10, "stays", b"stays\0", 1, &["socket:[1]"]);
    fake.process(20, "leaves", b"leaves\0", 2, &["socket:[2]", "socket:[1]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let mut snapshot = snapshot_of(&[1, 2]);
    attributor.attribute(&mut snapshot);
    assert_eq!(owners_by_socket(&snapshot), [vec![10, 20], vec![20]]);
    assert_eq!(attributor.cached_processes(), 2);

    std::fs::remove_dir_all(fake.root().join("20")).unwrap();
    attributor.attribute(&mut snapshot);
    assert_eq!(owners_by_socket(&snapshot), [vec![10], vec![]]);
    assert_eq!(snapshot.processes.len(), 1);
    assert_eq!(attributor.cached_processes(), 1);
}

#[test]
fn a_pid_reused_with_another_start_time_is_read_again() {
    let fake = FakeProc::new();
    fake.process(60, "first", b"first\0", 100, &["socket:[5]"]);
    fake.process(61, "peer", b"peer\0", 100, &["socket:[6]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let mut snapshot = snapshot_of(&[5, 6]);
    attributor.attribute(&mut snapshot);
    assert_eq!(owners_by_socket(&snapshot), [vec![60], vec![61]]);

    // Pid 60 now belongs to a new process holding a socket the cache already explains
    // (through pid 61), with as many descriptors as before: only the start time tells.
    std::fs::remove_file(fake.root().join("60/fd/0")).unwrap();
    symlink("socket:[6]", fake.root().join("60/fd/0")).unwrap();
    fake.set_identity(60, "second", b"second\0", 200);
    let mut snapshot = snapshot_of(&[6]);
    attributor.attribute(&mut snapshot);
    assert_eq!(owners_by_socket(&snapshot), [vec![60, 61]]);
    assert_eq!(snapshot.processes[0].comm, "second");
    assert_eq!(attributor.last_walk().tables_read, 1);
}

#[test]
fn a_shared_socket_closed_by_one_holder_with_no_count_change_is_dropped_at_the_recheck() {
    // The documented limit: pid 70 closes its copy of socket 8 (still held by 71) and
    // opens a pipe in the same poll interval. Its count does not change and socket 8 is
    // still explained, so 70 stays listed until its table is re-read.
    let fake = FakeProc::new();
    fake.process(70, "closer", b"closer\0", 1, &["socket:[8]"]);
    fake.process(71, "keeper", b"keeper\0", 1, &["socket:[8]"]);
    let mut attributor = Attributor::with_proc_root(fake.root());
    let mut snapshot = snapshot_of(&[8]);
    attributor.attribute(&mut snapshot);
    std::fs::remove_file(fake.root().join("70/fd/0")).unwrap();
    symlink("pipe:[1]", fake.root().join("70/fd/0")).unwrap();
    let mut polls = 1;
    while owners_by_socket(&snapshot) != [vec![71]] {
        attributor.attribute(&mut snapshot);
        polls += 1;
        assert!(polls <= 2 * cache::RECHECK_POLLS, "never re-read");
    }
    // Pid 70's table is re-read RECHECK_POLLS + 70 % RECHECK_POLLS polls after the first.
    assert_eq!(polls, 1 + cache::RECHECK_POLLS + 70 % cache::RECHECK_POLLS);
}

/// `/proc/PID/limits` as Linux writes it, with `soft` open files.
fn limits_text(soft: u64) -> String {
    let mut text = String::from(
        "Limit                     Soft Limit           Hard Limit           Units     \n",
    );
    for (name, soft, hard, units) in [
        ("Max cpu time", "unlimited", "unlimited", "seconds"),
        ("Max file size", "unlimited", "unlimited", "bytes"),
        ("Max data size", "unlimited", "unlimited", "bytes"),
        ("Max stack size", "8388608", "unlimited", "bytes"),
        ("Max core file size", "0", "unlimited", "bytes"),
        ("Max resident set", "unlimited", "unlimited", "bytes"),
        ("Max processes", "96363", "96363", "processes"),
        ("Max open files", &soft.to_string(), "20000", "files"),
        ("Max locked memory", "8388608", "8388608", "bytes"),
        ("Max address space", "unlimited", "unlimited", "bytes"),
        ("Max file locks", "unlimited", "unlimited", "locks"),
        ("Max pending signals", "96363", "96363", "signals"),
        ("Max msgqueue size", "819200", "819200", "bytes"),
        ("Max nice priority", "0", "0", ""),
        ("Max realtime priority", "0", "0", ""),
        ("Max realtime timeout", "unlimited", "unlimited", "us"),
    ] {
        let _ = writeln!(text, "{name:<26}{soft:<21}{hard:<21}{units:<10}");
    }
    text
}

#[test]
fn the_open_file_limit_is_read_again_when_due_or_while_half_used() {
    let fake = FakeProc::new();
    // Pid 90 uses 2 descriptors of 1024; pid 91 uses 2 of 4.
    fake.process(90, "far", b"far\0", 1, &["socket:[9]", "/dev/null"]);
    fake.process(91, "near", b"near\0", 1, &["socket:[10]", "/dev/null"]);
    std::fs::write(fake.root().join("90/limits"), limits_text(1024)).unwrap();
    std::fs::write(fake.root().join("91/limits"), limits_text(4)).unwrap();
    let mut attributor = Attributor::with_proc_root(fake.root());
    let mut snapshot = snapshot_of(&[9, 10]);
    let mut limits = |attributor: &mut Attributor| {
        attributor.attribute(&mut snapshot);
        snapshot
            .processes
            .iter()
            .map(|p| (p.pid, p.descriptors, p.fd_limit))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        limits(&mut attributor),
        [(90, Some(2), Some(1024)), (91, Some(2), Some(4))]
    );
    // prlimit on both: the one at half its limit shows it at the next poll, the other
    // when its re-check comes, RECHECK_POLLS + 90 % RECHECK_POLLS polls after the first.
    std::fs::write(fake.root().join("90/limits"), limits_text(2048)).unwrap();
    std::fs::write(fake.root().join("91/limits"), limits_text(3)).unwrap();
    assert_eq!(
        limits(&mut attributor),
        [(90, Some(2), Some(1024)), (91, Some(2), Some(3))]
    );
    // Without a limits file (or unlimited), the limit is unknown.
    std::fs::remove_file(fake.root().join("91/limits")).unwrap();
    assert_eq!(limits(&mut attributor)[1], (91, Some(2), None));
    let mut polls = 3;
    while limits(&mut attributor)[0].2 == Some(1024) {
        polls += 1;
        assert!(polls <= 2 * cache::RECHECK_POLLS + 1, "never read again");
    }
    assert_eq!(
        polls + 1,
        1 + cache::RECHECK_POLLS + 90 % cache::RECHECK_POLLS
    );
}

#[test]
fn a_table_is_trusted_only_for_the_same_process_with_a_known_unchanged_count() {
    use walk::still_valid;
    let cached = (Some(100), 12, 50);
    assert!(still_valid(cached, Some(100), 12, 49, true));
    assert!(
        !still_valid(cached, Some(101), 12, 49, true),
        "another process"
    );
    assert!(
        !still_valid(cached, Some(100), 13, 49, true),
        "a descriptor more"
    );
    assert!(
        !still_valid(cached, Some(100), 12, 50, true),
        "due for a re-read"
    );
    assert!(
        !still_valid(cached, None, 12, 49, true),
        "start time unreadable"
    );
    let kernel_thread = (Some(100), 0, 50);
    assert!(
        still_valid(kernel_thread, Some(100), 0, 49, true),
        "no descriptors"
    );
    assert!(
        !still_valid(kernel_thread, Some(100), 0, 49, false),
        "count unknown (before 6.2)"
    );
}

#[test]
fn a_socket_on_a_high_descriptor_number_is_found_past_the_holes() {
    // Its own process's table (readable without root): a socket moved to descriptor
    // 4000 (or as high as the hard open-file limit allows) leaves a long run of unused
    // numbers below it. CI's soft limit can be 1024, so it is raised to the hard one first,
    // in a child process so that no other test sees the change.
    in_child(|| {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
        let number = i32::try_from(hard.min(4001) - 1).unwrap();
        assert!(
            number >= 500,
            "hard open-file limit {hard} is too low for this test"
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let high = rustix::io::fcntl_dupfd_cloexec(&listener, number).unwrap();
        assert_eq!(rustix::fd::AsRawFd::as_raw_fd(&high), number);
        drop(listener);
        let inode = rustix::fs::fstat(&high).unwrap().st_ino as u32;
        let mut snapshot = snapshot_of(&[inode]);
        Attributor::new().attribute(&mut snapshot);
        assert_eq!(owners_by_socket(&snapshot), [vec![std::process::id()]]);
    });
}

#[test]
fn a_descriptor_opened_after_the_count_does_not_hide_the_highest_one() {
    // The count is taken before the table is read. A descriptor opened since then in a
    // lower hole used to make the probe reach the count one entry early and stop there,
    // so the socket on the highest number went unseen (this test's own walk threads open
    // descriptors in its table, which made the test above fail now and then).
    // The table it reads is its process's: in a child process, so that it holds this
    // test's sockets only, and no other test's limit change moves its ceiling.
    in_child(|| {
        use super::scan::FdScanner;
        use rustix::fs::{Mode, OFlags, open};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let high = rustix::io::fcntl_dupfd_cloexec(&listener, 900).unwrap();
        drop(listener);
        let inode = rustix::fs::fstat(&high).unwrap().st_ino as u32;
        let proc_dir = open("/proc", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let mut scanner = FdScanner::new();
        let pid = std::process::id();
        let count = scanner.fd_count(&proc_dir, pid).unwrap();
        if count == 0 {
            eprintln!("SKIP: this kernel reports no descriptor count (Linux 6.2 and later do)");
            assert!(std::env::var_os("CI").is_none(), "CI must not skip");
            return;
        }
        let _opened_since = open("/dev/null", OFlags::RDONLY, Mode::empty()).unwrap();
        let mut inodes = Vec::new();
        scanner
            .socket_inodes(&proc_dir, pid, count, &mut inodes)
            .unwrap();
        assert_eq!(inodes, [inode]);
    });
}

#[test]
fn missing_proc_root_skips_attribution() {
    let mut snapshot = Snapshot {
        sockets: vec![socket(TcpState::Listen).inode(1)],
        ..Snapshot::default()
    };
    Attributor::with_proc_root("/nonexistent/sockscope-proc").attribute(&mut snapshot);
    assert_eq!(snapshot.attribution, Attribution::Skipped);
}

#[test]
fn socket_link_targets_parse_and_others_do_not() {
    assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
    assert_eq!(socket_inode(b"socket:[4294967295]"), Some(u32::MAX));
    for other in [
        &b"socket:[4294967296]"[..],
        b"socket:[]",
        b"socket:[12a]",
        b"socket:[123",
        b"pipe:[123]",
        b"/tmp/socket:[1]",
        b"anon_inode:[eventfd]",
    ] {
        assert_eq!(
            socket_inode(other),
            None,
            "{}",
            String::from_utf8_lossy(other)
        );
    }
}

#[test]
fn stat_comm_and_cmdline_texts() {
    let stat = b"42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 50\n";
    assert_eq!(parse_start_time(stat), Some(98765));
    assert_eq!(parse_start_time(b"42 (short) S 1"), None);
    assert_eq!(cmdline_text(b"a\0b c\0\0"), "a b c");
    assert_eq!(cmdline_text(b""), "");
    assert_eq!(cmdline_text(b"\0"), "");
}

#[test]
fn a_listener_of_this_process_is_attributed_to_it() {
    if !require_root("a_listener_of_this_process_is_attributed_to_it") {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let local = listener.local_addr().unwrap();
    let mut collector = Collector::open(CollectOptions::default()).unwrap();
    let snapshot = collector.poll().unwrap();
    let socket = snapshot
        .sockets
        .iter()
        .find(|s| s.state == TcpState::Listen && s.local == local)
        .unwrap_or_else(|| panic!("no listener on {local}"));
    let owners: Vec<&Process> = snapshot.owners(socket).collect();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!(owners[0].pid, std::process::id());
    assert_eq!(owners[0].comm, comm.trim_end());
    assert!(!owners[0].cmdline.is_empty());
    // Even root can be refused another process's descriptors (no CAP_SYS_PTRACE in a
    // sandbox: here pid 1 lists its fd directory but every readlink is EACCES). Count
    // such processes independently and expect the same number.
    // They count only while some socket of the namespace has no owner that could be read.
    let unexplained = snapshot
        .sockets
        .iter()
        .any(|s| s.inode != 0 && s.owners.len == 0);
    let expected = if unexplained {
        unreadable_processes()
    } else {
        0
    };
    let reported = match snapshot.attribution {
        Attribution::Complete => 0,
        Attribution::Partial { unreadable } => unreadable,
        Attribution::Skipped => panic!("attribution skipped"),
    };
    assert_eq!(reported, expected);
}

/// Processes whose descriptors cannot be listed or read (not merely gone).
fn unreadable_processes() -> u32 {
    let refused = |e: &std::io::Error| e.kind() != std::io::ErrorKind::NotFound;
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let fd_dir = entry.path().join("fd");
        let unreadable = match std::fs::read_dir(&fd_dir) {
            Err(e) => refused(&e),
            Ok(fds) => fds
                .flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_err_and(|e| refused(&e))),
        };
        count += u32::from(unreadable);
    }
    count
}
