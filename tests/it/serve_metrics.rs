//! The exporter's exposition from synthetic snapshots, without a kernel: exact text of
//! every family, the top lists and what they drop, hostile names, OpenMetrics, and the
//! poller's behaviour when a poll fails.

use std::time::Duration;

use sockscope::aggregate::Aggregator;
use sockscope::collect::own_process::OwnProcess;
use sockscope::collect::{CollectError, SocketSource};
use sockscope::config::Config;
use sockscope::model::{Snapshot, TcpState};
use sockscope::serve::metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};
use sockscope::serve::{Format, Health, PollSettings, Poller, Published};
use sockscope::watch::Listed;

use crate::support::synthetic::{Synth, at};

/// nginx[1234] leaks 25 CLOSE_WAIT sockets on its listener 10.0.0.1:80 (accept queue 3
/// of 128); two curl processes hold one connection each; three TIME_WAIT toward
/// 192.0.2.9:443; ListenDrops at 5, 7 segments retransmitted, 4 resets sent, 2 established
/// connections reset.
fn leaky(secs: u64) -> Snapshot {
    let mut s = Synth::at(secs);
    let nginx = s.process(1234, "nginx");
    let curl_a = s.process(2001, "curl");
    let curl_b = s.process(2002, "curl");
    s.listener("10.0.0.1:80", 3, 128, &[nginx]);
    s.many(
        25,
        TcpState::CloseWait,
        "10.0.0.1:80",
        "192.0.2.7",
        &[nginx],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:40000",
        "192.0.2.8:443",
        &[curl_a],
    );
    s.socket(
        TcpState::Established,
        "10.0.0.1:40001",
        "192.0.2.8:443",
        &[curl_b],
    );
    s.many_to(3, TcpState::TimeWait, "10.0.0.1", "192.0.2.9:443", &[]);
    s.tcp_ext("ListenDrops", 5).sockstat("orphan", 2);
    let mut snapshot = s.build();
    snapshot.netns_inode = Some(4_026_531_840);
    snapshot.limits.somaxconn = Some(4096);
    snapshot.limits.ip_local_port_range = Some((32768, 60999));
    snapshot.limits.tcp_fin_timeout = Some(60);
    snapshot.limits.tcp_syncookies = Some(1);
    snapshot.counters.tcp = [
        ("MaxConn", -1),
        ("EstabResets", 2),
        ("RetransSegs", 7),
        ("OutRsts", 4),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    snapshot
}

fn metrics_of(snapshot: &Snapshot, top: TopLimits) -> NamespaceMetrics {
    let mut aggregator = Config::default().aggregator();
    let summary = aggregator.ingest(snapshot);
    NamespaceMetrics::of(summary, &summary.anomalies, snapshot, top)
}

fn fixed_self() -> SelfMetrics {
    SelfMetrics {
        poll_duration: Some(Duration::from_millis(12)),
        poll_errors: 1,
        polls: 7,
        last_success: Some(at(1_700_000_000)),
        last_poll_ok: true,
        process: Some(OwnProcess {
            cpu_seconds: Some(1.25),
            resident_memory_bytes: Some(12_582_912),
            virtual_memory_bytes: Some(104_857_600),
            open_fds: Some(9),
            max_fds: Some(1024),
            start_time_seconds: Some(1_699_999_000.5),
        }),
    }
}

#[test]
#[allow(clippy::too_many_lines, reason = "the whole exposition, line by line")]
fn serve_exposition_of_a_close_wait_leak_is_exact() {
    let ns = metrics_of(&leaky(100), TopLimits::default());
    let text = render(&[&ns], &fixed_self(), Format::Text);
    let version = env!("CARGO_PKG_VERSION");
    let revision = sockscope::serve::metrics::REVISION;
    let expected = format!(
        r#"# HELP sockscope_tcp_sockets TCP sockets per state (every state, zeros included).
# TYPE sockscope_tcp_sockets gauge
sockscope_tcp_sockets{{netns="host",state="listen"}} 1
sockscope_tcp_sockets{{netns="host",state="syn_sent"}} 0
sockscope_tcp_sockets{{netns="host",state="syn_recv"}} 0
sockscope_tcp_sockets{{netns="host",state="established"}} 2
sockscope_tcp_sockets{{netns="host",state="fin_wait1"}} 0
sockscope_tcp_sockets{{netns="host",state="fin_wait2"}} 0
sockscope_tcp_sockets{{netns="host",state="closing"}} 0
sockscope_tcp_sockets{{netns="host",state="time_wait"}} 3
sockscope_tcp_sockets{{netns="host",state="close_wait"}} 25
sockscope_tcp_sockets{{netns="host",state="last_ack"}} 0
sockscope_tcp_sockets{{netns="host",state="close"}} 0
# HELP sockscope_process_tcp_sockets TCP sockets per process name and state: the processes with the most sockets, the rest summed under comm="other"; a socket shared by several processes counts for each.
# TYPE sockscope_process_tcp_sockets gauge
sockscope_process_tcp_sockets{{netns="host",comm="nginx",state="listen"}} 1
sockscope_process_tcp_sockets{{netns="host",comm="nginx",state="close_wait"}} 25
sockscope_process_tcp_sockets{{netns="host",comm="curl",state="established"}} 2
# HELP sockscope_listener_accept_queue Connections waiting for accept() on a listener (the listeners with the fullest queues).
# TYPE sockscope_listener_accept_queue gauge
sockscope_listener_accept_queue{{netns="host",listener="10.0.0.1:80",comm="nginx"}} 3
# HELP sockscope_listener_backlog A listener's accept backlog (listen() backlog capped by net.core.somaxconn).
# TYPE sockscope_listener_backlog gauge
sockscope_listener_backlog{{netns="host",listener="10.0.0.1:80",comm="nginx"}} 128
# HELP sockscope_listener_syn_recv Half-open handshakes (SYN_RECV) on a listener.
# TYPE sockscope_listener_syn_recv gauge
sockscope_listener_syn_recv{{netns="host",listener="10.0.0.1:80",comm="nginx"}} 0
# HELP sockscope_time_wait_destination_sockets TIME_WAIT sockets per remote address and port: the top 10, the rest under destination="other".
# TYPE sockscope_time_wait_destination_sockets gauge
sockscope_time_wait_destination_sockets{{netns="host",destination="192.0.2.9:443"}} 3
# HELP sockscope_anomaly 1 while an anomaly is raised (the same rules, thresholds and hysteresis as the dashboard).
# TYPE sockscope_anomaly gauge
sockscope_anomaly{{netns="host",kind="close_wait_backlog",severity="warning",subject="nginx"}} 1
# HELP sockscope_anomaly_value The value a raised anomaly measured (sockets, queue length, a counter's rise, or connections closed per second).
# TYPE sockscope_anomaly_value gauge
sockscope_anomaly_value{{netns="host",kind="close_wait_backlog",severity="warning",subject="nginx"}} 25
# HELP sockscope_tcp_listen_overflows_total Connections a listener dropped because its accept queue was full (TcpExt ListenOverflows).
# TYPE sockscope_tcp_listen_overflows_total counter
# HELP sockscope_tcp_listen_drops_total Connections a listener dropped for any reason, overflows included (TcpExt ListenDrops).
# TYPE sockscope_tcp_listen_drops_total counter
sockscope_tcp_listen_drops_total{{netns="host"}} 5
# HELP sockscope_tcp_syncookies_sent_total SYN cookies sent: a SYN queue overflowed (TcpExt SyncookiesSent).
# TYPE sockscope_tcp_syncookies_sent_total counter
# HELP sockscope_tcp_request_queue_full_cookies_total SYNs answered with a cookie because the SYN queue was full (TcpExt TCPReqQFullDoCookies).
# TYPE sockscope_tcp_request_queue_full_cookies_total counter
# HELP sockscope_tcp_request_queue_full_drops_total SYNs dropped because the SYN queue was full and cookies were off (TcpExt TCPReqQFullDrop).
# TYPE sockscope_tcp_request_queue_full_drops_total counter
# HELP sockscope_tcp_time_wait_overflows_total Sockets that skipped TIME_WAIT because tcp_max_tw_buckets was reached (TcpExt TCPTimeWaitOverflow).
# TYPE sockscope_tcp_time_wait_overflows_total counter
# HELP sockscope_tcp_aborts_on_timeout_total Connections aborted after too many retransmissions or keepalive probes (TcpExt TCPAbortOnTimeout).
# TYPE sockscope_tcp_aborts_on_timeout_total counter
# HELP sockscope_tcp_active_opens_total Connections opened by connect() (Tcp ActiveOpens).
# TYPE sockscope_tcp_active_opens_total counter
# HELP sockscope_tcp_passive_opens_total Connections accepted by a listener (Tcp PassiveOpens).
# TYPE sockscope_tcp_passive_opens_total counter
# HELP sockscope_tcp_attempt_fails_total Connection attempts that failed: SYN_SENT or SYN_RECV back to CLOSED or LISTEN (Tcp AttemptFails).
# TYPE sockscope_tcp_attempt_fails_total counter
# HELP sockscope_tcp_established_resets_total Connections reset from ESTABLISHED or CLOSE_WAIT (Tcp EstabResets).
# TYPE sockscope_tcp_established_resets_total counter
sockscope_tcp_established_resets_total{{netns="host"}} 2
# HELP sockscope_tcp_retransmitted_segments_total Segments retransmitted (Tcp RetransSegs).
# TYPE sockscope_tcp_retransmitted_segments_total counter
sockscope_tcp_retransmitted_segments_total{{netns="host"}} 7
# HELP sockscope_tcp_resets_sent_total Segments sent with the RST flag (Tcp OutRsts).
# TYPE sockscope_tcp_resets_sent_total counter
sockscope_tcp_resets_sent_total{{netns="host"}} 4
# HELP sockscope_orphan_sockets Orphaned TCP sockets (/proc/net/sockstat), compared with the tcp_max_orphans limit.
# TYPE sockscope_orphan_sockets gauge
sockscope_orphan_sockets{{netns="host"}} 2
# HELP sockscope_tcp_max_tw_buckets net.ipv4.tcp_max_tw_buckets: the most TIME_WAIT sockets the namespace keeps.
# TYPE sockscope_tcp_max_tw_buckets gauge
# HELP sockscope_tcp_max_orphans net.ipv4.tcp_max_orphans: the most orphaned sockets before the kernel resets them.
# TYPE sockscope_tcp_max_orphans gauge
# HELP sockscope_tcp_max_syn_backlog net.ipv4.tcp_max_syn_backlog: the most half-open handshakes a listener keeps.
# TYPE sockscope_tcp_max_syn_backlog gauge
# HELP sockscope_somaxconn net.core.somaxconn: the cap on a listener's accept backlog.
# TYPE sockscope_somaxconn gauge
sockscope_somaxconn{{netns="host"}} 4096
# HELP sockscope_tcp_syncookies_mode net.ipv4.tcp_syncookies: 0 never, 1 when a SYN queue overflows, 2 always.
# TYPE sockscope_tcp_syncookies_mode gauge
sockscope_tcp_syncookies_mode{{netns="host"}} 1
# HELP sockscope_tcp_fin_timeout_seconds net.ipv4.tcp_fin_timeout: how long an orphaned socket stays in FIN_WAIT2.
# TYPE sockscope_tcp_fin_timeout_seconds gauge
sockscope_tcp_fin_timeout_seconds{{netns="host"}} 60
# HELP sockscope_local_port_range_first The first ephemeral port (net.ipv4.ip_local_port_range).
# TYPE sockscope_local_port_range_first gauge
sockscope_local_port_range_first{{netns="host"}} 32768
# HELP sockscope_local_port_range_last The last ephemeral port (net.ipv4.ip_local_port_range).
# TYPE sockscope_local_port_range_last gauge
sockscope_local_port_range_last{{netns="host"}} 60999
# HELP sockscope_netns_info The watched network namespaces: inode and container.
# TYPE sockscope_netns_info gauge
sockscope_netns_info{{netns="host",inode="4026531840"}} 1
# HELP sockscope_poll_duration_seconds How long the latest poll took (dump, attribution, rules).
# TYPE sockscope_poll_duration_seconds gauge
sockscope_poll_duration_seconds 0.012
# HELP sockscope_polls_total Polls since the start.
# TYPE sockscope_polls_total counter
sockscope_polls_total 7
# HELP sockscope_poll_errors_total Polls that failed since the start (the last good values stay exported).
# TYPE sockscope_poll_errors_total counter
sockscope_poll_errors_total 1
# HELP sockscope_last_poll_success 1 when the latest poll succeeded, 0 when it failed.
# TYPE sockscope_last_poll_success gauge
sockscope_last_poll_success 1
# HELP sockscope_last_poll_timestamp_seconds When the latest successful poll was taken, in seconds since the Unix epoch.
# TYPE sockscope_last_poll_timestamp_seconds gauge
sockscope_last_poll_timestamp_seconds 1700000000
# HELP sockscope_exposition_series_dropped Series the top lists left out of this exposition (processes summed under other, listeners and anomalies beyond their limits).
# TYPE sockscope_exposition_series_dropped gauge
sockscope_exposition_series_dropped 0
# HELP sockscope_build_info The sockscope version and the git commit it was built from.
# TYPE sockscope_build_info gauge
sockscope_build_info{{version="{version}",revision="{revision}"}} 1
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.25
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 12582912
# HELP process_virtual_memory_bytes Virtual memory size in bytes.
# TYPE process_virtual_memory_bytes gauge
process_virtual_memory_bytes 104857600
# HELP process_open_fds Number of open file descriptors.
# TYPE process_open_fds gauge
process_open_fds 9
# HELP process_max_fds Maximum number of open file descriptors.
# TYPE process_max_fds gauge
process_max_fds 1024
# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1699999000.5
"#
    );
    assert_eq!(text, expected);
}

#[test]
fn serve_openmetrics_names_counter_and_info_families_without_suffix_and_ends_with_eof() {
    let ns = metrics_of(&leaky(100), TopLimits::default());
    let text = render(&[&ns], &fixed_self(), Format::OpenMetrics);
    for line in [
        "# TYPE sockscope_tcp_listen_drops counter\n",
        "sockscope_tcp_listen_drops_total{netns=\"host\"} 5\n",
        "# TYPE sockscope_tcp_retransmitted_segments counter\n",
        "sockscope_tcp_retransmitted_segments_total{netns=\"host\"} 7\n",
        "# TYPE process_cpu_seconds counter\n",
        "process_cpu_seconds_total 1.25\n",
        "# TYPE sockscope_poll_errors counter\n",
        "# HELP sockscope_poll_errors Polls that failed",
        "# TYPE sockscope_build info\n",
        "# TYPE sockscope_netns info\n",
        "# HELP sockscope_process_tcp_sockets TCP sockets per process name and state: the processes with the most sockets, the rest summed under comm=\\\"other\\\";",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(text.ends_with("process_start_time_seconds 1699999000.5\n# EOF\n"));
    assert!(!text.contains("# TYPE sockscope_poll_errors_total"));
}

#[test]
fn serve_processes_beyond_the_top_are_summed_under_other_and_counted_as_dropped() {
    let mut s = Synth::at(100);
    for (pid, comm, n) in [(1, "a", 5), (2, "b", 4), (3, "c", 3), (4, "d", 2)] {
        let p = s.process(pid, comm);
        s.many(n, TcpState::Established, "10.0.0.1:5000", "192.0.2.1", &[p]);
    }
    let e = s.process(5, "e");
    s.many(1, TcpState::CloseWait, "10.0.0.1:5001", "192.0.2.2", &[e]);
    let ns = metrics_of(
        &s.build(),
        TopLimits {
            processes: 2,
            listeners: 20,
        },
    );
    let got: Vec<(String, u64)> = ns
        .processes
        .iter()
        .map(|p| (p.comm.clone(), p.counts.total()))
        .collect();
    assert_eq!(got, [("a".into(), 5), ("b".into(), 4), ("other".into(), 6)]);
    // c, d and e had one state each (three series); "other" has two (established, close_wait).
    assert_eq!(ns.dropped, 1);
}

#[test]
fn serve_a_process_named_other_is_summed_into_the_rest_not_exported_twice() {
    let mut s = Synth::at(100);
    for (pid, comm, n) in [(1, "a", 5), (2, "other", 4), (3, "c", 3), (4, "d", 2)] {
        let p = s.process(pid, comm);
        s.many(n, TcpState::Established, "10.0.0.1:5000", "192.0.2.1", &[p]);
    }
    let snapshot = s.build();
    let top = TopLimits {
        processes: 2,
        listeners: 20,
    };
    let ns = metrics_of(&snapshot, top);
    let got: Vec<(String, u64)> = ns
        .processes
        .iter()
        .map(|p| (p.comm.clone(), p.counts.total()))
        .collect();
    assert_eq!(got, [("a".into(), 5), ("other".into(), 9)]);
    let text = render(&[&ns], &fixed_self(), Format::Text);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sockscope_process_tcp_sockets{") && l.contains("comm=\"other\""))
        .collect();
    assert_eq!(
        series,
        ["sockscope_process_tcp_sockets{netns=\"host\",comm=\"other\",state=\"established\"} 9"]
    );
    // With room for every process, `other` is just a process.
    let ns = metrics_of(
        &snapshot,
        TopLimits {
            processes: 50,
            listeners: 20,
        },
    );
    assert_eq!(ns.processes.len(), 4);
}

#[test]
fn serve_hostile_process_names_are_escaped_in_every_label() {
    let mut s = Synth::at(100);
    let evil = s.process(66, "a\"b\\c\nd");
    s.many(20, TcpState::CloseWait, "10.0.0.1:80", "192.0.2.7", &[evil]);
    let ns = metrics_of(&s.build(), TopLimits::default());
    let text = render(&[&ns], &SelfMetrics::default(), Format::Text);
    assert!(text.contains(
        "sockscope_process_tcp_sockets{netns=\"host\",comm=\"a\\\"b\\\\c␊d\",state=\"close_wait\"} 20\n"
    ));
    assert!(text.contains(
        "sockscope_anomaly{netns=\"host\",kind=\"close_wait_backlog\",severity=\"warning\",subject=\"a\\\"b\\\\c␊d\"} 1\n"
    ));
    // Every sample stays on one line: no raw newline inside a label.
    assert!(
        text.lines()
            .all(|l| l.starts_with('#') || l.starts_with("sockscope_"))
    );
}

#[test]
fn serve_connection_churn_is_one_series_per_destination_and_per_process_name() {
    use sockscope::model::{ClosedSocket, OwnerFrom, Process, Socket};
    // Two processes named client (pids 77 and 78) each open and close 120 connections a
    // second for 10 s, toward a destination each; a poll saw every one of them.
    let mut aggregator = Config::default().aggregator();
    aggregator.listened(at(100), at(110));
    for (pid, destination) in [(77, "10.0.0.2:5432"), (78, "10.0.0.3:6379")] {
        for i in 0..1_200 {
            let closed_at = at(100) + Duration::from_millis(i * 1_000 / 120);
            aggregator.closed(&ClosedSocket {
                at: closed_at,
                netns: "host".into(),
                socket: Socket::new(
                    TcpState::Close,
                    "10.0.0.1:40000".parse().unwrap(),
                    destination.parse().unwrap(),
                ),
                tcp_info: None,
                last_state: Some(TcpState::Established),
                first_seen: Some(closed_at - Duration::from_millis(30)),
                owners: vec![Process {
                    pid,
                    comm: "client".into(),
                    ..Process::default()
                }],
                owner_from: OwnerFrom::Poll,
                container: None,
                accepted: false,
            });
        }
    }
    let snapshot = Synth::at(110).build();
    let summary = aggregator.ingest(&snapshot);
    let ns = NamespaceMetrics::of(summary, &summary.anomalies, &snapshot, TopLimits::default());
    let text = render(&[&ns], &SelfMetrics::default(), Format::Text);
    let anomaly_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("sockscope_anomaly"))
        .collect();
    assert_eq!(
        anomaly_lines,
        [
            "sockscope_anomaly{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"client\"} 1",
            "sockscope_anomaly{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"destination 10.0.0.2:5432\"} 1",
            "sockscope_anomaly{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"destination 10.0.0.3:6379\"} 1",
            "sockscope_anomaly_value{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"client\"} 120",
            "sockscope_anomaly_value{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"destination 10.0.0.2:5432\"} 120",
            "sockscope_anomaly_value{netns=\"host\",kind=\"connection_churn\",severity=\"warning\",subject=\"destination 10.0.0.3:6379\"} 120",
        ]
    );
    assert_eq!(ns.dropped, 0);
}

#[test]
fn serve_exposition_stays_small_whatever_the_socket_count() {
    let mut s = Synth::at(100);
    for i in 0..500u32 {
        let p = s.process(10_000 + i, &format!("worker-{i}"));
        s.many(
            40,
            TcpState::Established,
            &format!("10.0.{}.{}:80", i / 250, i % 250),
            "192.0.2.1",
            &[p],
        );
    }
    for i in 0..300u32 {
        s.listener(
            &format!("10.1.{}.{}:8080", i / 250, i % 250),
            i % 7,
            128,
            &[],
        );
        s.many_to(
            2,
            TcpState::TimeWait,
            "10.2.0.1",
            &format!("192.0.3.{}:443", i % 250),
            &[],
        );
    }
    let snapshot = s.build();
    assert_eq!(snapshot.sockets.len(), 20_000 + 300 + 600);
    let ns = metrics_of(&snapshot, TopLimits::default());
    let text = render(&[&ns], &SelfMetrics::default(), Format::Text);
    assert_eq!(ns.processes.len(), 51);
    assert_eq!(ns.listeners.len(), 20);
    assert_eq!(ns.time_wait.len(), 11);
    assert!(text.len() < 100 * 1024, "{} bytes", text.len());
}

/// Polls the snapshots given in turn; `None` is a failed poll.
struct Flaky(std::vec::IntoIter<Option<Snapshot>>);

impl SocketSource for Flaky {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        self.0.next().flatten().ok_or(CollectError::Exhausted)
    }
}

#[test]
fn serve_a_failing_poll_keeps_the_last_good_values_and_counts_the_error() {
    let published = Published::new();
    assert_eq!(published.current().health, Health::Starting);
    let source = Flaky(vec![Some(leaky(100)), None, Some(leaky(115))].into_iter());
    let settings = PollSettings {
        config: Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: TopLimits::default(),
        textfile: None,
        on_first_snapshot: None,
    };
    let mut poller = Poller::new(Listed::one(source, "lab"), settings, published.clone());

    assert_eq!(poller.poll_once(), Health::Healthy);
    let good = published.current();
    assert!(
        good.text
            .contains("sockscope_tcp_sockets{netns=\"host\",state=\"close_wait\"} 25\n")
    );
    assert!(good.text.contains("sockscope_poll_errors_total 0\n"));

    let failed = poller.poll_once();
    assert_eq!(
        failed,
        Health::Failing("netns host: no more recorded snapshots".to_owned())
    );
    let page = published.current();
    assert!(
        page.text
            .contains("sockscope_tcp_sockets{netns=\"host\",state=\"close_wait\"} 25\n")
    );
    assert!(page.text.contains("sockscope_poll_errors_total 1\n"));
    assert!(page.text.contains("sockscope_last_poll_success 0\n"));
    assert!(
        page.text
            .contains("sockscope_last_poll_timestamp_seconds 100\n")
    );
    assert!(page.text.contains("sockscope_polls_total 2\n"));

    assert_eq!(poller.poll_once(), Health::Healthy);
    let page = published.current();
    assert!(page.text.contains("sockscope_last_poll_success 1\n"));
    assert!(
        page.text
            .contains("sockscope_last_poll_timestamp_seconds 115\n")
    );
    assert!(page.text.contains("sockscope_poll_errors_total 1\n"));
}

#[test]
fn serve_textfile_holds_the_text_exposition_after_each_poll() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sockscope.prom");
    let published = Published::new();
    let settings = PollSettings {
        config: Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: TopLimits::default(),
        textfile: Some(path.clone()),
        on_first_snapshot: None,
    };
    let source = sockscope::collect::Recorded::new([leaky(100)]);
    let mut poller = Poller::new(Listed::one(source, "lab"), settings, published.clone());
    poller.poll_once();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        published.current().text
    );
}

#[test]
fn serve_rules_keep_their_hysteresis_across_polls() {
    // Raised at 20, cleared only below the clear ratio of it: 19 keeps it raised.
    let mut aggregator: Aggregator = Config::default().aggregator();
    let mut raised = Vec::new();
    for (secs, n) in [(100, 25), (115, 19)] {
        let mut s = Synth::at(secs);
        let nginx = s.process(1234, "nginx");
        s.many(n, TcpState::CloseWait, "10.0.0.1:80", "192.0.2.7", &[nginx]);
        let snapshot = s.build();
        let summary = aggregator.ingest(&snapshot);
        let ns = NamespaceMetrics::of(summary, &summary.anomalies, &snapshot, TopLimits::default());
        raised.push(ns.anomalies.len());
    }
    assert_eq!(raised, [1, 1]);
}

/// Namespaces that come and go: each poll returns the keys and snapshots given.
struct Churn(std::vec::IntoIter<Vec<(u64, &'static str, u32)>>);

impl sockscope::watch::RoundSource for Churn {
    fn poll(&mut self, _interval: Duration) -> sockscope::watch::Round {
        let mut round = sockscope::watch::Round::empty(std::time::SystemTime::now(), true);
        round.namespaces = self
            .0
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(|(key, name, close_wait)| {
                let mut snapshot = leaky(100);
                name.clone_into(&mut snapshot.netns);
                snapshot.sockets.truncate(1 + close_wait as usize);
                let label = sockscope::model::NetnsLabel {
                    name: name.to_owned(),
                    inode: key,
                    container: None,
                };
                sockscope::watch::NamespaceRound::polled(
                    key,
                    label,
                    Ok(std::sync::Arc::new(snapshot)),
                )
            })
            .collect();
        round
    }
}

#[test]
fn serve_a_namespace_that_appears_is_exported_and_one_that_goes_leaves() {
    let published = Published::new();
    let settings = PollSettings {
        config: Config::default(),
        interval: Duration::from_secs(15),
        filter: sockscope::filter::Filter::default(),
        top: TopLimits::default(),
        textfile: None,
        on_first_snapshot: None,
    };
    let polls = vec![
        vec![(1, "host", 3), (2, "web", 25)],
        vec![(1, "host", 3), (3, "db", 4)],
        // Nothing polled at all (discovery failed): every last value stays.
        vec![],
    ];
    let mut poller = Poller::new(Churn(polls.into_iter()), settings, published.clone());
    let close_wait = |page: &str| -> Vec<String> {
        page.lines()
            .filter(|l| l.starts_with("sockscope_tcp_sockets{") && l.contains("close_wait"))
            .map(str::to_owned)
            .collect()
    };
    poller.poll_once();
    assert_eq!(
        close_wait(&published.current().text),
        [
            "sockscope_tcp_sockets{netns=\"host\",state=\"close_wait\"} 3",
            "sockscope_tcp_sockets{netns=\"web\",state=\"close_wait\"} 25",
        ]
    );
    assert!(
        published
            .current()
            .text
            .contains("netns=\"web\",kind=\"close_wait_backlog\"")
    );
    poller.poll_once();
    assert_eq!(
        close_wait(&published.current().text),
        [
            "sockscope_tcp_sockets{netns=\"host\",state=\"close_wait\"} 3",
            "sockscope_tcp_sockets{netns=\"db\",state=\"close_wait\"} 4",
        ]
    );
    assert!(
        !published
            .current()
            .text
            .contains("kind=\"close_wait_backlog\"")
    );
    poller.poll_once();
    assert_eq!(close_wait(&published.current().text).len(), 2);
}

#[test]
fn serve_exposition_with_every_top_list_full_stays_under_100_kb() {
    let mut s = Synth::at(100);
    for i in 0..120u32 {
        let p = s.process(20_000 + i, &format!("worker-{i:03}-long-name"));
        let local = format!("10.3.{}.{}:80", i / 250, i % 250);
        for state in TcpState::LIFECYCLE {
            s.many(2, state, &local, "192.0.2.1", &[p]);
        }
        s.many(20, TcpState::CloseWait, &local, "192.0.2.2", &[p]);
        s.listener(&format!("10.4.{}.{}:8080", i / 250, i % 250), 5, 128, &[p]);
    }
    for i in 0..30u32 {
        s.many_to(
            2,
            TcpState::TimeWait,
            "10.2.0.1",
            &format!("192.0.3.{i}:443"),
            &[],
        );
    }
    let ns = metrics_of(&s.build(), TopLimits::default());
    assert_eq!(ns.anomalies.len(), 100);
    let text = render(&[&ns], &fixed_self(), Format::Text);
    let openmetrics = render(&[&ns], &fixed_self(), Format::OpenMetrics);
    assert!(text.len() < 100 * 1024, "{} bytes", text.len());
    assert!(
        openmetrics.len() < 100 * 1024,
        "{} bytes",
        openmetrics.len()
    );
    assert!(ns.dropped > 0);
}

#[test]
fn serve_processes_and_anomalies_in_containers_carry_container_and_pod_labels() {
    use sockscope::model::{Container, Runtime};
    let mut s = Synth::at(100);
    let web = s.process(10, "nginx");
    let cart = s.process(20, "cart");
    s.many(25, TcpState::CloseWait, "10.0.0.1:80", "192.0.2.7", &[web]);
    s.many(
        2,
        TcpState::Established,
        "10.0.0.2:8080",
        "192.0.2.8",
        &[cart],
    );
    s.cgroup(
        10,
        "/system.slice/docker-3f2a.scope",
        Some(Container {
            id: "3f2a1c9e0b7d5a6b".to_owned(),
            name: Some("web-1".to_owned()),
            runtime: Runtime::Docker,
            pod: None,
        }),
    );
    s.cart_pod(20, None);
    s.in_cgroup(web, 10);
    s.in_cgroup(cart, 20);
    let ns = metrics_of(&s.build(), TopLimits::default());
    let text = render(&[&ns], &SelfMetrics::default(), Format::Text);
    for line in [
        "sockscope_process_tcp_sockets{netns=\"host\",comm=\"nginx\",state=\"close_wait\",container=\"web-1\"} 25\n",
        "sockscope_process_tcp_sockets{netns=\"host\",comm=\"cart\",state=\"established\",container=\"crio:5c1f00aa11bb\",namespace=\"shop\",pod=\"cart-0\"} 2\n",
        "sockscope_anomaly{netns=\"host\",kind=\"close_wait_backlog\",severity=\"warning\",subject=\"nginx\",container=\"web-1\"} 1\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}
