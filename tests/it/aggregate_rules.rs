//! The socket-state rules on synthetic snapshots (CLOSE_WAIT, FIN_WAIT2), hysteresis,
//! first-seen, ordering and names; the limit and counter rules are in aggregate_kernel_rules.rs.

#![allow(clippy::unwrap_used)]

use crate::support::synthetic;

use std::time::Duration;

use sockscope::aggregate::{
    Aggregator, Anomaly, AnomalyKind, PeerCount, RuleConfig, Severity, Subject,
};
use sockscope::model::TcpState;
use synthetic::{Synth, addr, at};

/// A snapshot at `secs` where nginx[1234] holds `n` CLOSE_WAIT sockets toward one peer.
fn nginx_close_wait(secs: u64, n: u32) -> Synth {
    let mut s = Synth::at(secs);
    let nginx = s.process(1234, "nginx");
    s.many(n, TcpState::CloseWait, "10.0.0.1:80", "192.0.2.7", &[nginx]);
    s
}

fn of_kind(anomalies: &[Anomaly], kind: AnomalyKind) -> Vec<&Anomaly> {
    anomalies.iter().filter(|a| a.kind == kind).collect()
}

fn nginx() -> Subject {
    Subject::Process {
        pid: 1234,
        comm: "nginx".to_owned(),
    }
}

#[test]
fn close_wait_backlog_fires_at_threshold_not_one_below() {
    let mut below = Aggregator::new(RuleConfig::default());
    assert!(
        below
            .ingest(&nginx_close_wait(100, 19).build())
            .anomalies
            .is_empty()
    );

    let mut at_threshold = Aggregator::new(RuleConfig::default());
    let anomalies = &at_threshold
        .ingest(&nginx_close_wait(100, 20).build())
        .anomalies;
    assert_eq!(anomalies.len(), 1);
    let a = &anomalies[0];
    assert_eq!(a.kind, AnomalyKind::CloseWaitBacklog);
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(a.subject, nginx());
    assert_eq!((a.count, a.threshold, a.critical_threshold), (20, 20, 100));
    assert_eq!(a.first_seen, at(100));
    assert_eq!(a.trend, None);
}

#[test]
fn close_wait_backlog_is_critical_at_critical_threshold_not_one_below() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&nginx_close_wait(100, 99).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Warning);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&nginx_close_wait(100, 100).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Critical);
}

#[test]
fn close_wait_backlog_clears_only_below_clear_mark() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 20).build());
    // Just below the threshold: still raised (clear mark is 0.8 × 20 = 16).
    let summary = aggregator.ingest(&nginx_close_wait(101, 19).build());
    assert_eq!(summary.anomalies.len(), 1);
    assert_eq!(summary.anomalies[0].count, 19);
    let summary = aggregator.ingest(&nginx_close_wait(102, 16).build());
    assert_eq!(summary.anomalies.len(), 1);
    let summary = aggregator.ingest(&nginx_close_wait(103, 15).build());
    assert!(summary.anomalies.is_empty());
    // Back at 19 after clearing: not raised again until the threshold.
    let summary = aggregator.ingest(&nginx_close_wait(104, 19).build());
    assert!(summary.anomalies.is_empty());
}

#[test]
fn critical_drops_to_warning_only_below_clear_mark_of_critical() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 100).build());
    let summary = aggregator.ingest(&nginx_close_wait(101, 80).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Critical);
    let summary = aggregator.ingest(&nginx_close_wait(102, 79).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Warning);
}

#[test]
fn a_warning_below_critical_is_not_promoted_by_the_clear_mark() {
    // Raised as a warning at 30; between 80 % of critical (80) and critical (100) it stays a
    // warning: the clear mark only ever holds a severity down, never raises one.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&nginx_close_wait(100, 30).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Warning);
    for (secs, count) in [(101, 80), (102, 99)] {
        let summary = aggregator.ingest(&nginx_close_wait(secs, count).build());
        let a = &summary.anomalies[0];
        assert_eq!((a.count, a.severity), (u64::from(count), Severity::Warning));
    }
    let summary = aggregator.ingest(&nginx_close_wait(103, 100).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Critical);
}

#[test]
fn close_wait_backlog_keeps_first_seen_across_polls_and_reports_trend() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 20).build());
    aggregator.ingest(&nginx_close_wait(110, 25).build());
    let summary = aggregator.ingest(&nginx_close_wait(130, 40).build());
    let a = &summary.anomalies[0];
    assert_eq!(a.first_seen, at(100));
    // 20 → 40 over 30 s: 40 per minute.
    assert_eq!(a.trend, Some(40.0));
}

#[test]
fn first_seen_restarts_after_clearing() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 20).build());
    aggregator.ingest(&nginx_close_wait(101, 0).build());
    let summary = aggregator.ingest(&nginx_close_wait(102, 20).build());
    assert_eq!(summary.anomalies[0].first_seen, at(102));
}

#[test]
fn close_wait_backlog_lists_top_peers_and_oldest_age() {
    let mut first = Synth::at(100);
    let app = first.process(77, "java");
    first.socket_with_cookie(
        1,
        TcpState::CloseWait,
        "10.0.0.1:8080",
        "192.0.2.9:5000",
        &[app],
    );
    let mut second = Synth::at(160);
    let app = second.process(77, "java");
    second.socket_with_cookie(
        1,
        TcpState::CloseWait,
        "10.0.0.1:8080",
        "192.0.2.9:5000",
        &[app],
    );
    second.many(
        12,
        TcpState::CloseWait,
        "10.0.0.1:8080",
        "192.0.2.7",
        &[app],
    );
    for port in 1..=7 {
        let remote = format!("198.51.100.{port}:443");
        second.socket(TcpState::CloseWait, "10.0.0.1:41000", &remote, &[app]);
    }
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&first.build());
    let summary = aggregator.ingest(&second.build());
    let a = &of_kind(&summary.anomalies, AnomalyKind::CloseWaitBacklog)[0];
    assert_eq!(a.count, 20);
    assert_eq!(a.evidence.oldest_age, Some(Duration::from_secs(60)));
    // 12 sockets to 192.0.2.7 on 12 ports: one each; ties by address, then port.
    assert_eq!(a.evidence.peers.len(), 5);
    assert_eq!(
        a.evidence.peers[0],
        PeerCount {
            peer: addr("192.0.2.7:10000"),
            count: 1
        }
    );
}

#[test]
fn close_wait_peers_are_counted_per_endpoint() {
    let mut s = Synth::at(100);
    let app = s.process(5, "worker");
    for _ in 0..15 {
        s.socket(
            TcpState::CloseWait,
            "10.0.0.1:41000",
            "192.0.2.1:5432",
            &[app],
        );
    }
    for _ in 0..5 {
        s.socket(
            TcpState::CloseWait,
            "10.0.0.1:41001",
            "192.0.2.2:6379",
            &[app],
        );
    }
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let peers = &summary.anomalies[0].evidence.peers;
    assert_eq!(
        peers,
        &vec![
            PeerCount {
                peer: addr("192.0.2.1:5432"),
                count: 15
            },
            PeerCount {
                peer: addr("192.0.2.2:6379"),
                count: 5
            },
        ]
    );
}

#[test]
fn close_wait_without_owner_is_grouped_by_local_port() {
    let mut s = Synth::at(100);
    s.many(20, TcpState::CloseWait, "10.0.0.1:8080", "192.0.2.7", &[]);
    s.many(19, TcpState::CloseWait, "10.0.0.1:9090", "192.0.2.8", &[]);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    assert_eq!(summary.anomalies.len(), 1);
    assert_eq!(summary.anomalies[0].subject, Subject::LocalPort(8080));
    assert_eq!(summary.anomalies[0].subject.label(), "local port 8080");
    assert_eq!(summary.anomalies[0].count, 20);
}

#[test]
fn disabled_rule_raises_nothing() {
    let mut rules = RuleConfig::default();
    rules.close_wait.enabled = false;
    let mut aggregator = Aggregator::new(rules);
    assert!(
        aggregator
            .ingest(&nginx_close_wait(100, 500).build())
            .anomalies
            .is_empty()
    );
}

#[test]
fn fin_wait2_pileup_fires_per_process_and_in_total() {
    let mut s = Synth::at(100);
    let app = s.process(900, "proxy");
    s.many(
        199,
        TcpState::FinWait2,
        "10.0.0.1:3128",
        "192.0.2.1",
        &[app],
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(aggregator.ingest(&s.build()).anomalies.is_empty());

    let mut s = Synth::at(100);
    let app = s.process(900, "proxy");
    s.many(
        200,
        TcpState::FinWait2,
        "10.0.0.1:3128",
        "192.0.2.1",
        &[app],
    );
    s.many(1800, TcpState::FinWait2, "10.0.0.1:80", "192.0.2.2", &[]);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let found: Vec<(Subject, u64, u64)> = summary
        .anomalies
        .iter()
        .map(|a| (a.subject.clone(), a.count, a.threshold))
        .collect();
    assert_eq!(
        found,
        vec![
            (Subject::Namespace, 2000, 2000),
            (
                Subject::Process {
                    pid: 900,
                    comm: "proxy".to_owned()
                },
                200,
                200
            ),
        ]
    );
    assert!(
        summary
            .anomalies
            .iter()
            .all(|a| a.kind == AnomalyKind::FinWait2Pileup)
    );
    // One poll is one look: no age is known, and none is claimed ("oldest 0ms" before).
    assert_eq!(summary.anomalies[1].evidence.oldest_age, None);
}

/// 5,000 ESTABLISHED over 500 peers, 300 TIME_WAIT over 100 destinations, 3 CLOSE_WAIT, a
/// few handshakes, an idle accept queue, and counters that rise as a busy server's do.
fn healthy(secs: u64, rise: u64) -> sockscope::model::Snapshot {
    let mut s = Synth::at(secs);
    s.snapshot.limits = sockscope::model::Limits {
        ip_local_port_range: Some((32768, 60999)),
        tcp_max_tw_buckets: Some(262_144),
        tcp_max_orphans: Some(262_144),
        tcp_max_syn_backlog: Some(4096),
        somaxconn: Some(4096),
        tcp_syncookies: Some(1),
        tcp_fin_timeout: Some(60),
    };
    let nginx = s.process(1234, "nginx");
    let app = s.process(2000, "app");
    s.listener("0.0.0.0:443", 2, 4096, &[nginx]);
    s.listener("127.0.0.1:8080", 0, 4096, &[app]);
    for i in 0..5000u32 {
        let remote = format!("198.51.{}.{}:{}", i % 5, i % 100, 30000 + i);
        s.socket(TcpState::Established, "10.0.0.1:443", &remote, &[nginx]);
    }
    for i in 0..300u32 {
        let remote = format!("192.0.2.{}:443", i % 100);
        let local = format!("10.0.0.1:{}", 40000 + i);
        s.socket(TcpState::TimeWait, &local, &remote, &[]);
    }
    s.many(
        3,
        TcpState::CloseWait,
        "127.0.0.1:8080",
        "127.0.0.1",
        &[app],
    );
    s.many(12, TcpState::SynRecv, "10.0.0.1:443", "203.0.113.5", &[]);
    s.many(40, TcpState::FinWait2, "10.0.0.1:443", "198.51.100.9", &[]);
    s.sockstat("orphan", 45);
    s.tcp_ext("ListenOverflows", 17)
        .tcp_ext("ListenDrops", 17)
        .tcp_ext("SyncookiesSent", 3)
        .tcp_ext("TCPTimeWaitOverflow", 0)
        .tcp_ext("TCPAbortOnTimeout", 900 + rise);
    s.snapshot.counters.tcp = vec![
        ("ActiveOpens".to_owned(), 1_000_000 + rise as i64 * 300),
        ("PassiveOpens".to_owned(), 5_000_000 + rise as i64 * 800),
        ("CurrEstab".to_owned(), 5000),
    ];
    s.build()
}

#[test]
fn healthy_busy_server_raises_nothing() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    for poll in 0..3 {
        let summary = aggregator.ingest(&healthy(100 + poll, poll));
        assert_eq!(summary.anomalies, Vec::new(), "poll {poll}");
    }
    assert_eq!(aggregator.summary().counts.get(TcpState::Established), 5000);
}

#[test]
fn anomalies_sort_critical_first_then_by_kind() {
    let mut s = nginx_close_wait(100, 20);
    s.snapshot.limits.tcp_max_orphans = Some(100);
    s.sockstat("orphan", 60);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let order: Vec<(&str, &str)> = summary
        .anomalies
        .iter()
        .map(|a| (a.severity.name(), a.kind.name()))
        .collect();
    assert_eq!(
        order,
        vec![
            ("critical", "orphan_sockets"),
            ("warning", "close_wait_backlog")
        ]
    );
    assert_eq!(summary.worst(), Some(Severity::Critical));
}

#[test]
fn kinds_and_subjects_render_their_exact_names() {
    let names: Vec<&str> = AnomalyKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        vec![
            "close_wait_backlog",
            "syn_recv_flood",
            "syn_cookies",
            "time_wait_excess",
            "connection_churn",
            "accept_queue_overflow",
            "fin_wait2_pileup",
            "orphan_sockets",
            "fd_exhaustion",
        ]
    );
    assert_eq!(
        (Severity::Warning.name(), Severity::Critical.name()),
        ("warning", "critical")
    );
    assert_eq!(nginx().label(), "nginx[1234]");
    assert_eq!(
        Subject::Destination(addr("[2001:db8::1]:443")).label(),
        "destination [2001:db8::1]:443"
    );
    assert_eq!(Subject::Namespace.label(), "namespace");
}

#[test]
fn an_aggregator_without_ages_raises_what_one_with_ages_raises_on_one_look() {
    let mut s = nginx_close_wait(100, 120);
    let proxy = s.process(900, "proxy");
    s.many(
        250,
        TcpState::FinWait2,
        "10.0.0.1:3128",
        "192.0.2.1",
        &[proxy],
    );
    s.many(30, TcpState::CloseWait, "10.0.0.1:8080", "192.0.2.9", &[]);
    let snapshot = s.build();
    let mut with_ages = Aggregator::new(RuleConfig::default());
    let mut one_look = Aggregator::new(RuleConfig::default()).without_ages();
    let expected = with_ages.ingest(&snapshot).clone();
    let found = one_look.ingest(&snapshot).clone();
    assert_eq!(found.anomalies, expected.anomalies);
    assert_eq!(found.counts, expected.counts);
    assert_eq!(found.by_process, expected.by_process);
    assert_eq!(found.anomalies.len(), 3);
    assert_eq!(with_ages.tracked_sockets(), 400);
    assert_eq!(one_look.tracked_sockets(), 0);
    assert_eq!(one_look.first_seen(&snapshot.sockets[0]), None);
    assert_eq!(with_ages.first_seen(&snapshot.sockets[0]), Some(at(100)));
}

#[test]
fn close_wait_without_owner_counts_its_peers_per_endpoint() {
    let mut s = Synth::at(100);
    for _ in 0..15 {
        s.socket(TcpState::CloseWait, "10.0.0.1:8080", "192.0.2.1:5432", &[]);
    }
    for _ in 0..6 {
        s.socket(TcpState::CloseWait, "10.0.0.1:8080", "192.0.2.2:6379", &[]);
    }
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    assert_eq!(summary.anomalies.len(), 1);
    let a = &summary.anomalies[0];
    assert_eq!((a.subject.clone(), a.count), (Subject::LocalPort(8080), 21));
    assert_eq!(
        a.evidence.peers,
        vec![
            PeerCount {
                peer: addr("192.0.2.1:5432"),
                count: 15
            },
            PeerCount {
                peer: addr("192.0.2.2:6379"),
                count: 6
            },
        ]
    );
}

#[test]
fn the_trend_covers_the_last_minute_not_the_whole_life_of_the_anomaly() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 20).build());
    aggregator.ingest(&nginx_close_wait(130, 20).build());
    aggregator.ingest(&nginx_close_wait(190, 80).build());
    let summary = aggregator.ingest(&nginx_close_wait(220, 80).build());
    // The window keeps the newest sample a minute old or older (130 s) and those after it:
    // 20 → 80 over 90 s is 40 per minute; over the whole life (120 s) it would read 30.
    assert_eq!(summary.anomalies[0].trend, Some(40.0));
    assert_eq!(summary.anomalies[0].first_seen, at(100));
}

#[test]
fn two_polls_at_the_same_instant_give_no_trend() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&nginx_close_wait(100, 20).build());
    let summary = aggregator.ingest(&nginx_close_wait(100, 30).build());
    assert_eq!(summary.anomalies[0].count, 30);
    assert_eq!(summary.anomalies[0].trend, None, "no time passed: no rate");
}

#[test]
fn a_fin_wait2_pileup_says_how_old_its_oldest_socket_is_at_least() {
    let pileup = |secs| {
        let mut s = Synth::at(secs);
        s.many(2000, TcpState::FinWait2, "10.0.0.1:80", "192.0.2.2", &[]);
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&pileup(100));
    let summary = aggregator.ingest(&pileup(130));
    let a = &summary.anomalies[0];
    assert_eq!(
        (a.kind, a.subject.clone(), a.count),
        (AnomalyKind::FinWait2Pileup, Subject::Namespace, 2000)
    );
    assert_eq!(a.evidence.oldest_age, Some(Duration::from_secs(30)));
}

#[test]
fn a_process_fin_wait2_pileup_says_how_old_its_oldest_socket_is_at_least() {
    let pileup = |secs| {
        let mut s = Synth::at(secs);
        let app = s.process(900, "proxy");
        s.many(
            200,
            TcpState::FinWait2,
            "10.0.0.1:3128",
            "192.0.2.1",
            &[app],
        );
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&pileup(100));
    let summary = aggregator.ingest(&pileup(145));
    let a = &summary.anomalies[0];
    assert_eq!((a.kind, a.count), (AnomalyKind::FinWait2Pileup, 200));
    assert_eq!(a.evidence.oldest_age, Some(Duration::from_secs(45)));
}

/// Every threshold at its lowest, so one socket or one counter step trips each rule.
fn hair_trigger() -> RuleConfig {
    let mut rules = RuleConfig::default();
    (
        rules.close_wait.per_process,
        rules.close_wait.per_process_critical,
    ) = (1, 1);
    (rules.syn_recv.per_listener, rules.syn_recv.min_count) = (1, 1);
    (
        rules.time_wait.per_destination,
        rules.time_wait.per_destination_critical,
    ) = (1, 1);
    (rules.fin_wait2.total, rules.fin_wait2.per_process) = (1, 1);
    (
        rules.connection_churn.per_destination,
        rules.connection_churn.per_destination_critical,
    ) = (1, 1);
    rules
}

/// A connection toward 192.0.2.10:443 no poll saw, destroyed at `at`.
fn closed_between_polls(at: std::time::SystemTime) -> sockscope::model::ClosedSocket {
    let mut one = Synth::at(0);
    one.socket(TcpState::Close, "10.0.0.1:41000", "192.0.2.10:443", &[]);
    sockscope::model::ClosedSocket {
        at,
        netns: "host".to_owned(),
        socket: one.build().sockets[0],
        tcp_info: None,
        last_state: None,
        first_seen: None,
        owners: Vec::new(),
        owner_from: sockscope::model::OwnerFrom::Unknown,
        container: None,
        accepted: false,
    }
}

/// One snapshot holding what trips every rule at [`hair_trigger`]: `step` is the value of
/// the kernel counters, which rise between two polls.
fn everything_at_once(secs: u64, step: u64) -> sockscope::model::Snapshot {
    let mut s = Synth::at(secs);
    s.snapshot.limits.tcp_max_orphans = Some(100);
    let app = s.process(1234, "app");
    s.descriptors(app, Some(990), Some(1000));
    s.socket(
        TcpState::CloseWait,
        "10.0.0.1:80",
        "192.0.2.7:40000",
        &[app],
    );
    s.listener("0.0.0.0:80", 0, 128, &[app]);
    s.socket(TcpState::SynRecv, "10.0.0.1:80", "203.0.113.1:20000", &[]);
    s.socket(TcpState::TimeWait, "10.0.0.1:33000", "192.0.2.9:5432", &[]);
    s.socket(TcpState::FinWait2, "10.0.0.1:80", "192.0.2.8:40001", &[]);
    s.sockstat("orphan", 90);
    s.tcp_ext("SyncookiesSent", step)
        .tcp_ext("ListenOverflows", step);
    s.build()
}

#[test]
fn every_rule_is_evaluated_a_snapshot_tripping_all_raises_every_kind() {
    let mut aggregator = Aggregator::new(hair_trigger());
    aggregator.ingest(&everything_at_once(100, 0));
    aggregator.listened(at(100), at(101));
    for ms in [100, 400, 700] {
        aggregator.closed(&closed_between_polls(at(100) + Duration::from_millis(ms)));
    }
    let summary = aggregator.ingest(&everything_at_once(101, 5));
    let mut raised: Vec<AnomalyKind> = summary.anomalies.iter().map(|a| a.kind).collect();
    raised.sort_unstable();
    raised.dedup();
    assert_eq!(raised, AnomalyKind::ALL);
}
