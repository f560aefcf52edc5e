//! The metrics of one poll: a compact copy of what the exposition needs from each
//! namespace's [`Summary`] and [`Snapshot`] ([`NamespaceMetrics`], a few kilobytes whatever
//! the socket count), and [`render`], which writes them in either format. Cardinality is
//! bounded: no label per connection or pid, top lists for processes, listeners, TIME_WAIT
//! destinations and anomalies; what the limits leave out is counted in
//! `sockscope_exposition_series_dropped`.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::aggregate::{Anomaly, Subject, Summary};
use crate::model::{Container, Snapshot, StateCounts, TcpState, endpoint};

use super::exposition::{Exposition, Format, Kind, Value};

mod kernel;
mod own;

pub use kernel::{CounterFile, KERNEL_COUNTERS, KernelCounter, LIMITS};
pub use own::{REVISION, SelfMetrics, VERSION};

/// At most this many anomalies per namespace are exported; the rest count as dropped.
pub const ANOMALY_LIMIT: usize = 100;

/// The comm under which the processes beyond the top list are summed.
pub const OTHER: &str = "other";

/// How long the top lists are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopLimits {
    /// Processes (by comm, container and pod) with the most sockets.
    pub processes: usize,
    /// Listeners with the fullest accept queues.
    pub listeners: usize,
}

impl Default for TopLimits {
    fn default() -> Self {
        TopLimits {
            processes: 50,
            listeners: 20,
        }
    }
}

/// The state label as node_exporter's TCP state collector spells it.
pub fn state_label(state: TcpState) -> &'static str {
    match state {
        TcpState::Established => "established",
        TcpState::SynSent => "syn_sent",
        TcpState::SynRecv => "syn_recv",
        TcpState::FinWait1 => "fin_wait1",
        TcpState::FinWait2 => "fin_wait2",
        TcpState::TimeWait => "time_wait",
        TcpState::Close => "close",
        TcpState::CloseWait => "close_wait",
        TcpState::LastAck => "last_ack",
        TcpState::Listen => "listen",
        TcpState::Closing => "closing",
    }
}

/// Where a process or an anomaly runs, as labels: `container`, and for a Kubernetes
/// container `namespace` and `pod` as kube-state-metrics names them, so that series join
/// with `kube_pod_info` and the like. Empty strings are labels left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placement {
    /// Container name, else its short id (`crio:5c1f00aa11bb`).
    pub container: String,
    /// The pod's Kubernetes namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
}

impl Placement {
    /// The labels of `container` (none when it is `None`).
    pub fn of(container: Option<&Container>) -> Placement {
        let Some(c) = container else {
            return Placement::default();
        };
        let pod = c.pod.as_ref();
        Placement {
            container: c.name.clone().unwrap_or_else(|| c.short()),
            namespace: pod.and_then(|p| p.namespace.clone()).unwrap_or_default(),
            pod: pod.and_then(|p| p.name.clone()).unwrap_or_default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.container.is_empty() && self.namespace.is_empty() && self.pod.is_empty()
    }
}

/// Sockets of the processes that share a comm (and container and pod).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSeries {
    /// `/proc/PID/comm`, or [`OTHER`] for the processes beyond the top list.
    pub comm: String,
    /// Their container and pod; empty when none.
    pub placement: Placement,
    /// Their sockets per state.
    pub counts: StateCounts,
}

/// One listener's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSeries {
    /// `address:port`.
    pub listener: String,
    /// The comm of its first owner; empty when unknown.
    pub comm: String,
    /// Connections waiting for accept().
    pub accept_queue: u64,
    /// Its backlog, when the source gives it.
    pub backlog: Option<u64>,
    /// Half-open handshakes.
    pub syn_recv: u64,
}

/// One raised anomaly, as labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct AnomalySeries {
    /// `close_wait_backlog`…
    pub kind: &'static str,
    /// `warning` or `critical`.
    pub severity: &'static str,
    /// A process's comm (not its pid: that would be a new series at every restart), or
    /// the subject's label (`listener 0.0.0.0:80`, `destination …`, `local port 8080`,
    /// `namespace`).
    pub subject: String,
    /// The process's container and pod; empty when none.
    pub placement: Placement,
}

/// What the exposition shows of one namespace's poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceMetrics {
    /// The `netns` label: the namespace's name as the reports print it.
    pub netns: String,
    /// Its nsfs inode.
    pub inode: Option<u64>,
    /// The container whose namespace it is, when known.
    pub container: Option<String>,
    /// Sockets per state.
    pub counts: StateCounts,
    /// Top processes by sockets, then the rest under [`OTHER`].
    pub processes: Vec<ProcessSeries>,
    /// Top listeners by fill.
    pub listeners: Vec<ListenerSeries>,
    /// Top TIME_WAIT destinations, then the rest under `other`.
    pub time_wait: Vec<(String, u64)>,
    /// Raised anomalies with their measured values (one series per label set).
    pub anomalies: Vec<(AnomalySeries, u64)>,
    /// The kernel counters read, by family ([`KERNEL_COUNTERS`]).
    pub counters: Vec<(&'static str, u64)>,
    /// Orphaned sockets (sockstat), when read.
    pub orphans: Option<u64>,
    /// The kernel limits read, by family ([`LIMITS`]).
    pub limits: Vec<(&'static str, u64)>,
    /// Series the top lists left out.
    pub dropped: u64,
    /// TCP sockets destroyed since the exporter subscribed to the namespace's destroy
    /// events (those received and those the kernel dropped), and of those the dropped
    /// (`None`: no subscription).
    pub closed: Option<(u64, u64)>,
}

impl NamespaceMetrics {
    /// The metrics of `summary` (the aggregator's, after it ingested `snapshot`), with
    /// `anomalies` (the summary's, or those of the rules run on the filtered sockets).
    pub fn of(
        summary: &Summary,
        anomalies: &[Anomaly],
        snapshot: &Snapshot,
        top: TopLimits,
    ) -> NamespaceMetrics {
        let mut dropped = 0;
        let processes = processes(summary, top.processes, &mut dropped);
        let listeners = listeners(summary, top.listeners, &mut dropped);
        let mut time_wait: Vec<(String, u64)> = summary
            .by_time_wait_destination
            .entries
            .iter()
            .map(|g| (endpoint(&g.key), g.count))
            .collect();
        let rest = summary.by_time_wait_destination.rest();
        if rest > 0 {
            time_wait.push((OTHER.to_owned(), rest));
        }
        let mut merged: BTreeMap<AnomalySeries, u64> = BTreeMap::new();
        for a in anomalies {
            let placement = Placement::of(a.container.as_deref());
            let subject = match &a.subject {
                Subject::Process { comm, .. } => comm.clone(),
                other => other.label(),
            };
            let key = AnomalySeries {
                kind: a.kind.name(),
                severity: a.severity.name(),
                subject,
                placement,
            };
            let value = merged.entry(key).or_default();
            *value = (*value).max(a.count);
        }
        let mut anomalies: Vec<(AnomalySeries, u64)> = merged.into_iter().collect();
        if anomalies.len() > ANOMALY_LIMIT {
            dropped += 2 * (anomalies.len() - ANOMALY_LIMIT) as u64;
            anomalies.truncate(ANOMALY_LIMIT);
        }
        let read = &snapshot.counters;
        let counters = KERNEL_COUNTERS
            .iter()
            .filter_map(|c| {
                let value = match c.file {
                    CounterFile::TcpExt => read.tcp_ext(c.kernel),
                    CounterFile::Tcp => read.tcp(c.kernel).and_then(|v| u64::try_from(v).ok()),
                };
                Some((c.metric, value?))
            })
            .collect();
        let l = &snapshot.limits;
        let ports = l.ip_local_port_range;
        let values = [
            l.tcp_max_tw_buckets,
            l.tcp_max_orphans,
            l.tcp_max_syn_backlog,
            l.somaxconn,
            l.tcp_syncookies,
            l.tcp_fin_timeout,
            ports.map(|(first, _)| u64::from(first)),
            ports.map(|(_, last)| u64::from(last)),
        ];
        let limits = LIMITS
            .iter()
            .zip(values)
            .filter_map(|(&(name, _), value)| Some((name, value?)))
            .collect();
        NamespaceMetrics {
            netns: summary.netns.clone(),
            inode: snapshot.netns_inode,
            container: snapshot.netns_container.clone(),
            counts: summary.counts,
            processes,
            listeners,
            time_wait,
            anomalies,
            counters,
            orphans: snapshot.counters.sockstat("orphan"),
            limits,
            dropped,
            closed: None,
        }
    }
}

/// The sockets each namespace destroyed, from the kernel's destroy events, and the events
/// that were lost.
fn closed_families(e: &mut Exposition, namespaces: &[&NamespaceMetrics]) {
    // Without a subscription (a textfile test, a recording) the families are left out.
    if namespaces.iter().all(|ns| ns.closed.is_none()) {
        return;
    }
    e.family(
        "sockscope_tcp_closed",
        Kind::Counter,
        "TCP sockets destroyed since the exporter started listening to the namespace's destroy events (every full socket freed: each end of a connection, and listeners).",
    );
    for ns in namespaces {
        if let Some((closed, _)) = ns.closed {
            e.sample(&[("netns", &ns.netns)], Value::Int(closed));
        }
    }
    e.family(
        "sockscope_events_lost",
        Kind::Counter,
        "Destroy events the kernel dropped because the exporter's queue was full: counted in sockscope_tcp_closed_total, but nothing else is known of them.",
    );
    for ns in namespaces {
        if let Some((_, lost)) = ns.closed {
            e.sample(&[("netns", &ns.netns)], Value::Int(lost));
        }
    }
}

/// Processes summed by (comm, container, pod), the `limit` with the most sockets, then the
/// rest under [`OTHER`].
fn processes(summary: &Summary, limit: usize, dropped: &mut u64) -> Vec<ProcessSeries> {
    let mut by_key: BTreeMap<(String, Placement), StateCounts> = BTreeMap::new();
    for p in &summary.by_process {
        let placement = Placement::of(p.container.as_deref());
        by_key
            .entry((p.comm.clone(), placement))
            .or_default()
            .add_counts(&p.counts);
    }
    let mut all: Vec<ProcessSeries> = by_key
        .into_iter()
        .map(|((comm, placement), counts)| ProcessSeries {
            comm,
            placement,
            counts,
        })
        .collect();
    // Most sockets first; ties by name, so the list is stable from poll to poll.
    all.sort_by(|a, b| {
        b.counts
            .total()
            .cmp(&a.counts.total())
            .then_with(|| (&a.comm, &a.placement).cmp(&(&b.comm, &b.placement)))
    });
    if all.len() > limit {
        let mut rest: Vec<ProcessSeries> = all.drain(limit..).collect();
        // A process really named `other`, in no container, would carry the rest's labels:
        // two series of one name and labels make Prometheus refuse the whole scrape. It is
        // summed into the rest.
        if let Some(at) = all
            .iter()
            .position(|p| p.comm == OTHER && p.placement.is_empty())
        {
            rest.push(all.remove(at));
        }
        let mut other = StateCounts::default();
        for p in rest {
            *dropped += nonzero_states(&p.counts);
            other.add_counts(&p.counts);
        }
        *dropped = dropped.saturating_sub(nonzero_states(&other));
        all.push(ProcessSeries {
            comm: OTHER.to_owned(),
            placement: Placement::default(),
            counts: other,
        });
    }
    all
}

fn nonzero_states(counts: &StateCounts) -> u64 {
    TcpState::LIFECYCLE
        .iter()
        .filter(|&&s| counts.get(s) > 0)
        .count() as u64
}

/// The `limit` listeners with the fullest accept queues (relative to their backlog),
/// then the most half-open handshakes, then by address.
fn listeners(summary: &Summary, limit: usize, dropped: &mut u64) -> Vec<ListenerSeries> {
    let fill = |accept_queue: u64, backlog: Option<u64>| match backlog {
        Some(b) if b > 0 => accept_queue as f64 / b as f64,
        _ => accept_queue as f64,
    };
    let mut ranked: Vec<_> = summary.by_listener.iter().collect();
    ranked.sort_by(|a, b| {
        fill(b.accept_queue, b.backlog)
            .total_cmp(&fill(a.accept_queue, a.backlog))
            .then(b.syn_recv().cmp(&a.syn_recv()))
            .then_with(|| a.local.cmp(&b.local))
    });
    if ranked.len() > limit {
        *dropped += 3 * (ranked.len() - limit) as u64;
        ranked.truncate(limit);
    }
    ranked
        .into_iter()
        .map(|l| ListenerSeries {
            listener: endpoint(&l.local),
            comm: l.owners.first().map(|(_, c)| c.clone()).unwrap_or_default(),
            accept_queue: l.accept_queue,
            backlog: l.backlog,
            syn_recv: l.syn_recv(),
        })
        .collect()
}

/// Write every metric of `namespaces` and `me` in `format`.
#[allow(
    clippy::too_many_lines,
    reason = "a table: one block per metric family"
)]
pub fn render(namespaces: &[&NamespaceMetrics], me: &SelfMetrics, format: Format) -> String {
    let mut e = Exposition::new(format);
    e.family(
        "sockscope_tcp_sockets",
        Kind::Gauge,
        "TCP sockets per state (every state, zeros included).",
    );
    for ns in namespaces {
        for state in TcpState::LIFECYCLE {
            e.sample(
                &[("netns", &ns.netns), ("state", state_label(state))],
                Value::Int(ns.counts.get(state)),
            );
        }
    }
    e.family(
        "sockscope_process_tcp_sockets",
        Kind::Gauge,
        "TCP sockets per process name and state: the processes with the most sockets, the rest summed under comm=\"other\"; a socket shared by several processes counts for each.",
    );
    for ns in namespaces {
        for p in &ns.processes {
            for state in TcpState::LIFECYCLE {
                let count = p.counts.get(state);
                if count == 0 {
                    continue;
                }
                let mut labels = vec![
                    ("netns", ns.netns.as_str()),
                    ("comm", p.comm.as_str()),
                    ("state", state_label(state)),
                ];
                push_placement(&mut labels, &p.placement);
                e.sample(&labels, Value::Int(count));
            }
        }
    }
    listener_families(&mut e, namespaces);
    e.family(
        "sockscope_time_wait_destination_sockets",
        Kind::Gauge,
        "TIME_WAIT sockets per remote address and port: the top 10, the rest under destination=\"other\".",
    );
    for ns in namespaces {
        for (destination, count) in &ns.time_wait {
            e.sample(
                &[("netns", &ns.netns), ("destination", destination)],
                Value::Int(*count),
            );
        }
    }
    closed_families(&mut e, namespaces);
    anomaly_families(&mut e, namespaces);
    kernel_families(&mut e, namespaces);
    e.family(
        "sockscope_netns",
        Kind::Info,
        "The watched network namespaces: inode and container.",
    );
    for ns in namespaces {
        let inode = ns.inode.map(|i| i.to_string());
        let mut labels = vec![("netns", ns.netns.as_str())];
        if let Some(inode) = &inode {
            labels.push(("inode", inode));
        }
        if let Some(container) = &ns.container {
            labels.push(("container", container));
        }
        e.sample(&labels, Value::Int(1));
    }
    self_families(&mut e, namespaces, me);
    e.finish()
}

fn push_placement<'a>(labels: &mut Vec<(&str, &'a str)>, placement: &'a Placement) {
    for (name, value) in [
        ("container", &placement.container),
        ("namespace", &placement.namespace),
        ("pod", &placement.pod),
    ] {
        if !value.is_empty() {
            labels.push((name, value));
        }
    }
}

fn listener_families(e: &mut Exposition, namespaces: &[&NamespaceMetrics]) {
    type Field = fn(&ListenerSeries) -> Option<u64>;
    let families: [(&str, &str, Field); 3] = [
        (
            "sockscope_listener_accept_queue",
            "Connections waiting for accept() on a listener (the listeners with the fullest queues).",
            |l| Some(l.accept_queue),
        ),
        (
            "sockscope_listener_backlog",
            "A listener's accept backlog (listen() backlog capped by net.core.somaxconn).",
            |l| l.backlog,
        ),
        (
            "sockscope_listener_syn_recv",
            "Half-open handshakes (SYN_RECV) on a listener.",
            |l| Some(l.syn_recv),
        ),
    ];
    for (name, help, field) in families {
        e.family(name, Kind::Gauge, help);
        for ns in namespaces {
            for l in &ns.listeners {
                let Some(value) = field(l) else { continue };
                let mut labels = vec![("netns", ns.netns.as_str()), ("listener", &l.listener)];
                if !l.comm.is_empty() {
                    labels.push(("comm", &l.comm));
                }
                e.sample(&labels, Value::Int(value));
            }
        }
    }
}

fn anomaly_families(e: &mut Exposition, namespaces: &[&NamespaceMetrics]) {
    for (name, help, value) in [
        (
            "sockscope_anomaly",
            "1 while an anomaly is raised (the same rules, thresholds and hysteresis as the dashboard).",
            None,
        ),
        (
            "sockscope_anomaly_value",
            "The value a raised anomaly measured (sockets, queue length, a counter's rise, or connections closed per second).",
            Some(()),
        ),
    ] {
        e.family(name, Kind::Gauge, help);
        for ns in namespaces {
            for (a, count) in &ns.anomalies {
                let mut labels = vec![
                    ("netns", ns.netns.as_str()),
                    ("kind", a.kind),
                    ("severity", a.severity),
                    ("subject", a.subject.as_str()),
                ];
                push_placement(&mut labels, &a.placement);
                e.sample(&labels, Value::Int(value.map_or(1, |()| *count)));
            }
        }
    }
}

fn kernel_families(e: &mut Exposition, namespaces: &[&NamespaceMetrics]) {
    for c in &KERNEL_COUNTERS {
        e.family(c.metric, Kind::Counter, c.help);
        for ns in namespaces {
            if let Some((_, value)) = ns.counters.iter().find(|(m, _)| *m == c.metric) {
                e.sample(&[("netns", &ns.netns)], Value::Int(*value));
            }
        }
    }
    e.family(
        "sockscope_orphan_sockets",
        Kind::Gauge,
        "Orphaned TCP sockets (/proc/net/sockstat), compared with the tcp_max_orphans limit.",
    );
    for ns in namespaces {
        if let Some(orphans) = ns.orphans {
            e.sample(&[("netns", &ns.netns)], Value::Int(orphans));
        }
    }
    for (name, help) in LIMITS {
        e.family(name, Kind::Gauge, help);
        for ns in namespaces {
            if let Some((_, value)) = ns.limits.iter().find(|(m, _)| *m == name) {
                e.sample(&[("netns", &ns.netns)], Value::Int(*value));
            }
        }
    }
}

fn self_families(e: &mut Exposition, namespaces: &[&NamespaceMetrics], me: &SelfMetrics) {
    e.family(
        "sockscope_poll_duration_seconds",
        Kind::Gauge,
        "How long the latest poll took (dump, attribution, rules).",
    );
    if let Some(d) = me.poll_duration {
        // Microseconds are plenty, and keep the text short (no 10.570019287000001).
        e.sample(&[], Value::Float(d.as_micros() as f64 / 1e6));
    }
    e.family("sockscope_polls", Kind::Counter, "Polls since the start.");
    e.sample(&[], Value::Int(me.polls));
    e.family(
        "sockscope_poll_errors",
        Kind::Counter,
        "Polls that failed since the start (the last good values stay exported).",
    );
    e.sample(&[], Value::Int(me.poll_errors));
    e.family(
        "sockscope_last_poll_success",
        Kind::Gauge,
        "1 when the latest poll succeeded, 0 when it failed.",
    );
    e.sample(&[], Value::Int(u64::from(me.last_poll_ok)));
    e.family(
        "sockscope_last_poll_timestamp_seconds",
        Kind::Gauge,
        "When the latest successful poll was taken, in seconds since the Unix epoch.",
    );
    if let Some(at) = me.last_success {
        let secs = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        e.sample(&[], Value::Float((secs * 1000.0).round() / 1000.0));
    }
    e.family(
        "sockscope_exposition_series_dropped",
        Kind::Gauge,
        "Series the top lists left out of this exposition (processes summed under other, listeners and anomalies beyond their limits).",
    );
    e.sample(&[], Value::Int(namespaces.iter().map(|n| n.dropped).sum()));
    e.family(
        "sockscope_build",
        Kind::Info,
        "The sockscope version and the git commit it was built from.",
    );
    e.sample(
        &[("version", VERSION), ("revision", REVISION)],
        Value::Int(1),
    );
    if let Some(process) = &me.process {
        own::process_families(e, process);
    }
}
