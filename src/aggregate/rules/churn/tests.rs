use std::time::{Duration, SystemTime};

use super::*;
use crate::aggregate::{Aggregator, Anomaly, Severity};
use crate::model::fixture::{closed_opened, socket};
use crate::model::{ClosedSocket, Snapshot, TcpState};

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
}

/// A connection this side opened toward `remote` and closed at `ms`, `lived` ms since a
/// poll saw it born (`None`: no poll saw it), held by `client[pid]` when given.
fn closed(ms: u64, remote: &str, lived: Option<u64>, pid: Option<u32>) -> ClosedSocket {
    closed_opened(at(ms), remote, lived.map(Duration::from_millis), pid)
}

/// Listen for `secs` seconds, taking in `per_second` closes a second made by `make`, then
/// ingest a poll at the end; the anomalies raised.
fn judge(
    secs: u64,
    per_second: u64,
    make: impl Fn(u64) -> ClosedSocket,
    rules: RuleConfig,
) -> Vec<Anomaly> {
    let mut aggregator = Aggregator::new(rules);
    aggregator.listened(at(0), at(secs * 1_000));
    for i in 0..secs * per_second {
        aggregator.closed(&make(i * 1_000 / per_second));
    }
    let snapshot = Snapshot {
        taken_at: Some(at(secs * 1_000)),
        ..Snapshot::default()
    };
    aggregator.ingest(&snapshot).anomalies.clone()
}

fn churn_only(anomalies: &[Anomaly]) -> Vec<&Anomaly> {
    anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::ConnectionChurn)
        .collect()
}

#[test]
fn a_client_churning_toward_one_destination_raises_it_naming_its_maker() {
    let anomalies = judge(
        10,
        80,
        |ms| {
            let seen = ms % 8 == 0;
            closed(ms, "10.0.0.2:5432", seen.then_some(40), seen.then_some(77))
        },
        RuleConfig::default(),
    );
    let churn = churn_only(&anomalies);
    assert_eq!(churn.len(), 1, "{churn:#?}");
    let anomaly = churn[0];
    assert_eq!(
        anomaly.subject,
        Subject::Destination("10.0.0.2:5432".parse().unwrap())
    );
    assert_eq!(
        (
            anomaly.severity,
            anomaly.count,
            anomaly.threshold,
            anomaly.critical_threshold
        ),
        (Severity::Warning, 80, 50, 300)
    );
    let evidence = anomaly.evidence.churn.unwrap();
    assert_eq!(
        (evidence.closes, evidence.short_lived, evidence.unseen),
        (800, 800, 700)
    );
    assert_eq!(evidence.span, Duration::from_secs(10));
    assert_eq!(evidence.median_lifetime, Some(Duration::from_millis(64)));
    let makers: Vec<(Option<u32>, u64)> = anomaly
        .evidence
        .makers
        .iter()
        .map(|m| (m.maker.as_ref().map(|m| m.pid), m.closes))
        .collect();
    assert_eq!(makers, vec![(None, 700), (Some(77), 100)]);
}

#[test]
fn a_pooled_client_closing_a_few_long_lived_connections_raises_nothing() {
    let anomalies = judge(
        10,
        1,
        |ms| closed(ms, "10.0.0.2:5432", Some(3_600_000), Some(77)),
        RuleConfig::default(),
    );
    assert!(churn_only(&anomalies).is_empty(), "{anomalies:#?}");
}

#[test]
fn long_lived_connections_do_not_count_however_many_close() {
    let anomalies = judge(
        10,
        200,
        |ms| closed(ms, "10.0.0.2:5432", Some(60_000), Some(77)),
        RuleConfig::default(),
    );
    assert!(churn_only(&anomalies).is_empty(), "{anomalies:#?}");
}

#[test]
fn a_process_churning_toward_many_destinations_is_raised_with_them() {
    let anomalies = judge(
        10,
        600,
        |ms| {
            let port = 8000 + (ms % 6) as u16;
            closed(ms, &format!("10.0.0.2:{port}"), Some(10), Some(77))
        },
        RuleConfig::default(),
    );
    let churn = churn_only(&anomalies);
    let by_process: Vec<&&Anomaly> = churn
        .iter()
        .filter(|a| matches!(a.subject, Subject::Process { .. }))
        .collect();
    assert_eq!(by_process.len(), 1);
    let anomaly = by_process[0];
    assert_eq!(
        anomaly.subject,
        Subject::Process {
            pid: 77,
            comm: "client".into()
        }
    );
    assert_eq!((anomaly.severity, anomaly.count), (Severity::Critical, 600));
    assert_eq!(anomaly.evidence.peers.len(), 5);
    let toward_8000 = (0..6_000u64).filter(|i| (i * 1_000 / 600) % 6 == 0).count() as u64;
    assert_eq!(anomaly.evidence.peers[0].count, toward_8000);
    assert_eq!(anomaly.evidence.peers[0].peer.port(), 8000);
    // Each destination took 100 a second: over its warning of 50.
    assert_eq!(churn.len(), 7);
}

#[test]
fn connections_this_side_accepted_are_the_clients_churn_not_this_sides() {
    let anomalies = judge(
        10,
        500,
        |ms| ClosedSocket {
            accepted: true,
            ..closed(ms, "10.0.0.9:50000", None, Some(10))
        },
        RuleConfig::default(),
    );
    assert!(churn_only(&anomalies).is_empty(), "{anomalies:#?}");
}

#[test]
fn without_destroy_events_or_over_too_short_a_span_the_rule_says_nothing() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    for i in 0..1_000 {
        aggregator.closed(&closed(i, "10.0.0.2:5432", None, None));
    }
    let snapshot = Snapshot {
        taken_at: Some(at(1_000)),
        ..Snapshot::default()
    };
    assert!(aggregator.ingest(&snapshot).anomalies.is_empty());
    assert!(!aggregator.summary().churn.listening);

    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.listened(at(0), at(300));
    for i in 0..300 {
        aggregator.closed(&closed(i, "10.0.0.2:5432", None, None));
    }
    let snapshot = Snapshot {
        taken_at: Some(at(300)),
        ..Snapshot::default()
    };
    assert!(aggregator.ingest(&snapshot).anomalies.is_empty());
    assert_eq!(aggregator.summary().churn.total.closes, 300);
}

#[test]
fn a_shorter_short_lived_setting_leaves_slower_connections_out() {
    let mut rules = RuleConfig::default();
    rules.connection_churn.short_lived = Duration::from_millis(20);
    let anomalies = judge(
        10,
        100,
        |ms| closed(ms, "10.0.0.2:5432", Some(40), Some(77)),
        rules,
    );
    assert!(churn_only(&anomalies).is_empty(), "{anomalies:#?}");
}

#[test]
fn durations_out_of_range_are_refused_naming_the_key() {
    let mut rule = ConnectionChurnRule {
        short_lived: Duration::ZERO,
        ..ConnectionChurnRule::default()
    };
    let err = rule.validate().unwrap_err();
    assert_eq!((err.key, err.value.as_str()), ("short_lived", "\"0s\""));
    rule.short_lived = Duration::from_secs(5);
    rule.window = Duration::from_secs(61);
    let err = rule.validate().unwrap_err();
    assert_eq!((err.key, err.value.as_str()), ("window", "\"1m 1s\""));
    assert_eq!(err.requirement, "it must be from 1s to 60s (\"10s\")");
}

#[test]
fn the_time_wait_anomaly_names_who_made_the_connections_toward_its_destination() {
    let mut rules = RuleConfig::default();
    rules.time_wait.per_destination = 10;
    rules.time_wait.per_destination_critical = 20;
    let mut aggregator = Aggregator::new(rules);
    aggregator.listened(at(0), at(2_000));
    for i in 0..30 {
        aggregator.closed(&closed(i * 10, "10.0.0.2:443", Some(5), Some(77)));
    }
    for i in 0..12 {
        aggregator.closed(&closed(i * 10, "10.0.0.2:443", None, None));
    }
    let sockets = (0..15)
        .map(|i| {
            socket(TcpState::TimeWait)
                .local(&format!("10.0.0.1:{}", 41_000 + i))
                .remote("10.0.0.2:443")
        })
        .collect();
    let snapshot = Snapshot {
        taken_at: Some(at(2_000)),
        sockets,
        ..Snapshot::default()
    };
    let anomalies = aggregator.ingest(&snapshot).anomalies.clone();
    let time_wait: Vec<&Anomaly> = anomalies
        .iter()
        .filter(|a| a.kind == AnomalyKind::TimeWaitExcess)
        .collect();
    assert_eq!(time_wait.len(), 1);
    let makers: Vec<(Option<String>, u64)> = time_wait[0]
        .evidence
        .makers
        .iter()
        .map(|m| (m.maker.as_ref().map(Maker::label), m.closes))
        .collect();
    assert_eq!(
        makers,
        vec![(Some("client[77]".to_owned()), 30), (None, 12)]
    );
}
