//! The rules that compare against kernel limits and counters on synthetic snapshots: SYN
//! backlog, SYN cookies, TIME_WAIT, accept queues, orphans.

#![allow(clippy::unwrap_used)]

use crate::support::synthetic;

use sockscope::aggregate::{
    Aggregator, Anomaly, AnomalyKind, CounterRise, RuleConfig, Severity, Subject,
};
use sockscope::model::TcpState;
use synthetic::{Synth, addr};

fn of_kind(anomalies: &[Anomaly], kind: AnomalyKind) -> Vec<&Anomaly> {
    anomalies.iter().filter(|a| a.kind == kind).collect()
}

/// A listener on 0.0.0.0:80 with `backlog` and `n` SYN_RECV from `sources` distinct hosts.
fn syn_flood(secs: u64, backlog: u32, n: u32, sources: u32) -> Synth {
    let mut s = Synth::at(secs);
    s.snapshot.limits.tcp_max_syn_backlog = Some(4096);
    let nginx = s.process(1234, "nginx");
    s.listener("0.0.0.0:80", 0, backlog, &[nginx]);
    for i in 0..n {
        let remote = format!("203.0.113.{}:{}", i % sources, 20000 + i);
        s.socket(TcpState::SynRecv, "10.0.0.1:80", &remote, &[]);
    }
    s
}

#[test]
fn syn_recv_flood_fires_at_per_listener_threshold_not_one_below() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&syn_flood(100, 4096, 99, 50).build())
            .anomalies
            .is_empty()
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&syn_flood(100, 4096, 100, 50).build());
    let a = &of_kind(&summary.anomalies, AnomalyKind::SynRecvFlood)[0];
    assert_eq!(a.subject, Subject::Listener(addr("0.0.0.0:80")));
    assert_eq!(a.subject.label(), "listener 0.0.0.0:80");
    assert_eq!(
        (a.count, a.threshold, a.critical_threshold),
        (100, 100, 1000)
    );
    assert_eq!(a.severity, Severity::Warning);
    assert_eq!(a.evidence.distinct_sources, Some(50));
    assert_eq!(a.evidence.limit, Some(4096));
}

#[test]
fn syn_recv_flood_fires_at_fraction_of_syn_backlog() {
    // SYN backlog min(64, 4096) = 64: warning at 32, critical at ceil(0.9 × 64) = 58.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&syn_flood(100, 64, 31, 31).build())
            .anomalies
            .is_empty()
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator
        .ingest(&syn_flood(100, 64, 32, 32).build())
        .anomalies[0]
        .clone();
    assert_eq!(
        (a.kind, a.count, a.threshold, a.critical_threshold),
        (AnomalyKind::SynRecvFlood, 32, 32, 58)
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator
        .ingest(&syn_flood(100, 64, 58, 58).build())
        .anomalies[0]
        .clone();
    assert_eq!(a.severity, Severity::Critical);
}

#[test]
fn syn_recv_on_tiny_backlog_needs_min_count() {
    // Backlog 4: half of it is 2, but the fraction only counts from 10 SYN_RECV.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&syn_flood(100, 4, 9, 9).build())
            .anomalies
            .is_empty()
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert_eq!(
        aggregator
            .ingest(&syn_flood(100, 4, 10, 9).build())
            .anomalies
            .len(),
        1
    );
}

fn cookies(secs: u64, sent: u64, dropped: u64) -> Synth {
    let mut s = Synth::at(secs);
    s.tcp_ext("SyncookiesSent", sent)
        .tcp_ext("TCPReqQFullDoCookies", sent)
        .tcp_ext("TCPReqQFullDrop", dropped);
    s
}

#[test]
fn syn_cookies_needs_two_polls_and_fires_on_a_rise() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&cookies(100, 5000, 0).build())
            .anomalies
            .is_empty()
    );
    assert!(
        aggregator
            .ingest(&cookies(101, 5000, 0).build())
            .anomalies
            .is_empty()
    );
    let summary = aggregator.ingest(&cookies(102, 5005, 0).build());
    let a = &summary.anomalies[0];
    assert_eq!(
        (a.kind, a.subject.clone(), a.count, a.severity),
        (
            AnomalyKind::SynCookies,
            Subject::Namespace,
            5,
            Severity::Warning
        )
    );
    assert_eq!(
        a.evidence.counter_rises,
        vec![
            CounterRise {
                counter: "SyncookiesSent",
                rise: 5
            },
            CounterRise {
                counter: "TCPReqQFullDoCookies",
                rise: 5
            },
        ]
    );
    assert_eq!(
        a.evidence.counter_interval,
        Some(std::time::Duration::from_secs(1))
    );
    assert!(
        aggregator
            .ingest(&cookies(103, 5005, 0).build())
            .anomalies
            .is_empty()
    );
}

#[test]
fn syn_cookies_drop_is_critical() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&cookies(100, 0, 10).build());
    let summary = aggregator.ingest(&cookies(101, 0, 11).build());
    assert_eq!(summary.anomalies[0].severity, Severity::Critical);
    assert_eq!(summary.anomalies[0].count, 1);
}

#[test]
fn syn_cookies_always_on_ignores_cookies_sent() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = cookies(100, 0, 0);
    first.snapshot.limits.tcp_syncookies = Some(2);
    let mut second = cookies(101, 900, 0);
    second.snapshot.limits.tcp_syncookies = Some(2);
    aggregator.ingest(&first.build());
    assert!(aggregator.ingest(&second.build()).anomalies.is_empty());
}

fn time_wait_to(secs: u64, n: u32, destination: &str) -> Synth {
    let mut s = Synth::at(secs);
    s.snapshot.limits.ip_local_port_range = Some((32768, 60999));
    s.snapshot.limits.tcp_max_tw_buckets = Some(262_144);
    s.many_to(n, TcpState::TimeWait, "10.0.0.1", destination, &[]);
    s
}

#[test]
fn time_wait_excess_fires_per_destination_at_threshold_not_one_below() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&time_wait_to(100, 4999, "192.0.2.7:443").build())
            .anomalies
            .is_empty()
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&time_wait_to(100, 5000, "192.0.2.7:443").build());
    let a = &summary.anomalies[0];
    assert_eq!(a.kind, AnomalyKind::TimeWaitExcess);
    assert_eq!(a.subject, Subject::Destination(addr("192.0.2.7:443")));
    assert_eq!(a.subject.label(), "destination 192.0.2.7:443");
    assert_eq!(
        (a.count, a.threshold, a.critical_threshold),
        (5000, 5000, 20000)
    );
    assert_eq!(a.evidence.limit, Some(28232));
}

#[test]
fn time_wait_excess_uses_port_range_fraction_when_range_is_narrow() {
    let narrow = |n| {
        let mut s = time_wait_to(100, n, "192.0.2.7:443");
        s.snapshot.limits.ip_local_port_range = Some((60000, 60999));
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(aggregator.ingest(&narrow(499)).anomalies.is_empty());
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator.ingest(&narrow(500)).anomalies[0].clone();
    assert_eq!(
        (a.count, a.threshold, a.critical_threshold, a.severity),
        (500, 500, 800, Severity::Warning)
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert_eq!(
        aggregator.ingest(&narrow(800)).anomalies[0].severity,
        Severity::Critical
    );
}

#[test]
fn time_wait_total_near_max_tw_buckets_raises_namespace_anomaly() {
    // 1000 buckets: warning at 800 in all, spread so no destination reaches its own mark.
    let spread = |n: u32| {
        let mut s = Synth::at(100);
        s.snapshot.limits.tcp_max_tw_buckets = Some(1000);
        for i in 0..n {
            let remote = format!("198.51.{}.{}:443", i / 200, i % 200);
            s.socket(TcpState::TimeWait, "10.0.0.1:40000", &remote, &[]);
        }
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(aggregator.ingest(&spread(799)).anomalies.is_empty());
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator.ingest(&spread(800)).anomalies[0].clone();
    assert_eq!(
        (
            a.kind,
            a.subject,
            a.count,
            a.threshold,
            a.critical_threshold
        ),
        (
            AnomalyKind::TimeWaitExcess,
            Subject::Namespace,
            800,
            800,
            950
        )
    );
    assert_eq!(
        a.evidence.limit,
        Some(1000),
        "tcp_max_tw_buckets is the evidence"
    );
}

#[test]
fn time_wait_overflow_rise_is_critical() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = time_wait_to(100, 10, "192.0.2.7:443");
    first.tcp_ext("TCPTimeWaitOverflow", 7);
    let mut second = time_wait_to(101, 10, "192.0.2.7:443");
    second.tcp_ext("TCPTimeWaitOverflow", 9);
    assert!(aggregator.ingest(&first.build()).anomalies.is_empty());
    let summary = aggregator.ingest(&second.build());
    let a = &summary.anomalies[0];
    assert_eq!(
        (a.kind, a.subject.clone(), a.severity),
        (
            AnomalyKind::TimeWaitExcess,
            Subject::Namespace,
            Severity::Critical
        )
    );
    assert_eq!(
        a.evidence.counter_rises,
        vec![CounterRise {
            counter: "TCPTimeWaitOverflow",
            rise: 2
        }]
    );
}

#[test]
fn time_wait_hints_recommend_no_removed_or_ineffective_tunable() {
    let mut s = time_wait_to(100, 5000, "192.0.2.7:443");
    s.snapshot.limits.tcp_max_tw_buckets = Some(5000);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let hints: Vec<&str> = summary.anomalies.iter().map(|a| a.hint).collect();
    assert_eq!(hints.len(), 2);
    for hint in hints {
        assert!(!hint.contains("tcp_tw_recycle"), "{hint}");
        assert!(!hint.contains("tcp_fin_timeout"), "{hint}");
        assert!(hint.contains("tcp_tw_reuse"), "{hint}");
        assert!(hint.contains("60 s"), "{hint}");
    }
}

fn accept_queue(secs: u64, queued: u32, backlog: u32) -> Synth {
    let mut s = Synth::at(secs);
    let app = s.process(42, "gunicorn");
    s.listener("127.0.0.1:8000", queued, backlog, &[app]);
    s
}

#[test]
fn accept_queue_overflow_fires_at_fraction_of_backlog_not_one_below() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(
        aggregator
            .ingest(&accept_queue(100, 79, 100).build())
            .anomalies
            .is_empty()
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator
        .ingest(&accept_queue(100, 80, 100).build())
        .anomalies[0]
        .clone();
    assert_eq!(
        (
            a.kind,
            a.subject,
            a.count,
            a.threshold,
            a.critical_threshold,
            a.severity
        ),
        (
            AnomalyKind::AcceptQueueOverflow,
            Subject::Listener(addr("127.0.0.1:8000")),
            80,
            80,
            100,
            Severity::Warning
        )
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator
        .ingest(&accept_queue(100, 101, 100).build())
        .anomalies[0]
        .clone();
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.evidence.limit, Some(100), "the backlog is the evidence");
}

#[test]
fn listen_drops_rise_raises_namespace_accept_queue_overflow() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = Synth::at(100);
    first
        .tcp_ext("ListenOverflows", 50)
        .tcp_ext("ListenDrops", 50);
    let mut second = Synth::at(101);
    second
        .tcp_ext("ListenOverflows", 53)
        .tcp_ext("ListenDrops", 54);
    assert!(aggregator.ingest(&first.build()).anomalies.is_empty());
    let summary = aggregator.ingest(&second.build());
    let a = &summary.anomalies[0];
    assert_eq!(
        (a.kind, a.subject.clone(), a.count, a.severity),
        (
            AnomalyKind::AcceptQueueOverflow,
            Subject::Namespace,
            4,
            Severity::Warning
        )
    );
    assert_eq!(
        a.evidence.counter_rises,
        vec![
            CounterRise {
                counter: "ListenOverflows",
                rise: 3
            },
            CounterRise {
                counter: "ListenDrops",
                rise: 4
            },
        ]
    );
}

#[test]
fn a_single_listen_overflow_or_time_wait_overflow_is_raised() {
    // The default levels are a rise of 1: one dropped connection is worth saying.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = Synth::at(100);
    first
        .tcp_ext("ListenOverflows", 50)
        .tcp_ext("ListenDrops", 50);
    let mut second = Synth::at(101);
    second
        .tcp_ext("ListenOverflows", 51)
        .tcp_ext("ListenDrops", 51);
    aggregator.ingest(&first.build());
    let summary = aggregator.ingest(&second.build());
    assert_eq!(
        summary
            .anomalies
            .iter()
            .map(|a| (a.kind, a.subject.clone(), a.count))
            .collect::<Vec<_>>(),
        [(AnomalyKind::AcceptQueueOverflow, Subject::Namespace, 1)]
    );

    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = Synth::at(100);
    first.tcp_ext("TCPTimeWaitOverflow", 7);
    let mut second = Synth::at(101);
    second.tcp_ext("TCPTimeWaitOverflow", 8);
    aggregator.ingest(&first.build());
    let summary = aggregator.ingest(&second.build());
    assert_eq!(
        summary
            .anomalies
            .iter()
            .map(|a| (a.kind, a.subject.clone(), a.severity))
            .collect::<Vec<_>>(),
        [(
            AnomalyKind::TimeWaitExcess,
            Subject::Namespace,
            Severity::Critical
        )]
    );
    assert_eq!(
        summary.anomalies[0].evidence.counter_rises,
        vec![CounterRise {
            counter: "TCPTimeWaitOverflow",
            rise: 1
        }]
    );
}

fn orphans(n: u64) -> sockscope::model::Snapshot {
    let mut s = Synth::at(100);
    s.snapshot.limits.tcp_max_orphans = Some(1000);
    s.sockstat("orphan", n);
    s.build()
}

#[test]
fn orphan_sockets_warns_at_a_quarter_and_is_critical_at_half() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert!(aggregator.ingest(&orphans(249)).anomalies.is_empty());
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let a = aggregator.ingest(&orphans(250)).anomalies[0].clone();
    assert_eq!(
        (
            a.kind,
            a.subject,
            a.count,
            a.threshold,
            a.critical_threshold,
            a.severity
        ),
        (
            AnomalyKind::OrphanSockets,
            Subject::Namespace,
            250,
            250,
            500,
            Severity::Warning
        )
    );
    assert_eq!(
        a.evidence.limit,
        Some(1000),
        "tcp_max_orphans is the evidence"
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    assert_eq!(
        aggregator.ingest(&orphans(500)).anomalies[0].severity,
        Severity::Critical
    );
}

#[test]
fn from_proc_net_tcp_the_backlog_is_unknown_and_no_rule_compares_with_it() {
    // /proc/net/tcp has no listen backlog: its LISTEN send-q is write_seq - snd_una, 0.
    let from_procnet = |mut s: Synth| {
        s.snapshot.source = sockscope::model::SourceKind::ProcNet;
        s.build()
    };
    // listen(100) with 5 connections queued: read as backlog 0 it was CRITICAL, limit 0.
    let mut s = Synth::at(100);
    let app = s.process(4242, "app");
    s.listener("0.0.0.0:8080", 5, 0, &[app]);
    let snapshot = from_procnet(s);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&snapshot);
    assert!(summary.anomalies.is_empty(), "{:?}", summary.anomalies);
    assert_eq!(summary.by_listener[0].backlog, None);
    assert_eq!(summary.by_listener[0].accept_queue, 5);
    assert_eq!(snapshot.send_q(&snapshot.sockets[0]), None);

    // A 150-SYN flood is judged on the fixed levels alone: a warning at 100, not a
    // critical at the backlog share's floor of 10.
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&from_procnet(syn_flood(100, 0, 150, 150)));
    let a = &of_kind(&summary.anomalies, AnomalyKind::SynRecvFlood)[0];
    assert_eq!(
        (
            a.severity,
            a.count,
            a.threshold,
            a.critical_threshold,
            a.evidence.limit
        ),
        (Severity::Warning, 150, 100, 1000, None)
    );
}

#[test]
fn a_counter_that_did_not_rise_is_left_out_of_the_evidence() {
    let summary = two_readings(&[("ListenOverflows", 50, 50), ("ListenDrops", 50, 53)], 1);
    let a = &summary.anomalies[0];
    assert_eq!((a.kind, a.count), (AnomalyKind::AcceptQueueOverflow, 3));
    assert_eq!(
        a.evidence.counter_rises,
        vec![CounterRise {
            counter: "ListenDrops",
            rise: 3
        }]
    );
}

#[test]
fn a_time_wait_overflow_says_over_how_long_the_counter_rose() {
    let summary = two_readings(&[("TCPTimeWaitOverflow", 7, 9)], 2);
    let a = &summary.anomalies[0];
    // The count is the TIME_WAIT sockets (none here); the overflow forces the severity.
    assert_eq!((a.kind, a.count), (AnomalyKind::TimeWaitExcess, 0));
    assert_eq!(
        a.evidence.counter_rises,
        vec![CounterRise {
            counter: "TCPTimeWaitOverflow",
            rise: 2
        }]
    );
    assert_eq!(
        a.evidence.counter_interval,
        Some(std::time::Duration::from_secs(2))
    );
}

/// The summary of two polls `seconds` apart whose TcpExt counters read `(name, first,
/// second)`.
fn two_readings(counters: &[(&str, u64, u64)], seconds: u64) -> sockscope::aggregate::Summary {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut first = Synth::at(100);
    let mut second = Synth::at(100 + seconds);
    for &(name, before, after) in counters {
        first.tcp_ext(name, before);
        second.tcp_ext(name, after);
    }
    aggregator.ingest(&first.build());
    aggregator.ingest(&second.build()).clone()
}
