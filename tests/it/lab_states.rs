//! The lab builds every TCP state exactly, in both families, holds it, hands descriptors to
//! named holder processes, and leaves nothing behind. Needs root (skips loudly otherwise,
//! fails under CI=true).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sockscope::collect::netns::NetnsTarget;
use sockscope::collect::{CollectOptions, Collector, SocketSource};
use sockscope::lab::{Lab, require_root};
use sockscope::model::{Family, StateSet, TcpState};

fn new_lab() -> Lab {
    Lab::new(Path::new(env!("CARGO_BIN_EXE_sockscope"))).unwrap()
}

/// Distinct counts, so that a state counted as another shows.
const PLAN: [(TcpState, usize); 11] = [
    (TcpState::Established, 3),
    (TcpState::SynSent, 2),
    (TcpState::SynRecv, 4),
    (TcpState::FinWait1, 5),
    (TcpState::FinWait2, 6),
    (TcpState::TimeWait, 7),
    (TcpState::Close, 8),
    (TcpState::CloseWait, 9),
    (TcpState::LastAck, 10),
    (TcpState::Listen, 1),
    (TcpState::Closing, 11),
];

/// How `ss` spells a state.
fn ss_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Established => "ESTAB",
        TcpState::SynSent => "SYN-SENT",
        TcpState::SynRecv => "SYN-RECV",
        TcpState::FinWait1 => "FIN-WAIT-1",
        TcpState::FinWait2 => "FIN-WAIT-2",
        TcpState::TimeWait => "TIME-WAIT",
        TcpState::Close => "UNCONN",
        TcpState::CloseWait => "CLOSE-WAIT",
        TcpState::LastAck => "LAST-ACK",
        TcpState::Listen => "LISTEN",
        TcpState::Closing => "CLOSING",
    }
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// `ss -tanH` rows in `netns`, per state name.
fn ss_counts(netns: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in run(&["ip", "netns", "exec", netns, "ss", "-tanH"]).lines() {
        if let Some(state) = line.split_whitespace().next() {
            *counts.entry(state.to_owned()).or_default() += 1;
        }
    }
    counts
}

/// What `ss` should print for `expected`: every state but CLOSE (ss 6.1 does not ask the
/// kernel for bound-inactive sockets, so it prints no UNCONN row for them).
fn ss_expected(expected: &BTreeMap<(Family, TcpState), u64>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for ((_, state), n) in expected {
        if *state != TcpState::Close && *n > 0 {
            *counts.entry(ss_name(*state).to_owned()).or_default() += n;
        }
    }
    counts
}

/// sockscope's own collector (sock_diag, bound-inactive bit included) counts per state.
fn collector_counts(netns: &str) -> BTreeMap<(Family, TcpState), u64> {
    let mut collector = Collector::open(CollectOptions {
        netns: NetnsTarget::Named(netns.to_owned()),
        processes: false,
        states: StateSet::ALL,
        force_procnet: false,
        tcp_info: true,
        ..CollectOptions::default()
    })
    .unwrap();
    let snapshot = collector.poll().unwrap();
    let mut counts = BTreeMap::new();
    for (i, s) in snapshot.sockets.iter().enumerate() {
        *counts.entry((s.family, s.state)).or_default() += 1;
        // Connected and listening sockets have tcp_info, kept in the slot beside each;
        // TIME_WAIT and request sockets have none, nor do bound-only ones (CLOSE: the
        // kernel dumps those from its bind table, without it).
        let full = !matches!(
            s.state,
            TcpState::TimeWait | TcpState::SynRecv | TcpState::Close
        );
        assert_eq!(
            snapshot.tcp_info_at(i).is_some(),
            full,
            "tcp_info of the {} socket {}",
            s.state,
            s.local
        );
    }
    counts
}

fn every_state_is_exact_and_stable(family: Family) {
    let mut lab = new_lab();
    for (state, count) in PLAN {
        let staged = lab.stage(family, state, count, None).unwrap();
        assert_eq!(staged.count, count);
        let counted = if state == TcpState::Listen {
            count
        } else {
            staged.local.len()
        };
        assert_eq!(counted, count, "{state}: local endpoints");
        assert!(staged.local.iter().all(|a| a.ip() == staged.monitored_addr));
        let remote_expected = match state {
            TcpState::Listen | TcpState::Close => 0,
            _ => count,
        };
        assert_eq!(
            staged.remote.len(),
            remote_expected,
            "{state}: remote endpoints"
        );
    }
    let expected = lab.expected();
    let mut want: BTreeMap<(Family, TcpState), u64> = PLAN
        .iter()
        .map(|(s, n)| ((family, *s), *n as u64))
        .collect();
    // The SYN_RECV stage's listener.
    *want.entry((family, TcpState::Listen)).or_default() += 1;
    assert_eq!(expected, want);

    for round in 0..2 {
        if round == 1 {
            std::thread::sleep(Duration::from_secs(2));
        }
        assert_eq!(
            ss_counts(lab.monitored()),
            ss_expected(&expected),
            "ss -tanH, round {round}"
        );
        let family_flag = match family {
            Family::Inet => "-4",
            Family::Inet6 => "-6",
        };
        let out = run(&[
            "ip",
            "netns",
            "exec",
            lab.monitored(),
            "ss",
            "-tanH",
            family_flag,
        ]);
        assert_eq!(
            out.lines().count() as u64,
            ss_expected(&expected).values().sum::<u64>()
        );
        assert_eq!(
            collector_counts(lab.monitored()),
            expected,
            "sock_diag, round {round}"
        );
    }
}

#[test]
fn every_ipv4_state_is_exact_and_stable() {
    if require_root("every_ipv4_state_is_exact_and_stable") {
        every_state_is_exact_and_stable(Family::Inet);
    }
}

#[test]
fn every_ipv6_state_is_exact_and_stable() {
    if require_root("every_ipv6_state_is_exact_and_stable") {
        every_state_is_exact_and_stable(Family::Inet6);
    }
}

/// Socket inodes of `pid`'s descriptors.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().into_owned();
            t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Inodes of the sockets in `state` in `netns`, from /proc/net/tcp and tcp6 read inside it.
fn inodes_in_state(netns: &str, state: TcpState) -> BTreeSet<u64> {
    let st = format!("{:02X}", state.kernel_number());
    let mut inodes = BTreeSet::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in run(&["ip", "netns", "exec", netns, "cat", file])
            .lines()
            .skip(1)
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields[3] == st {
                inodes.insert(fields[9].parse().unwrap());
            }
        }
    }
    inodes
}

#[test]
fn holder_owns_exactly_its_close_wait_sockets() {
    if !require_root("holder_owns_exactly_its_close_wait_sockets") {
        return;
    }
    let mut lab = new_lab();
    let staged = lab
        .stage(Family::Inet, TcpState::CloseWait, 5, Some("leaky-app"))
        .unwrap();
    let pid = staged.holder.unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap(),
        "leaky-app\n"
    );
    let held = socket_inodes(pid);
    let close_wait = inodes_in_state(lab.monitored(), TcpState::CloseWait);
    assert_eq!(held.len(), 5, "holder sockets {held:?}");
    assert_eq!(held, close_wait);
    // The lab itself no longer holds them.
    let own = socket_inodes(std::process::id());
    assert!(own.is_disjoint(&held), "the lab kept copies of {held:?}");
}

fn namespaces() -> String {
    run(&["ip", "netns", "list"])
}

#[test]
fn dropping_the_lab_removes_namespaces_and_holders() {
    if !require_root("dropping_the_lab_removes_namespaces_and_holders") {
        return;
    }
    let mut lab = new_lab();
    let (monitored, peer) = (lab.monitored().to_owned(), lab.peer().to_owned());
    let a = lab
        .stage(Family::Inet6, TcpState::FinWait2, 3, Some("holder-a"))
        .unwrap()
        .holder
        .unwrap();
    let b = lab
        .close_wait_leak(Family::Inet, "holder-b", 2)
        .unwrap()
        .pid;
    let listed = namespaces();
    assert!(
        listed.contains(&monitored) && listed.contains(&peer),
        "{listed}"
    );
    assert!(Path::new(&format!("/proc/{a}")).exists());
    drop(lab);
    let listed = namespaces();
    assert!(
        !listed.contains(&monitored) && !listed.contains(&peer),
        "{listed}"
    );
    for pid in [a, b] {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "holder {pid} survived"
        );
    }
}

#[test]
fn scenarios_build_what_they_say() {
    if !require_root("scenarios_build_what_they_say") {
        return;
    }
    let mut lab = new_lab();
    let flood = lab.syn_flood(Family::Inet, 8080, 20).unwrap();
    assert_eq!(flood.listener.port(), 8080);
    assert_eq!(flood.sources.len(), 20);
    let storm = lab.time_wait_storm(Family::Inet6, 443, 30).unwrap();
    assert_eq!(storm.destination.port(), 443);
    assert_eq!(storm.local.len(), 30);
    let stuck = lab.listener_never_accepting(Family::Inet, 3, 6).unwrap();
    assert_eq!((stuck.queued, stuck.stuck), (4, 2));
    let leak = lab.close_wait_leak(Family::Inet6, "leaky-srv", 4).unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", leak.pid)).unwrap(),
        "leaky-srv\n"
    );
    assert_eq!(
        socket_inodes(leak.pid).len(),
        5,
        "listener and 4 leaked sockets"
    );

    let expected = lab.expected();
    let want: BTreeMap<(Family, TcpState), u64> = [
        ((Family::Inet, TcpState::SynRecv), 20),
        ((Family::Inet, TcpState::Listen), 2),
        ((Family::Inet, TcpState::Established), 4),
        ((Family::Inet6, TcpState::TimeWait), 30),
        ((Family::Inet6, TcpState::Listen), 1),
        ((Family::Inet6, TcpState::CloseWait), 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(expected, want);
    assert_eq!(ss_counts(lab.monitored()), ss_expected(&expected));
    // The full listener: recv-q = backlog + 1, send-q = backlog.
    let listener = stuck.listener.to_string();
    let line = run(&["ip", "netns", "exec", lab.monitored(), "ss", "-tlnH"])
        .lines()
        .find(|l| l.contains(&listener))
        .map(str::to_owned)
        .unwrap();
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((fields[1], fields[2]), ("4", "3"), "{line}");
}

#[test]
fn a_panicking_test_leaves_nothing_behind() {
    if !require_root("a_panicking_test_leaves_nothing_behind") {
        return;
    }
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut lab = new_lab();
        let staged = lab
            .stage(Family::Inet, TcpState::Established, 2, Some("doomed"))
            .unwrap();
        *seen.lock().unwrap() = Some((
            lab.monitored().to_owned(),
            lab.peer().to_owned(),
            staged.holder.unwrap(),
        ));
        panic!("the test fails while the lab is up");
    }));
    assert!(outcome.is_err());
    let (monitored, peer, pid) = seen.lock().unwrap().clone().unwrap();
    let listed = namespaces();
    assert!(
        !listed.contains(&monitored) && !listed.contains(&peer),
        "{listed}"
    );
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "holder {pid} survived"
    );
}

#[test]
fn a_raised_stop_flag_ends_a_time_wait_storm_between_sockets() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const ASKED: usize = 20_000;
    if !require_root("a_raised_stop_flag_ends_a_time_wait_storm_between_sockets") {
        return;
    }
    let mut lab = new_lab();
    let flag = Arc::new(AtomicUsize::new(0));
    lab.stop_when(Arc::clone(&flag));
    // SIGINT, as the demo's handler stores it, while the storm is under way.
    let raiser = {
        let flag = Arc::clone(&flag);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            flag.store(2, Ordering::SeqCst);
        })
    };
    let storm = lab.time_wait_storm(Family::Inet, 443, ASKED);
    raiser.join().unwrap();
    assert!(
        matches!(storm, Err(sockscope::lab::LabError::Stopped)),
        "{storm:?}"
    );
    // It stopped part-way: fewer TIME_WAIT sockets than asked exist.
    let made = ss_counts(lab.monitored())
        .get("TIME-WAIT")
        .copied()
        .unwrap_or(0);
    assert!(made < ASKED as u64, "{made} TIME_WAIT sockets");
}
