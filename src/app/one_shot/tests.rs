use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use super::*;
use crate::aggregate::{AnomalyKind, CounterRise, Severity, Subject};
use crate::collect::{CollectError, SocketSource};
use crate::filter::{Filter, StateSpec};
use crate::model::{Counters, Socket, TcpState};
use crate::watch::Listed;

/// One poll of `source` through a watcher, judged as the one-shot modes judge (`keep`:
/// check's filters): the snapshot, the anomalies, and the judges.
fn judged<S: SocketSource + Send>(
    source: S,
    window: Duration,
    keep: Option<&Filter>,
) -> (Arc<Snapshot>, Vec<Anomaly>, Judges) {
    let mut watcher = Watcher::new(Listed::one(source, "lab"), judges(&Config::default(), keep));
    let (snapshot, anomalies) = poll_once(&mut watcher, window).unwrap();
    let judges = std::mem::replace(watcher.judges_mut(), Judges::off());
    (snapshot, anomalies, judges)
}

/// A source that counts its dumps and counter readings: the first reading gives
/// `baseline`, each later one the next of `later`; every dump gives `dumped`.
struct Counting {
    dumps: u32,
    readings: u32,
    baseline: Counters,
    dumped: Snapshot,
    later: VecDeque<Counters>,
}

impl SocketSource for Counting {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        self.dumps += 1;
        Ok(self.dumped.clone())
    }

    fn sample_counters(&mut self) -> Option<Counters> {
        self.readings += 1;
        if self.readings == 1 {
            return Some(self.baseline.clone());
        }
        self.later.pop_front()
    }
}

fn at(millis: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000) + Duration::from_millis(millis)
}

/// Counters with `overflows` in both ListenOverflows and ListenDrops, read at `millis`.
fn overflows(overflows: u64, millis: u64) -> Counters {
    Counters {
        tcp_ext: vec![
            ("ListenOverflows".to_owned(), overflows),
            ("ListenDrops".to_owned(), overflows),
        ],
        read_at: Some(at(millis)),
        ..Counters::default()
    }
}

/// Counters read at 0 ms with 10 overflows; the dump (taken at 0 ms: a LISTEN socket and
/// two ESTABLISHED ones) ends at `dump_ms` with `at_dump_end` overflows; then `later`
/// readings as `(overflows, ms)`.
fn source(dump_ms: u64, at_dump_end: u64, later: &[(u64, u64)]) -> Counting {
    let mut dumped = Snapshot {
        taken_at: Some(at(0)),
        counters: overflows(at_dump_end, dump_ms),
        ..Snapshot::default()
    };
    let local = "192.0.2.1:80".parse().unwrap();
    dumped.sockets.push(Socket::new(
        TcpState::Listen,
        local,
        "0.0.0.0:0".parse().unwrap(),
    ));
    for port in [40_000_u16, 40_001] {
        let mut s = Socket::new(
            TcpState::Established,
            local,
            format!("198.51.100.7:{port}").parse().unwrap(),
        );
        s.cookie = u64::from(port);
        dumped.sockets.push(s);
    }
    Counting {
        dumps: 0,
        readings: 0,
        baseline: overflows(10, 0),
        dumped,
        later: later.iter().map(|&(n, ms)| overflows(n, ms)).collect(),
    }
}

fn overflow_anomaly(anomalies: &[Anomaly]) -> &Anomaly {
    anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::AcceptQueueOverflow && a.subject == Subject::Namespace)
        .expect("an accept_queue_overflow anomaly on the namespace")
}

#[test]
fn snapshot_by_default_dumps_once_and_counts_rises_over_the_dump() {
    let mut source = source(900, 15, &[]);
    let window = Mode::Snapshot.counter_window(None);
    assert_eq!(window, Duration::ZERO);
    let (snapshot, anomalies, judges) = judged(&mut source, window, None);
    assert_eq!((source.dumps, source.readings), (1, 1));
    assert_eq!(snapshot.sockets.len(), 3);
    let a = overflow_anomaly(&anomalies);
    assert_eq!((a.count, a.severity), (5, Severity::Warning));
    assert_eq!(
        a.evidence.counter_rises,
        vec![
            CounterRise {
                counter: "ListenOverflows",
                rise: 5
            },
            CounterRise {
                counter: "ListenDrops",
                rise: 5
            },
        ]
    );
    assert_eq!(
        a.evidence.counter_interval,
        Some(Duration::from_millis(900))
    );
    let rate = judges
        .get(0)
        .unwrap()
        .whole()
        .summary()
        .rate("ListenDrops")
        .unwrap();
    assert_eq!((rate.delta, rate.per_second), (5, Some(5.0 / 0.9)));
}

#[test]
fn snapshot_with_a_window_dumps_once_and_reads_the_counters_that_far_apart() {
    // The dump ends at 20 ms with 11 overflows; the window ends at 1 s with 17.
    let mut source = source(20, 11, &[(17, 1_000)]);
    let window = Mode::Snapshot.counter_window(Some(Duration::from_secs(1)));
    let started = Instant::now();
    let (_, anomalies, _) = judged(&mut source, window, None);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!((source.dumps, source.readings), (1, 2));
    let a = overflow_anomaly(&anomalies);
    assert_eq!(a.count, 7);
    assert_eq!(a.evidence.counter_interval, Some(Duration::from_secs(1)));
}

#[test]
fn check_dumps_once_and_reads_the_counters_a_second_apart_by_default() {
    let mut source = source(30, 10, &[(12, 1_000)]);
    let window = Mode::Check.counter_window(None);
    assert_eq!(window, Duration::from_secs(1));
    let keep = Filter {
        states: vec!["established".parse::<StateSpec>().unwrap()],
        ..Filter::default()
    };
    let (snapshot, anomalies, _) = judged(&mut source, window, Some(&keep));
    assert_eq!((source.dumps, source.readings), (1, 2));
    // The filter narrows what the rules see, not the counts: the LISTEN socket stays.
    assert_eq!(snapshot.sockets.len(), 3);
    assert_eq!(snapshot.state_counts().get(TcpState::Listen), 1);
    let a = overflow_anomaly(&anomalies);
    assert_eq!(a.count, 2);
    assert_eq!(a.evidence.counter_interval, Some(Duration::from_secs(1)));
}

#[test]
fn a_one_shot_poll_makes_up_no_history_ages_or_state_changes() {
    let mut source = source(900, 15, &[]);
    let (snapshot, anomalies, judges) = judged(&mut source, Duration::ZERO, None);
    let summary = judges.get(0).unwrap().whole().summary();
    assert_eq!(summary.polls, 1);
    assert_eq!(summary.previous_counts, None);
    assert_eq!(summary.change(TcpState::Established), None);
    assert_eq!(summary.history.len(), 1);
    let a = overflow_anomaly(&anomalies);
    assert_eq!((a.trend, a.first_seen), (None, at(0)));
    // One look keeps no socket identities: no age is made up.
    let judge = judges.get(0).unwrap().whole();
    for socket in &snapshot.sockets[1..] {
        assert_eq!(judge.first_seen(socket), None);
    }
}

#[test]
fn a_source_without_live_counters_dumps_once_and_skips_the_counter_rules() {
    let mut recorded = crate::collect::Recorded::new([source(900, 15, &[]).dumped]);
    let (_, anomalies, judges) = judged(&mut recorded, Duration::ZERO, None);
    assert!(anomalies.is_empty(), "{anomalies:?}");
    assert!(judges.get(0).unwrap().whole().summary().rates.is_empty());
}

#[test]
fn the_text_evidence_says_over_how_long_the_counters_rose() {
    let line_for = |dump_ms: u64| {
        let mut source = source(dump_ms, 15, &[]);
        let (_, anomalies, _) = judged(&mut source, Duration::ZERO, None);
        crate::format::anomaly::line(overflow_anomaly(&anomalies), at(0))
    };
    let line = line_for(900);
    assert!(
        line.ends_with(", ListenOverflows +5, ListenDrops +5 in 900ms"),
        "{line}"
    );
    assert!(line_for(2_500).ends_with("ListenDrops +5 in 2.50s"));
    assert!(line_for(0).ends_with("ListenDrops +5 in <1ms"));
}

#[test]
fn check_filters_narrow_the_rules_and_never_the_counts() {
    let mut source = source(30, 10, &[(10, 1_000)]);
    let local = "192.0.2.1:8080".parse().unwrap();
    for port in 0..25_u16 {
        let mut s = Socket::new(
            TcpState::CloseWait,
            local,
            format!("198.51.100.9:{}", 50_000 + port).parse().unwrap(),
        );
        s.cookie = 90_000 + u64::from(port);
        s.inode = 7_000 + u32::from(port);
        source.dumped.sockets.push(s);
    }
    // Unfiltered, the 25 CLOSE_WAIT sockets on :8080 raise the backlog rule.
    let (_, anomalies, _) = judged(&mut source, Duration::ZERO, None);
    assert_eq!(
        anomalies
            .iter()
            .map(|a| (a.kind, a.subject.clone(), a.count))
            .collect::<Vec<_>>(),
        [(AnomalyKind::CloseWaitBacklog, Subject::LocalPort(8080), 25)]
    );
    // `--sport 80` looks at the :80 service only: nothing raised, every socket counted.
    let keep: Filter = "sport=80".parse().unwrap();
    let (snapshot, anomalies, _) = judged(&mut source, Duration::ZERO, Some(&keep));
    assert_eq!(anomalies, []);
    let counts = snapshot.state_counts();
    assert_eq!(counts.get(TcpState::CloseWait), 25);
    assert_eq!(counts.get(TcpState::Established), 2);
    assert_eq!(counts.total(), 28);
}

#[test]
fn many_namespaces_share_one_counter_window_and_are_judged_each_on_its_own() {
    // Namespace 0 overflows by 7 over the window, namespace 1 not at all.
    let mut sources = [
        source(20, 11, &[(17, 1_000)]),
        source(20, 10, &[(10, 1_000)]),
    ];
    let mut watcher = Watcher::new(
        Listed::each(sources.iter_mut()),
        judges(&Config::default(), None),
    );
    let started = Instant::now();
    let round = watcher.dump_once(Duration::from_secs(1));
    let elapsed = started.elapsed();
    let judged: Vec<Vec<Anomaly>> = round
        .namespaces
        .iter()
        .map(|n| judge(watcher.judges_mut(), n.key, n.fresh_snapshot().unwrap()))
        .collect();
    drop(watcher);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(2),
        "one window, not one each: {elapsed:?}"
    );
    assert_eq!(
        sources
            .iter()
            .map(|s| (s.dumps, s.readings))
            .collect::<Vec<_>>(),
        [(1, 2), (1, 2)]
    );
    assert_eq!(overflow_anomaly(&judged[0]).count, 7);
    assert!(
        judged[1]
            .iter()
            .all(|a| a.kind != AnomalyKind::AcceptQueueOverflow),
        "{:?}",
        judged[1]
    );
}
