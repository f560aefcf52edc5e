//! The dashboard's tiered reads against real sockets: once a full read finds enough
//! ESTABLISHED sockets, the polls between full reads carry them over, drop for good those
//! seen since in another state, and keep their owners; a poll that wants tcp_info reads
//! everything again. The threshold is lowered to 10 so a lab can cross it.
//! Needs root; skips loudly without it (and fails under CI=true).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sockscope::collect::netns::run_in;
use sockscope::collect::tiers::Tiers;
use sockscope::collect::{CollectOptions, Collector, NetnsTarget, SocketSource};
use sockscope::lab::{Lab, require_root};
use sockscope::model::{EstablishedTier, Family, Snapshot, StateSet, TcpState};

const BIN: &str = env!("CARGO_BIN_EXE_sockscope");

fn collector(netns: &str) -> Collector {
    Collector::open(CollectOptions {
        netns: NetnsTarget::Named(netns.to_owned()),
        processes: true,
        states: StateSet::ALL,
        force_procnet: false,
        tcp_info: false,
        ..CollectOptions::default()
    })
    .unwrap()
}

fn count(snapshot: &Snapshot, state: TcpState) -> usize {
    snapshot.sockets.iter().filter(|s| s.state == state).count()
}

/// Poll `collector` until a snapshot satisfies `done`; panics with the counts after 10 s.
fn wait_until(collector: &mut Collector, done: impl Fn(&Snapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = collector.poll().unwrap();
        if done(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sockets never settled: {:?}",
            now.state_counts()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `n` loopback connections inside `netns` to `listener` (made there too): both ends of
/// each are ESTABLISHED sockets of the namespace, held by this process.
fn connect(netns: &str, listener: &TcpListener, n: usize) -> Vec<(TcpStream, TcpStream)> {
    let target = NetnsTarget::Named(netns.to_owned());
    let addr = listener.local_addr().unwrap();
    let clients: Vec<TcpStream> = run_in(&target, || {
        (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
    })
    .unwrap();
    clients
        .into_iter()
        .map(|c| (c, listener.accept().unwrap().0))
        .collect()
}

#[test]
fn polls_between_full_reads_carry_established_sockets_and_drop_those_that_moved_on() {
    let test = "polls_between_full_reads_carry_established_sockets_and_drop_those_that_moved_on";
    if !require_root(test) {
        return;
    }
    let lab = Lab::new(BIN.as_ref()).unwrap();
    let netns = lab.monitored();
    let listener = run_in(&NetnsTarget::Named(netns.to_owned()), || {
        TcpListener::bind("127.0.0.1:0").unwrap()
    })
    .unwrap();
    let mut pairs = connect(netns, &listener, 10);

    let mut tiered = collector(netns);
    tiered.tier_established(Some(Tiers::new(Duration::from_secs(3600), 10)));
    let first = tiered.poll_shared().unwrap();
    assert_eq!(count(&first, TcpState::Established), 20);
    let first_read = EstablishedTier {
        read_at: first.taken_at.unwrap(),
        every: Duration::from_secs(3600),
    };
    assert_eq!(first.established_tier, Some(first_read));

    // Three servers close (their side goes to FIN_WAIT2, the client's to CLOSE_WAIT): read
    // at once, and no longer ESTABLISHED. Two new connections: unseen until a full read.
    let half_closed: Vec<TcpStream> = pairs
        .drain(..3)
        .map(|(client, server)| {
            drop(server);
            client
        })
        .collect();
    let new = connect(netns, &listener, 2);
    let mut untiered = collector(netns);
    wait_until(&mut untiered, |now| {
        count(now, TcpState::CloseWait) == 3 && count(now, TcpState::FinWait2) == 3
    });

    let between = tiered.poll_shared().unwrap();
    assert_eq!(between.established_tier, Some(first_read));
    assert_eq!(count(&between, TcpState::Established), 14);
    assert_eq!(count(&between, TcpState::CloseWait), 3);
    assert_eq!(count(&between, TcpState::FinWait2), 3);
    assert_eq!(between.sockets.len(), 1 + 14 + 3 + 3);
    // The carried sockets are still attributed: this process holds them all.
    let me = std::process::id();
    for socket in &between.sockets {
        let owners: Vec<u32> = between.owners(socket).map(|p| p.pid).collect();
        let expected = if socket.state == TcpState::FinWait2 {
            vec![] // closed by the server: orphaned
        } else {
            vec![me]
        };
        assert_eq!(owners, expected, "{socket:?}");
    }

    // The detail pane wants tcp_info: everything is read again, the new ones included.
    tiered.set_tcp_info(true);
    let full = tiered.poll_shared().unwrap();
    assert_eq!(count(&full, TcpState::Established), 18);
    assert_eq!(count(&full, TcpState::CloseWait), 3);
    assert_eq!(count(&full, TcpState::FinWait2), 3);
    assert_eq!(full.established_tier, None, "every poll reads them now");
    // Without tcp_info, the next polls carry again, from this full read. The two new
    // connections close: of each, the side that closed first is seen in TIME_WAIT and
    // dropped; the other side is gone at once and stays carried until the next full read.
    tiered.set_tcp_info(false);
    drop(new);
    wait_until(&mut untiered, |now| {
        count(now, TcpState::TimeWait) == 2 && count(now, TcpState::Established) == 14
    });
    let after = tiered.poll_shared().unwrap();
    assert_eq!(count(&after, TcpState::TimeWait), 2);
    assert_eq!(
        count(&after, TcpState::Established),
        14 + 2,
        "two gone, still carried"
    );
    assert_eq!(
        after.established_tier,
        Some(EstablishedTier {
            read_at: full.taken_at.unwrap(),
            every: Duration::from_secs(3600),
        })
    );
    drop((pairs, half_closed));
}

#[test]
fn below_the_threshold_every_poll_reads_everything() {
    let test = "below_the_threshold_every_poll_reads_everything";
    if !require_root(test) {
        return;
    }
    let mut lab = Lab::new(BIN.as_ref()).unwrap();
    lab.stage(Family::Inet, TcpState::Established, 9, None)
        .unwrap();
    let mut tiered = collector(lab.monitored());
    tiered.tier_established(Some(Tiers::new(Duration::from_secs(3600), 10)));
    let first = tiered.poll_shared().unwrap();
    assert_eq!(count(&first, TcpState::Established), 9);
    assert_eq!(first.established_tier, None);
    lab.stage(Family::Inet, TcpState::Established, 2, None)
        .unwrap();
    let second = tiered.poll_shared().unwrap();
    assert_eq!(count(&second, TcpState::Established), 11, "a full read");
    let tier = Some(EstablishedTier {
        read_at: second.taken_at.unwrap(),
        every: Duration::from_secs(3600),
    });
    assert_eq!(second.established_tier, tier, "the next polls carry");
    lab.stage(Family::Inet, TcpState::Established, 1, None)
        .unwrap();
    let third = tiered.poll_shared().unwrap();
    assert_eq!(count(&third, TcpState::Established), 11, "carried");
    assert_eq!(third.established_tier, tier);
    // A snapshot not shared back leaves nothing to carry: the poll after it reads everything.
    let unshared = tiered.poll().unwrap();
    assert_eq!(count(&unshared, TcpState::Established), 11, "carried");
    let fifth = tiered.poll_shared().unwrap();
    assert_eq!(count(&fifth, TcpState::Established), 12, "a full read");
}
