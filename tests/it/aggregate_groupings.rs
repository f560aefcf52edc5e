//! Groupings, state changes, socket ages, counter rates and history on synthetic snapshots.

#![allow(clippy::unwrap_used)]

use crate::support::synthetic;

use std::net::IpAddr;
use std::time::Duration;

use sockscope::aggregate::{Aggregator, Group, RuleConfig, StateGroup};
use sockscope::model::{StateCounts, TcpState};
use synthetic::{Synth, addr, at};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// nginx[1234]: 3 ESTABLISHED + 1 CLOSE_WAIT; redis[99]: 4 ESTABLISHED; sshd[7]: 1
/// ESTABLISHED; plus 2 unowned TIME_WAIT.
fn mixed() -> Synth {
    let mut s = Synth::at(100);
    let nginx = s.process(1234, "nginx");
    let redis = s.process(99, "redis");
    let sshd = s.process(7, "sshd");
    s.socket(
        TcpState::Established,
        "10.0.0.1:80",
        "192.0.2.1:5000",
        &[nginx],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:80",
        "192.0.2.1:5001",
        &[nginx],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:80",
        "192.0.2.2:5000",
        &[nginx],
    );
    s.socket(
        TcpState::CloseWait,
        "10.0.0.1:80",
        "192.0.2.3:5000",
        &[nginx],
    );
    for port in 0..4 {
        let remote = format!("10.0.0.9:{}", 6000 + port);
        s.socket(TcpState::Established, "10.0.0.1:6379", &remote, &[redis]);
    }
    s.socket(
        TcpState::Established,
        "10.0.0.1:22",
        "198.51.100.4:50000",
        &[sshd],
    );
    s.socket(TcpState::TimeWait, "10.0.0.1:41000", "192.0.2.1:443", &[]);
    s.socket(TcpState::TimeWait, "10.0.0.1:41001", "192.0.2.1:443", &[]);
    s
}

#[test]
fn processes_sort_by_socket_count_ties_by_pid() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&mixed().build());
    let got: Vec<(u32, &str, u64, u64)> = summary
        .by_process
        .iter()
        .map(|p| {
            (
                p.pid,
                p.comm.as_str(),
                p.total(),
                p.counts.get(TcpState::CloseWait),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (99, "redis", 4, 0),
            (1234, "nginx", 4, 1),
            (7, "sshd", 1, 0)
        ]
    );
    assert_eq!(summary.unowned.get(TcpState::TimeWait), 2);
    assert_eq!(summary.unowned.total(), 2);
}

#[test]
fn remote_hosts_and_endpoints_sort_by_count_ties_by_address() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&mixed().build());
    let hosts: Vec<Group<IpAddr>> = summary.by_remote_host.entries.clone();
    assert_eq!(
        hosts,
        vec![
            Group {
                key: ip("10.0.0.9"),
                count: 4
            },
            Group {
                key: ip("192.0.2.1"),
                count: 4
            },
            Group {
                key: ip("192.0.2.2"),
                count: 1
            },
            Group {
                key: ip("192.0.2.3"),
                count: 1
            },
            Group {
                key: ip("198.51.100.4"),
                count: 1
            },
        ]
    );
    assert_eq!(
        (
            summary.by_remote_host.distinct,
            summary.by_remote_host.total
        ),
        (5, 11)
    );
    let endpoints = &summary.by_remote_endpoint;
    assert_eq!(
        endpoints.entries[0],
        Group {
            key: addr("192.0.2.1:443"),
            count: 2
        }
    );
    assert_eq!(
        endpoints.entries[1],
        Group {
            key: addr("10.0.0.9:6000"),
            count: 1
        }
    );
    assert_eq!(
        (endpoints.distinct, endpoints.total, endpoints.rest()),
        (10, 11, 0)
    );
}

#[test]
fn ipv4_mapped_peer_is_grouped_with_its_ipv4_address() {
    let mut s = Synth::at(100);
    s.socket(
        TcpState::Established,
        "[::ffff:10.0.0.1]:80",
        "[::ffff:192.0.2.1]:5000",
        &[],
    );
    s.socket(TcpState::Established, "10.0.0.1:80", "192.0.2.1:5001", &[]);
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    assert_eq!(
        summary.by_remote_host.entries,
        vec![Group {
            key: ip("192.0.2.1"),
            count: 2
        }]
    );
}

#[test]
fn listeners_carry_queue_backlog_and_matched_handshakes() {
    let mut s = Synth::at(100);
    let nginx = s.process(1234, "nginx");
    let worker = s.process(1235, "nginx");
    let app = s.process(50, "app");
    // Two SO_REUSEPORT sockets on the wildcard :80, one exact listener on :8080, a
    // dual-stack [::]:443.
    s.listener("0.0.0.0:80", 3, 511, &[nginx, worker]);
    s.listener("0.0.0.0:80", 1, 511, &[worker]);
    s.listener("127.0.0.1:8080", 0, 128, &[app]);
    s.listener("[::]:443", 0, 4096, &[nginx]);
    for i in 0..3 {
        let remote = format!("203.0.113.{i}:40000");
        s.socket(TcpState::SynRecv, "10.0.0.1:80", &remote, &[]);
    }
    s.socket(
        TcpState::SynRecv,
        "192.168.1.1:80",
        "203.0.113.0:40001",
        &[],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:80",
        "203.0.113.9:40000",
        &[worker],
    );
    s.socket(TcpState::SynRecv, "127.0.0.1:8080", "127.0.0.1:50000", &[]);
    // Not a listener's port: outgoing connection.
    s.socket(TcpState::SynRecv, "10.0.0.1:8080", "127.0.0.1:50001", &[]);
    s.socket(
        TcpState::SynRecv,
        "[::ffff:10.0.0.1]:443",
        "[::ffff:203.0.113.1]:40000",
        &[],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:443",
        "203.0.113.2:40000",
        &[nginx],
    );
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let got: Vec<(String, u32, u64, Option<u64>, u64, u64)> = summary
        .by_listener
        .iter()
        .map(|l| {
            (
                l.local.to_string(),
                l.sockets,
                l.accept_queue,
                l.backlog,
                l.syn_recv(),
                l.connections(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("0.0.0.0:80".to_owned(), 2, 4, Some(1022), 4, 5),
            ("[::]:443".to_owned(), 1, 0, Some(4096), 1, 2),
            ("127.0.0.1:8080".to_owned(), 1, 0, Some(128), 1, 1),
        ]
    );
    assert_eq!(
        summary.by_listener[0].owners,
        vec![(1234, "nginx".to_owned()), (1235, "nginx".to_owned())]
    );
}

#[test]
fn states_sort_by_count_and_carry_change_since_last_poll() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let first = aggregator.ingest(&mixed().build());
    assert_eq!(first.change(TcpState::Established), None);
    assert_eq!(
        first.by_state[..3].to_vec(),
        vec![
            StateGroup {
                state: TcpState::Established,
                count: 8,
                change: None
            },
            StateGroup {
                state: TcpState::TimeWait,
                count: 2,
                change: None
            },
            StateGroup {
                state: TcpState::CloseWait,
                count: 1,
                change: None
            },
        ]
    );
    // Zero counts keep lifecycle order.
    assert_eq!(first.by_state[3].state, TcpState::Listen);
    assert_eq!(first.by_state.len(), 11);

    let mut next = mixed();
    next.snapshot.taken_at = Some(at(101));
    next.snapshot
        .sockets
        .retain(|s| s.state != TcpState::TimeWait);
    next.socket(TcpState::CloseWait, "10.0.0.1:80", "192.0.2.3:5001", &[0]);
    let second = aggregator.ingest(&next.build());
    assert_eq!(second.change(TcpState::TimeWait), Some(-2));
    assert_eq!(second.change(TcpState::CloseWait), Some(1));
    assert_eq!(second.change(TcpState::Established), Some(0));
    assert_eq!(
        second.by_state[1],
        StateGroup {
            state: TcpState::CloseWait,
            count: 2,
            change: Some(1)
        }
    );
}

#[test]
fn socket_age_is_tracked_by_cookie_across_three_polls() {
    let poll = |secs, state| {
        let mut s = Synth::at(secs);
        s.socket_with_cookie(42, state, "10.0.0.1:80", "192.0.2.1:5000", &[]);
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let first = poll(100, TcpState::Established);
    aggregator.ingest(&first);
    let second = poll(130, TcpState::FinWait2);
    aggregator.ingest(&second);
    let socket = second.sockets[0];
    assert_eq!(aggregator.first_seen(&socket), Some(at(100)));
    assert_eq!(aggregator.in_state_since(&socket), Some(at(130)));
    let third = poll(175, TcpState::FinWait2);
    aggregator.ingest(&third);
    assert_eq!(aggregator.first_seen(&third.sockets[0]), Some(at(100)));
    assert_eq!(aggregator.in_state_since(&third.sockets[0]), Some(at(130)));
}

#[test]
fn gone_sockets_are_forgotten() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut s = Synth::at(100);
    s.many(1000, TcpState::Established, "10.0.0.1:80", "192.0.2.1", &[]);
    aggregator.ingest(&s.build());
    assert_eq!(aggregator.tracked_sockets(), 1000);
    let mut s = Synth::at(101);
    s.socket_with_cookie(7, TcpState::Established, "10.0.0.1:80", "192.0.2.1:1", &[]);
    aggregator.ingest(&s.build());
    assert_eq!(aggregator.tracked_sockets(), 1);
}

#[test]
fn oldest_close_wait_age_follows_the_cookie() {
    let poll = |secs| {
        let mut s = Synth::at(secs);
        let app = s.process(10, "leaky");
        s.socket_with_cookie(
            1,
            TcpState::CloseWait,
            "10.0.0.1:80",
            "192.0.2.1:5000",
            &[app],
        );
        for cookie in 100..119 {
            s.socket_with_cookie(
                cookie + secs,
                TcpState::CloseWait,
                "10.0.0.1:80",
                "192.0.2.2:5000",
                &[app],
            );
        }
        s.build()
    };
    let mut aggregator = Aggregator::new(RuleConfig::default());
    aggregator.ingest(&poll(100));
    aggregator.ingest(&poll(200));
    let summary = aggregator.ingest(&poll(400));
    assert_eq!(
        summary.anomalies[0].evidence.oldest_age,
        Some(Duration::from_secs(300))
    );
}

#[test]
fn counter_rates_are_per_second_between_polls_and_absent_after_a_reset() {
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let mut s = Synth::at(100);
    s.tcp_ext("ListenDrops", 10)
        .tcp_ext("TCPAbortOnTimeout", 500);
    assert!(aggregator.ingest(&s.build()).rates.is_empty());
    let mut s = Synth::at(102);
    s.tcp_ext("ListenDrops", 30).tcp_ext("TCPAbortOnTimeout", 2);
    let summary = aggregator.ingest(&s.build());
    let drops = summary.rate("ListenDrops").unwrap();
    assert_eq!((drops.delta, drops.per_second), (20, Some(10.0)));
    assert_eq!(summary.rate("TCPAbortOnTimeout"), None);
    let series: Vec<Option<f64>> = summary
        .history
        .rate_series("ListenDrops")
        .unwrap()
        .collect();
    assert_eq!(series, vec![None, Some(10.0)]);
}

#[test]
fn history_keeps_counts_per_poll_within_its_span() {
    let mut aggregator = Aggregator::new(RuleConfig::default())
        .with_history(Duration::from_secs(3), Duration::from_secs(1));
    for (i, n) in [1u32, 2, 3, 4, 5, 6].into_iter().enumerate() {
        let mut s = Synth::at(100 + i as u64);
        s.many(n, TcpState::TimeWait, "10.0.0.1:80", "192.0.2.1", &[]);
        aggregator.ingest(&s.build());
    }
    let summary = aggregator.summary();
    assert_eq!(summary.history.capacity(), 4);
    let series: Vec<u64> = summary.history.state_series(TcpState::TimeWait).collect();
    assert_eq!(series, vec![3, 4, 5, 6]);
    assert_eq!(summary.polls, 6);
    let mut expected = StateCounts::default();
    for _ in 0..6 {
        expected.add(TcpState::TimeWait);
    }
    assert_eq!(summary.counts, expected);
}

#[test]
fn remote_endpoint_grouping_keeps_the_top_entries_and_totals() {
    let mut s = Synth::at(100);
    s.many(500, TcpState::Established, "10.0.0.1:80", "192.0.2.1", &[]);
    for _ in 0..3 {
        s.socket(
            TcpState::Established,
            "10.0.0.1:80",
            "198.51.100.1:443",
            &[],
        );
    }
    let mut aggregator = Aggregator::new(RuleConfig::default());
    let summary = aggregator.ingest(&s.build());
    let endpoints = &summary.by_remote_endpoint;
    assert_eq!(endpoints.entries.len(), sockscope::aggregate::GROUP_LIMIT);
    assert_eq!(
        endpoints.entries[0],
        Group {
            key: addr("198.51.100.1:443"),
            count: 3
        }
    );
    assert_eq!(
        endpoints.entries[1],
        Group {
            key: addr("192.0.2.1:10000"),
            count: 1
        }
    );
    assert_eq!(
        (endpoints.distinct, endpoints.total, endpoints.rest()),
        (501, 503, 301)
    );
}
