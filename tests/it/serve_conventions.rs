//! The exporter's metrics as Prometheus users expect them (issue 23): label values that
//! never carry a control character, Kubernetes labels that join with kube-state-metrics,
//! one metric per kernel counter and per limit (units in the names), the standard
//! `process_*` metrics and the git revision in `sockscope_build_info`. Synthetic
//! snapshots, no kernel.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use sockscope::config::Config;
use sockscope::model::{Container, Runtime, Snapshot, TcpState};
use sockscope::serve::metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};
use sockscope::serve::{Format, PollSettings, Poller, Published};
use sockscope::watch::Listed;

use crate::support::synthetic::Synth;

/// The page of one poll of `snapshot`, in `format`, without the exporter's own figures.
fn page(snapshot: &Snapshot, format: Format) -> String {
    let mut aggregator = Config::default().aggregator();
    let summary = aggregator.ingest(snapshot);
    let ns = NamespaceMetrics::of(summary, &summary.anomalies, snapshot, TopLimits::default());
    render(&[&ns], &SelfMetrics::default(), format)
}

/// The samples (not comments) of `text` whose name starts with `prefix`.
fn samples<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
        .collect()
}

/// A process named with terminal escapes in a Docker container named with more, leaking
/// 20 CLOSE_WAIT sockets.
fn hostile() -> Snapshot {
    let mut s = Synth::at(100);
    let evil = s.process(66, "\u{1b}]2;pwned\u{7}");
    s.many(20, TcpState::CloseWait, "10.0.0.1:80", "192.0.2.7", &[evil]);
    s.cgroup(
        10,
        "/system.slice/docker-3f2a.scope",
        Some(Container {
            id: "3f2a1c9e0b7d5a6b".to_owned(),
            name: Some("web\u{1b}[31m\u{7f}\u{9b}1\n".to_owned()),
            runtime: Runtime::Docker,
            pod: None,
        }),
    );
    s.in_cgroup(evil, 10);
    s.build()
}

#[test]
fn serve_conventions_label_values_never_carry_a_control_character() {
    for format in [Format::Text, Format::OpenMetrics] {
        let text = page(&hostile(), format);
        assert_eq!(
            samples(&text, "sockscope_process_tcp_sockets"),
            [
                "sockscope_process_tcp_sockets{netns=\"host\",comm=\"␛]2;pwned␇\",state=\"close_wait\",container=\"web␛[31m␡\\\\x9b1␊\"} 20"
            ]
        );
        assert_eq!(
            samples(&text, "sockscope_anomaly{"),
            [
                "sockscope_anomaly{netns=\"host\",kind=\"close_wait_backlog\",severity=\"warning\",subject=\"␛]2;pwned␇\",container=\"web␛[31m␡\\\\x9b1␊\"} 1"
            ]
        );
        let controls: Vec<char> = text
            .chars()
            .filter(|c| c.is_control() && *c != '\n')
            .collect();
        assert_eq!(controls, [], "{text}");
    }
}

#[test]
fn serve_conventions_pods_are_labelled_namespace_and_pod_as_kube_state_metrics_does() {
    let mut s = Synth::at(100);
    let cart = s.process(20, "cart");
    s.many(
        25,
        TcpState::CloseWait,
        "10.0.0.2:8080",
        "192.0.2.8",
        &[cart],
    );
    s.cart_pod(20, Some("cart"));
    s.in_cgroup(cart, 20);
    let text = page(&s.build(), Format::Text);
    assert_eq!(
        samples(&text, "sockscope_process_tcp_sockets"),
        [
            "sockscope_process_tcp_sockets{netns=\"host\",comm=\"cart\",state=\"close_wait\",container=\"cart\",namespace=\"shop\",pod=\"cart-0\"} 25"
        ]
    );
    assert_eq!(
        samples(&text, "sockscope_anomaly{"),
        [
            "sockscope_anomaly{netns=\"host\",kind=\"close_wait_backlog\",severity=\"warning\",subject=\"cart\",container=\"cart\",namespace=\"shop\",pod=\"cart-0\"} 1"
        ]
    );
}

/// Every counter the exporter reads, each with its own value, and every limit.
fn counted() -> Snapshot {
    let mut s = Synth::at(100);
    for (i, name) in [
        "ListenOverflows",
        "ListenDrops",
        "SyncookiesSent",
        "TCPReqQFullDoCookies",
        "TCPReqQFullDrop",
        "TCPTimeWaitOverflow",
        "TCPAbortOnTimeout",
        "TCPAutoCorking",
    ]
    .into_iter()
    .enumerate()
    {
        s.tcp_ext(name, 10 + i as u64);
    }
    let mut snapshot = s.build();
    snapshot.counters.tcp = [
        ("MaxConn", -1),
        ("ActiveOpens", 100),
        ("PassiveOpens", 101),
        ("AttemptFails", 102),
        ("EstabResets", 103),
        ("CurrEstab", 104),
        ("RetransSegs", 105),
        ("OutRsts", 106),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let l = &mut snapshot.limits;
    l.ip_local_port_range = Some((32768, 60999));
    l.tcp_max_tw_buckets = Some(262_144);
    l.tcp_max_orphans = Some(65_536);
    l.tcp_max_syn_backlog = Some(4096);
    l.somaxconn = Some(4096);
    l.tcp_syncookies = Some(1);
    l.tcp_fin_timeout = Some(60);
    snapshot
}

#[test]
fn serve_conventions_each_kernel_counter_is_a_metric_of_its_own_with_retransmits_and_resets() {
    let text = page(&counted(), Format::Text);
    assert_eq!(
        samples(&text, "sockscope_tcp_")
            .into_iter()
            .filter(|l| l.contains("_total{"))
            .collect::<Vec<_>>(),
        [
            "sockscope_tcp_listen_overflows_total{netns=\"host\"} 10",
            "sockscope_tcp_listen_drops_total{netns=\"host\"} 11",
            "sockscope_tcp_syncookies_sent_total{netns=\"host\"} 12",
            "sockscope_tcp_request_queue_full_cookies_total{netns=\"host\"} 13",
            "sockscope_tcp_request_queue_full_drops_total{netns=\"host\"} 14",
            "sockscope_tcp_time_wait_overflows_total{netns=\"host\"} 15",
            "sockscope_tcp_aborts_on_timeout_total{netns=\"host\"} 16",
            "sockscope_tcp_active_opens_total{netns=\"host\"} 100",
            "sockscope_tcp_passive_opens_total{netns=\"host\"} 101",
            "sockscope_tcp_attempt_fails_total{netns=\"host\"} 102",
            "sockscope_tcp_established_resets_total{netns=\"host\"} 103",
            "sockscope_tcp_retransmitted_segments_total{netns=\"host\"} 105",
            "sockscope_tcp_resets_sent_total{netns=\"host\"} 106",
        ]
    );
    for sample in samples(&text, "sockscope_tcp_") {
        let family = sample.split('{').next().unwrap();
        if family.ends_with("_total") {
            assert!(
                text.contains(&format!("# TYPE {family} counter\n")),
                "{family}"
            );
        }
    }
    assert!(!text.contains("counter=\""), "{text}");
    assert!(!text.contains("sockscope_kernel_tcp_ext"), "{text}");
}

#[test]
fn serve_conventions_kernel_limits_are_one_metric_each_with_their_unit() {
    let text = page(&counted(), Format::Text);
    let limits: Vec<&str> = text
        .lines()
        .filter(|l| {
            [
                "sockscope_tcp_max_",
                "sockscope_somaxconn",
                "sockscope_tcp_syncookies_mode",
                "sockscope_tcp_fin_timeout",
                "sockscope_local_port_range",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    assert_eq!(
        limits,
        [
            "sockscope_tcp_max_tw_buckets{netns=\"host\"} 262144",
            "sockscope_tcp_max_orphans{netns=\"host\"} 65536",
            "sockscope_tcp_max_syn_backlog{netns=\"host\"} 4096",
            "sockscope_somaxconn{netns=\"host\"} 4096",
            "sockscope_tcp_syncookies_mode{netns=\"host\"} 1",
            "sockscope_tcp_fin_timeout_seconds{netns=\"host\"} 60",
            "sockscope_local_port_range_first{netns=\"host\"} 32768",
            "sockscope_local_port_range_last{netns=\"host\"} 60999",
        ]
    );
    assert!(!text.contains("sockscope_kernel_limit"), "{text}");
}

/// What `git rev-parse HEAD` says of this checkout, or `unknown` without git.
fn checked_out_revision() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

#[test]
fn serve_conventions_build_info_carries_version_and_git_revision() {
    let text = page(&Synth::at(100).build(), Format::Text);
    assert_eq!(
        samples(&text, "sockscope_build_info"),
        [format!(
            "sockscope_build_info{{version=\"{}\",revision=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            checked_out_revision()
        )]
    );
}

#[test]
fn serve_conventions_process_metrics_are_served_but_left_out_of_a_textfile() {
    let settings = |textfile| PollSettings {
        config: Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: TopLimits::default(),
        textfile,
        on_first_snapshot: None,
    };
    let families = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE process_"))
            .map(str::to_owned)
            .collect()
    };
    let served = Published::new();
    let source = sockscope::collect::Recorded::new([counted()]);
    Poller::new(Listed::one(source, "lab"), settings(None), served.clone()).poll_once();
    let text = served.current().text.clone();
    assert_eq!(
        families(&text),
        [
            "cpu_seconds_total counter",
            "resident_memory_bytes gauge",
            "virtual_memory_bytes gauge",
            "open_fds gauge",
            "max_fds gauge",
            "start_time_seconds gauge",
        ]
    );
    assert_eq!(samples(&text, "process_").len(), 6, "{text}");
    let (soft, _) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert_eq!(
        samples(&text, "process_max_fds"),
        [format!("process_max_fds {soft}")]
    );

    let dir = tempfile::tempdir().unwrap();
    let written = Published::new();
    let source = sockscope::collect::Recorded::new([counted()]);
    let path = dir.path().join("sockscope.prom");
    Poller::new(
        Listed::one(source, "lab"),
        settings(Some(path.clone())),
        written.clone(),
    )
    .poll_once();
    assert_eq!(families(&written.current().text), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        written.current().text
    );
}
