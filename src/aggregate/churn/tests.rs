use std::time::{Duration, SystemTime};

use super::*;
use crate::model::fixture::{closed_opened, socket};
use crate::model::{OwnerFrom, Process, TcpInfo, TcpState};

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
}

/// A connection this side opened toward `remote`, closed at `ms`; `lived` as a poll saw
/// it born (`None`: no poll saw it), held by `pid` when given.
fn opened(ms: u64, remote: &str, lived: Option<u64>, pid: Option<u32>) -> ClosedSocket {
    ClosedSocket {
        tcp_info: Some(TcpInfo {
            bytes_acked: 100,
            bytes_received: 300,
            ..TcpInfo::default()
        }),
        ..closed_opened(at(ms), remote, lived.map(Duration::from_millis), pid)
    }
}

fn accepted(ms: u64, local: &str) -> ClosedSocket {
    ClosedSocket {
        socket: socket(TcpState::Close)
            .local(local)
            .remote("10.0.0.9:50000"),
        owners: vec![Process {
            pid: 10,
            comm: "nginx".into(),
            ..Process::default()
        }],
        owner_from: OwnerFrom::Listener,
        container: Some("docker:3f2a1c9e0b7d (web-1)".into()),
        accepted: true,
        ..opened(ms, "10.0.0.9:50000", None, None)
    }
}

#[test]
fn a_close_is_short_lived_when_no_poll_saw_it_or_it_lived_under_the_setting() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(2_000));
    churn.add(&opened(100, "10.0.0.2:5432", None, None));
    churn.add(&opened(200, "10.0.0.2:5432", Some(300), Some(7)));
    churn.add(&opened(300, "10.0.0.2:5432", Some(9_000), Some(7)));
    let seen_at_first_poll = ClosedSocket {
        first_seen: None,
        ..opened(400, "10.0.0.2:5432", Some(1), Some(7))
    };
    churn.add(&seen_at_first_poll);
    let window = churn.window(at(2_000), Duration::from_secs(10)).unwrap();
    assert_eq!(
        (
            window.total.closes,
            window.total.short_lived,
            window.total.unseen
        ),
        (4, 2, 1)
    );
    assert_eq!(window.total.bytes_per_connection(), Some(400));
    assert_eq!(
        window.total.median_lifetime(),
        Some(Duration::from_millis(512)),
        "300 ms and 9 s: the median falls in the bucket of 300 ms (256..512 ms)"
    );
}

#[test]
fn rates_are_over_the_time_listened_not_a_minute_that_began_before() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(4_000));
    for i in 0..40 {
        churn.add(&opened(i * 100, "10.0.0.2:443", None, None));
    }
    let summary = churn.summary(at(4_000));
    assert_eq!(summary.span, Duration::from_secs(4));
    assert_eq!(summary.total.closes, 40);
    assert!((summary.per_second_total() - 10.0).abs() < 1e-9);
    assert_eq!(summary.per_second.len(), SPAN_SECONDS);
    assert_eq!(&summary.per_second[56..], &[10, 10, 10, 10]);
    assert!(summary.per_second[..56].iter().all(|&n| n == 0));
}

#[test]
fn a_window_holds_only_its_last_seconds() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(30_000));
    for second in 0..30 {
        churn.add(&opened(second * 1_000, "10.0.0.2:443", None, None));
    }
    let window = churn.window(at(29_500), Duration::from_secs(10)).unwrap();
    assert_eq!(window.total.closes, 10);
    assert_eq!(window.span, Duration::from_secs(10));
    assert_eq!(window.per_second, vec![1; 10]);
}

#[test]
fn nothing_listened_to_is_no_window_and_an_empty_summary() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.add(&opened(0, "10.0.0.2:443", None, None));
    assert_eq!(churn.window(at(1_000), Duration::from_secs(10)), None);
    assert!(!churn.summary(at(1_000)).listening);
}

#[test]
fn the_last_minute_is_kept_and_older_seconds_are_dropped() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(100_000));
    for second in 0..100 {
        churn.add(&opened(second * 1_000, "10.0.0.2:443", None, None));
    }
    assert_eq!(churn.seconds.len(), SPAN_SECONDS);
    let summary = churn.summary(at(99_000));
    assert_eq!(summary.total.closes, 60);
    assert_eq!(summary.span, Duration::from_mins(1));
}

#[test]
fn closes_are_grouped_by_maker_port_host_container_and_destination() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(1_000));
    churn.add(&opened(10, "10.0.0.2:5432", None, None));
    churn.add(&opened(20, "10.0.0.2:5432", Some(5), Some(7)));
    churn.add(&opened(30, "10.0.0.3:6379", Some(5), Some(7)));
    churn.add(&accepted(40, "10.0.0.1:80"));
    churn.add(&accepted(50, "10.0.0.1:80"));
    let summary = churn.summary(at(1_000));
    let makers: Vec<(Option<String>, u64)> = summary
        .by_maker
        .iter()
        .map(|g| (g.key.as_ref().map(Maker::label), g.stats.closes))
        .collect();
    assert_eq!(
        makers,
        vec![
            (Some("client[7]".to_owned()), 2),
            (Some("nginx[10]".to_owned()), 2),
            (None, 1)
        ]
    );
    let ports: Vec<(Option<u16>, u64)> = summary
        .by_local_port
        .iter()
        .map(|g| (g.key, g.stats.closes))
        .collect();
    assert_eq!(ports, vec![(None, 3), (Some(80), 2)]);
    let containers: Vec<(Option<&str>, u64)> = summary
        .by_container
        .iter()
        .map(|g| (g.key.as_deref(), g.stats.closes))
        .collect();
    assert_eq!(
        containers,
        vec![(None, 3), (Some("docker:3f2a1c9e0b7d (web-1)"), 2)]
    );
    let destinations: Vec<(String, u64)> = summary
        .by_destination
        .iter()
        .map(|g| (g.key.to_string(), g.stats.closes))
        .collect();
    assert_eq!(
        destinations,
        vec![
            ("10.0.0.2:5432".to_owned(), 2),
            ("10.0.0.3:6379".to_owned(), 1)
        ]
    );
    let toward: Vec<(Option<u32>, u64)> = summary
        .makers_toward("10.0.0.2:5432".parse().unwrap())
        .map(|g| (g.key.1.as_ref().map(|m| m.pid), g.stats.closes))
        .collect();
    assert_eq!(toward, vec![(None, 1), (Some(7), 1)]);
    assert_eq!(summary.by_remote_host.len(), 3);
}

#[test]
fn each_second_keeps_at_most_its_key_cap_and_counts_the_rest_in_its_total() {
    let mut churn = Churn::new(Duration::from_secs(5));
    churn.listened(at(0), at(1_000));
    for i in 0..(KEYS_PER_SECOND as u64 + 10) {
        let remote = format!("10.1.{}.{}:443", i / 256, i % 256);
        churn.add(&opened(0, &remote, None, None));
    }
    let summary = churn.summary(at(1_000));
    assert_eq!(summary.total.closes, KEYS_PER_SECOND as u64 + 10);
    let listed: u64 = summary.by_remote_host.iter().map(|g| g.stats.closes).sum();
    assert_eq!(summary.by_remote_host.len(), CHURN_GROUPS);
    assert_eq!(listed, CHURN_GROUPS as u64);
}
