//! `fd_exhaustion` on synthetic snapshots: the 80 % and 95 % boundaries of the soft
//! open-file limit exactly, the evidence, hysteresis, processes without a known limit, and
//! the rule turned off.

use sockscope::aggregate::{
    Aggregator, AnomalyKind, FdExhaustionRule, RuleConfig, Severity, Subject,
};
use sockscope::model::{Snapshot, TcpState};

use super::support::synthetic::Synth;

/// A server `pid` 4242 with `descriptors` open against a soft limit of `limit`, holding
/// 3 ESTABLISHED and 5 CLOSE_WAIT sockets, taken at `secs`.
fn server(descriptors: u64, limit: Option<u64>, secs: u64) -> Snapshot {
    let mut s = Synth::at(secs);
    let app = s.process(4242, "api");
    s.snapshot.processes[app as usize].descriptors = Some(descriptors);
    s.snapshot.processes[app as usize].fd_limit = limit;
    s.many(
        3,
        TcpState::Established,
        "10.0.0.1:443",
        "192.0.2.7",
        &[app],
    );
    s.many(5, TcpState::CloseWait, "10.0.0.1:443", "192.0.2.8", &[app]);
    s.build()
}

fn fd_anomalies(aggregator: &mut Aggregator, snapshot: &Snapshot) -> Vec<(Severity, u64)> {
    aggregator
        .ingest(snapshot)
        .anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::FdExhaustion)
        .map(|a| (a.severity, a.count))
        .collect()
}

#[test]
fn warning_at_exactly_80_percent_of_the_soft_limit_and_critical_at_95() {
    for (descriptors, expected) in [
        (159, None),
        (160, Some(Severity::Warning)),
        (189, Some(Severity::Warning)),
        (190, Some(Severity::Critical)),
        (200, Some(Severity::Critical)),
    ] {
        // A fresh aggregator each time: no hysteresis from an earlier poll.
        let mut aggregator = Aggregator::new(RuleConfig::default());
        let raised = fd_anomalies(&mut aggregator, &server(descriptors, Some(200), 0));
        let want: Vec<(Severity, u64)> = expected.map(|s| (s, descriptors)).into_iter().collect();
        assert_eq!(raised, want, "{descriptors} descriptors of 200");
    }
    // 80 % of 1024 is 819.2: reached at 820, not at 819.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(fd_anomalies(&mut aggregator, &server(819, Some(1024), 0)).is_empty());
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert_eq!(
        fd_anomalies(&mut aggregator, &server(820, Some(1024), 0)),
        [(Severity::Warning, 820)]
    );
}

#[test]
fn the_anomaly_names_the_process_its_limit_and_its_tcp_and_close_wait_sockets() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&server(173, Some(200), 0));
    let a = summary
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::FdExhaustion)
        .unwrap();
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(
        a.subject,
        Subject::Process {
            pid: 4242,
            comm: "api".to_owned()
        }
    );
    assert_eq!(
        (a.count, a.threshold, a.critical_threshold),
        (173, 160, 190)
    );
    assert_eq!(a.evidence.limit, Some(200));
    assert_eq!(a.evidence.tcp_sockets, Some(8));
    assert_eq!(a.evidence.close_wait, Some(5));
    assert_eq!(AnomalyKind::FdExhaustion.name(), "fd_exhaustion");
    assert!(a.hint.contains("Too many open files"), "{}", a.hint);
    let line = sockscope::format::anomaly::line(a, a.first_seen);
    assert_eq!(
        line,
        "WARNING fd_exhaustion api[4242]: 173 open descriptors (warning 160, critical 190), \
         limit 200, 8 TCP sockets, 5 CLOSE_WAIT"
    );
}

#[test]
fn a_raised_anomaly_clears_only_below_the_clear_ratio_and_drops_from_critical_likewise() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut poll = 0;
    let mut at = |descriptors| {
        poll += 1;
        fd_anomalies(&mut aggregator, &server(descriptors, Some(200), poll))
    };
    assert_eq!(at(190), [(Severity::Critical, 190)]);
    // Critical holds down to 0.8 × 190 = 152; below that it is a warning.
    assert_eq!(at(152), [(Severity::Critical, 152)]);
    assert_eq!(at(151), [(Severity::Warning, 151)]);
    // Warning holds down to 0.8 × 160 = 128; below that it clears.
    assert_eq!(at(128), [(Severity::Warning, 128)]);
    assert_eq!(at(127), []);
    // Cleared: it is raised again only at the warning level.
    assert_eq!(at(159), []);
    assert_eq!(at(160), [(Severity::Warning, 160)]);
}

#[test]
fn processes_without_a_known_limit_or_count_are_not_judged() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(fd_anomalies(&mut aggregator, &server(1_000_000, None, 0)).is_empty());
    let mut snapshot = server(0, Some(200), 0);
    snapshot.processes[0].descriptors = None;
    assert!(fd_anomalies(&mut aggregator, &snapshot).is_empty());
}

#[test]
fn a_disabled_rule_raises_nothing_and_other_ratios_move_the_levels() {
    let rules = RuleConfig {
        fd_exhaustion: FdExhaustionRule {
            enabled: false,
            ..FdExhaustionRule::default()
        },
        ..RuleConfig::default()
    };
    let mut aggregator = Aggregator::new(rules);
    assert!(fd_anomalies(&mut aggregator, &server(200, Some(200), 0)).is_empty());

    let rules = RuleConfig {
        fd_exhaustion: FdExhaustionRule {
            enabled: true,
            warning_ratio: 0.5,
            critical_ratio: 0.5,
        },
        ..RuleConfig::default()
    };
    let mut aggregator = Aggregator::new(rules);
    assert_eq!(
        fd_anomalies(&mut aggregator, &server(100, Some(200), 0)),
        [(Severity::Critical, 100)],
        "critical at the warning level when both ratios are equal"
    );
}
