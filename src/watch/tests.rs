//! The watcher on given snapshots: judges per namespace, the filter's twins, `--netns-match`,
//! the collector thread's stops and a collector that panics.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use super::judge::Sees;
use super::thread::{self, Consumer};
use super::*;
use crate::aggregate::AnomalyKind;
use crate::collect::{CollectError, Recorded, SocketSource};
use crate::config::Config;
use crate::filter::Filter;
use crate::model::fixture::socket;
use crate::model::{NetnsLabel, Owners, Process, Snapshot, TcpState};

/// Namespace `name` with `leaked` CLOSE_WAIT sockets held by leaky[42] on :8080 and one
/// ESTABLISHED socket on :22.
fn namespace(name: &str, leaked: u16) -> Snapshot {
    let owned = Owners { start: 0, len: 1 };
    let mut sockets: Vec<_> = (0..leaked)
        .map(|i| {
            socket(TcpState::CloseWait)
                .local("10.0.0.1:8080")
                .remote(&format!("10.0.0.2:{}", 40_000 + i))
                .cookie(1_000 + u64::from(i))
                .owners(owned)
        })
        .collect();
    sockets.push(
        socket(TcpState::Established)
            .local("10.0.0.1:22")
            .cookie(9)
            .owners(owned),
    );
    Snapshot {
        taken_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000)),
        netns: name.to_owned(),
        sockets,
        processes: vec![Process {
            pid: 42,
            comm: "leaky".into(),
            ..Process::default()
        }],
        owner_index: vec![0],
        ..Snapshot::default()
    }
}

fn entry(key: u64, snapshot: Option<Snapshot>, freshness: Freshness) -> NamespaceRound {
    NamespaceRound {
        key,
        label: NetnsLabel {
            name: format!("ns{key}"),
            inode: key,
            container: None,
        },
        snapshot: snapshot.map(Arc::new),
        freshness,
        dumped_at: None,
        error: None,
        closed: None,
        closes: None,
        listened: None,
        verdict: None,
    }
}

fn round(namespaces: Vec<NamespaceRound>) -> Round {
    Round {
        namespaces,
        ..Round::empty(SystemTime::UNIX_EPOCH, true)
    }
}

fn kinds(namespace: &NamespaceRound) -> Vec<AnomalyKind> {
    namespace
        .verdict
        .as_ref()
        .map(|v| v.anomalies.iter().map(|a| a.kind).collect())
        .unwrap_or_default()
}

#[test]
fn each_namespace_is_judged_by_its_own_judge_whose_verdict_stands_until_it_is_dumped_again() {
    let mut judges = Judges::new(JudgeSpec::new(Config::default()).without_ages());
    let mut first = round(vec![
        entry(1, Some(namespace("host", 0)), Freshness::Dumped),
        entry(2, Some(namespace("web", 25)), Freshness::Dumped),
    ]);
    judges.take(&mut first);
    assert_eq!(kinds(&first.namespaces[0]), []);
    assert_eq!(kinds(&first.namespaces[1]), [AnomalyKind::CloseWaitBacklog]);

    // web not dumped this round: its judge's verdict stands; host gone: its judge goes.
    let mut second = round(vec![entry(2, None, Freshness::Kept)]);
    judges.take(&mut second);
    assert_eq!(
        kinds(&second.namespaces[0]),
        [AnomalyKind::CloseWaitBacklog]
    );
    assert!(judges.get(1).is_none());

    // A round that polled nothing (discovery failed) lets no judge go.
    judges.take(&mut round(Vec::new()));
    assert!(judges.get(2).is_some());
}

#[test]
fn a_filter_makes_twins_and_check_judges_only_the_sockets_it_keeps() {
    let keep: Filter = "sport=22".parse().unwrap();
    let leak = namespace("web", 25);
    let spec = JudgeSpec::new(Config::default()).without_ages();

    let mut twins = Judges::new(spec.clone().narrowed_by(keep.clone(), Sees::Both));
    let verdict = twins.judge(0, &leak).unwrap();
    // The whole summary counts every socket; the rules raised nothing on :22 alone.
    assert_eq!(verdict.summary.counts.get(TcpState::CloseWait), 25);
    assert_eq!(verdict.anomalies, []);
    let judge = twins.get(0).unwrap();
    assert_eq!(
        judge.whole().summary().anomalies.len(),
        1,
        "the twin over every socket still sees the leak"
    );

    let mut kept_only = Judges::new(spec.narrowed_by(keep, Sees::KeptOnly));
    let verdict = kept_only.judge(0, &leak).unwrap();
    assert_eq!(verdict.summary.counts.get(TcpState::CloseWait), 0);
    assert_eq!(verdict.summary.counts.get(TcpState::Established), 1);
    assert_eq!(verdict.anomalies, []);
}

/// `n` connections the namespace opened toward 10.0.0.3:5432 and closed over the ten
/// seconds before its snapshot (at 1,000 s), none seen by a poll; with a filter that keeps
/// none of them, when `filtered`.
fn churned(mut entry: NamespaceRound, n: u64, filtered: bool) -> NamespaceRound {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(990);
    let end = start + Duration::from_secs(10);
    let mut whole = crate::aggregate::Churn::new(Duration::from_secs(5));
    for i in 0..n {
        whole.add(&crate::model::ClosedSocket {
            at: start + Duration::from_millis(i * 10_000 / n),
            netns: entry.label.name.clone(),
            socket: socket(TcpState::Close)
                .local("10.0.0.1:41000")
                .remote("10.0.0.3:5432"),
            tcp_info: None,
            last_state: None,
            first_seen: None,
            owners: Vec::new(),
            owner_from: crate::model::OwnerFrom::Unknown,
            container: None,
            accepted: false,
        });
    }
    whole.listened(start, end);
    let kept = filtered.then(|| {
        let mut none = crate::aggregate::Churn::new(Duration::from_secs(5));
        none.listened(start, end);
        none
    });
    entry.closes = Some(Arc::new(round::Closes { whole, kept }));
    entry.listened = Some((start, end));
    entry
}

#[test]
fn the_sockets_a_namespace_destroyed_are_judged_by_its_judge_and_by_the_filters_twin() {
    let mut judges = Judges::new(JudgeSpec::new(Config::default()).without_ages());
    let mut churning = round(vec![
        churned(
            entry(1, Some(namespace("host", 0)), Freshness::Dumped),
            20,
            false,
        ),
        churned(
            entry(2, Some(namespace("web", 0)), Freshness::Dumped),
            800,
            false,
        ),
    ]);
    judges.take(&mut churning);
    assert_eq!(kinds(&churning.namespaces[0]), []);
    assert_eq!(
        kinds(&churning.namespaces[1]),
        [AnomalyKind::ConnectionChurn]
    );
    let verdict = churning.namespaces[1].verdict.as_ref().unwrap();
    assert_eq!(verdict.anomalies[0].count, 80);
    assert_eq!(verdict.summary.churn.total.closes, 800);

    // A filter that keeps none of them: the twin over the kept sockets raises nothing.
    let keep: Filter = "dport=443".parse().unwrap();
    let spec = JudgeSpec::new(Config::default()).without_ages();
    let mut twins = Judges::new(spec.narrowed_by(keep, Sees::Both));
    let mut churning = round(vec![churned(
        entry(2, Some(namespace("web", 0)), Freshness::Dumped),
        800,
        true,
    )]);
    twins.take(&mut churning);
    assert_eq!(kinds(&churning.namespaces[0]), []);
    let judge = twins.get(2).unwrap();
    assert_eq!(judge.whole().summary().churn.total.closes, 800);
    assert_eq!(judge.narrowed().unwrap().summary().churn.total.closes, 0);
}

#[test]
fn netns_match_leaves_the_other_namespaces_unjudged() {
    let keep: Filter = "netns=web".parse().unwrap();
    let spec = JudgeSpec::new(Config::default()).narrowed_by(keep, Sees::KeptOnly);
    let mut judges = Judges::new(spec);
    assert!(judges.judge(1, &namespace("host", 25)).is_none());
    assert!(judges.get(1).is_none());
    let web = judges.judge(2, &namespace("web", 25)).unwrap();
    assert_eq!(
        web.anomalies.iter().map(|a| a.kind).collect::<Vec<_>>(),
        [AnomalyKind::CloseWaitBacklog]
    );
}

#[test]
fn judges_of_every_namespace_only_leave_one_namespace_to_the_screen() {
    let mut judges = Judges::every_only(JudgeSpec::new(Config::default()));
    let mut one = Round {
        every: false,
        ..round(vec![entry(
            0,
            Some(namespace("host", 25)),
            Freshness::Dumped,
        )])
    };
    judges.take(&mut one);
    assert!(one.namespaces[0].verdict.is_none());
    let mut every = round(vec![entry(
        0,
        Some(namespace("host", 25)),
        Freshness::Dumped,
    )]);
    judges.take(&mut every);
    assert!(every.namespaces[0].verdict.is_some());
}

/// Counts rounds and stops after `stop_after`.
struct RoundCounter {
    rounds: usize,
    stop_after: usize,
    told: mpsc::Sender<usize>,
}

impl Consumer for RoundCounter {
    fn round(&mut self, round: Round, _took: Duration) -> bool {
        assert!(round.failure().is_none(), "{:?}", round.failure());
        self.rounds += 1;
        let _ = self.told.send(self.rounds);
        self.rounds < self.stop_after
    }
}

fn recorded(polls: usize) -> Listed<Recorded> {
    Listed::one(
        Recorded::new((0..polls).map(|_| namespace("host", 3))),
        "host",
    )
}

#[test]
fn the_collector_thread_stops_when_its_consumer_says_so_and_when_the_controls_hang_up() {
    let (told, rounds) = mpsc::channel();
    let (_controls, received) = mpsc::channel();
    thread::run_here(
        Watcher::new(recorded(10), Judges::off()),
        Duration::ZERO,
        &received,
        RoundCounter {
            rounds: 0,
            stop_after: 3,
            told: told.clone(),
        },
    );
    assert_eq!(rounds.try_iter().collect::<Vec<_>>(), [1, 2, 3]);

    let (controls, received) = mpsc::channel::<thread::Control>();
    let handle = thread::spawn(
        "test-collector",
        Watcher::new(recorded(10), Judges::off()),
        Duration::from_secs(3_600),
        received,
        RoundCounter {
            rounds: 0,
            stop_after: usize::MAX,
            told,
        },
    )
    .unwrap();
    assert_eq!(rounds.recv_timeout(Duration::from_secs(10)), Ok(1));
    // An hour's interval: only the hang-up ends the wait.
    drop(controls);
    handle.join().unwrap();
    assert_eq!(rounds.try_iter().count(), 0);
}

/// A source whose dump panics.
struct Crashing;

impl SocketSource for Crashing {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        panic!("the parser met a message it did not expect");
    }
}

#[test]
fn a_collector_that_panics_makes_a_failed_round_and_the_watcher_goes_on() {
    let mut watcher = Watcher::new(Listed::one(Crashing, "host"), Judges::off());
    let round = watcher.poll(Duration::from_secs(1));
    assert_eq!(
        round.failure(),
        Some("the collector crashed: the parser met a message it did not expect")
    );
    assert!(round.namespaces.is_empty());
    let again = watcher.poll(Duration::from_secs(1));
    assert!(
        again.failure().is_some(),
        "a second poll is a second failure"
    );
}

#[test]
fn one_namespace_is_the_case_n_equals_one_its_snapshot_the_merged_view() {
    let mut watcher = Watcher::new(recorded(1), Judges::off());
    let round = watcher.poll(Duration::from_secs(1));
    assert!(!round.every);
    assert_eq!(round.namespaces.len(), 1);
    let only = &round.namespaces[0];
    assert_eq!((only.key, only.label.name.as_str()), (0, "host"));
    let snapshot = only.fresh_snapshot().unwrap();
    assert!(Arc::ptr_eq(snapshot, round.merged.as_ref().unwrap()));
    let exhausted = watcher.poll(Duration::from_secs(1));
    assert_eq!(exhausted.failure(), Some("no more recorded snapshots"));
}
