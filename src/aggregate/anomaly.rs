//! What the rules report: [`Anomaly`], its kind, severity and subject, and the tracker that
//! keeps an anomaly raised across polls (first-seen time, hysteresis, trend).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::model::endpoint;

/// Which rule raised an anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A process (or an unknown owner on a local port) holds many CLOSE_WAIT sockets.
    CloseWaitBacklog,
    /// A listener has many half-open (SYN_RECV) connections.
    SynRecvFlood,
    /// The kernel answered SYNs with cookies or dropped them: a SYN queue overflowed.
    SynCookies,
    /// Many TIME_WAIT sockets toward one destination, or in the whole namespace.
    TimeWaitExcess,
    /// A listener's accept queue is (nearly) full, or the kernel dropped connections for it.
    AcceptQueueOverflow,
    /// Many FIN_WAIT2 sockets, in total or held by one process.
    FinWait2Pileup,
    /// Orphaned sockets approach `tcp_max_orphans`.
    OrphanSockets,
    /// A process's open descriptors approach its soft open-file limit (RLIMIT_NOFILE).
    FdExhaustion,
}

impl AnomalyKind {
    /// Every kind, in report order.
    pub const ALL: [AnomalyKind; 8] = [
        AnomalyKind::CloseWaitBacklog,
        AnomalyKind::SynRecvFlood,
        AnomalyKind::SynCookies,
        AnomalyKind::TimeWaitExcess,
        AnomalyKind::AcceptQueueOverflow,
        AnomalyKind::FinWait2Pileup,
        AnomalyKind::OrphanSockets,
        AnomalyKind::FdExhaustion,
    ];

    /// The serialized `snake_case` name (`close_wait_backlog`).
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::CloseWaitBacklog => "close_wait_backlog",
            AnomalyKind::SynRecvFlood => "syn_recv_flood",
            AnomalyKind::SynCookies => "syn_cookies",
            AnomalyKind::TimeWaitExcess => "time_wait_excess",
            AnomalyKind::AcceptQueueOverflow => "accept_queue_overflow",
            AnomalyKind::FinWait2Pileup => "fin_wait2_pileup",
            AnomalyKind::OrphanSockets => "orphan_sockets",
            AnomalyKind::FdExhaustion => "fd_exhaustion",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// How bad an anomaly is. `Critical` sorts above `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look.
    Warning,
    /// Act now.
    Critical,
}

impl Severity {
    /// `"warning"` or `"critical"`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What an anomaly is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// One process.
    Process {
        /// Process id.
        pid: u32,
        /// Short name (`/proc/PID/comm`).
        comm: String,
    },
    /// A listening address (every SO_REUSEPORT socket on it together).
    Listener(SocketAddr),
    /// A remote address and port.
    Destination(SocketAddr),
    /// Sockets with no known owner, grouped by their local port.
    LocalPort(u16),
    /// The whole network namespace (kernel counters and limits).
    Namespace,
}

impl Subject {
    /// A short label: `nginx[1234]`, `listener 0.0.0.0:80`, `destination 192.0.2.7:443`,
    /// `local port 8080`, `namespace`.
    pub fn label(&self) -> String {
        match self {
            Subject::Process { pid, comm } => format!("{comm}[{pid}]"),
            Subject::Listener(addr) => format!("listener {}", endpoint(addr)),
            Subject::Destination(addr) => format!("destination {}", endpoint(addr)),
            Subject::LocalPort(port) => format!("local port {port}"),
            Subject::Namespace => "namespace".to_owned(),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.label())
    }
}

/// A remote endpoint and how many of the anomaly's sockets point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCount {
    /// Remote address and port.
    pub peer: SocketAddr,
    /// Sockets toward it.
    pub count: u64,
}

/// A kernel counter that rose since the previous poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterRise {
    /// The kernel's name (`ListenOverflows`).
    pub counter: &'static str,
    /// How much it rose.
    pub rise: u64,
}

/// The facts behind an anomaly, beyond its count; each field is filled only by the rules it
/// makes sense for.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Evidence {
    /// Top remote endpoints, most sockets first (`close_wait_backlog`).
    pub peers: Vec<PeerCount>,
    /// How long the oldest socket of the subject has been in the state (`close_wait_backlog`,
    /// `fin_wait2_pileup`); a lower bound, as identity tracking starts at the first poll.
    pub oldest_age: Option<Duration>,
    /// Distinct remote addresses (`syn_recv_flood`: a spoofed flood has many).
    pub distinct_sources: Option<u64>,
    /// Kernel counters that rose since the last poll (counter-based rules).
    pub counter_rises: Vec<CounterRise>,
    /// The kernel limit the count was compared with: the SYN backlog, the listen backlog,
    /// the ephemeral port range size, `tcp_max_tw_buckets`, `tcp_max_orphans`, or the
    /// process's soft open-file limit (`fd_exhaustion`).
    pub limit: Option<u64>,
    /// TCP sockets of the namespace the process holds (`fd_exhaustion`: how many of its
    /// descriptors are TCP sockets).
    pub tcp_sockets: Option<u64>,
    /// How many of those are CLOSE_WAIT (`fd_exhaustion`: a leak shows as most of them).
    pub close_wait: Option<u64>,
}

/// One raised anomaly, as every output renders it.
#[derive(Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// Which rule.
    pub kind: AnomalyKind,
    /// Warning or critical.
    pub severity: Severity,
    /// What it is about.
    pub subject: Subject,
    /// The measured value: sockets, queue length, or a counter's rise since the last poll.
    pub count: u64,
    /// The warning level `count` was compared with (raised at `count >= threshold`).
    pub threshold: u64,
    /// The critical level.
    pub critical_threshold: u64,
    /// When it was first raised; kept across polls while it stays raised.
    pub first_seen: SystemTime,
    /// Change of `count` per minute over the last minute; `None` until two polls saw it.
    pub trend: Option<f64>,
    /// One line: what it usually means and what to check.
    pub hint: &'static str,
    /// The facts behind it.
    pub evidence: Evidence,
}

/// What a rule measured for one subject in one poll. Rules report every subject at or above
/// its clear mark; the tracker decides whether it is raised.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Observation {
    pub kind: AnomalyKind,
    pub subject: Subject,
    pub count: u64,
    pub warning: u64,
    pub critical: u64,
    /// Raised at least at this severity whatever the count (a kernel counter that rose).
    pub forced: Option<Severity>,
    pub hint: &'static str,
    pub evidence: Evidence,
}

/// The window the trend is computed over.
const TREND_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Tracked {
    raised: Option<(SystemTime, Severity)>,
    samples: VecDeque<(SystemTime, u64)>,
}

/// Keeps anomalies across polls: raise at the warning level, clear only below
/// `clear_ratio` × the level (hysteresis), remember when each was first raised.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    tracked: HashMap<(AnomalyKind, Subject), Tracked>,
}

impl Tracker {
    /// Apply one poll's observations; returns the raised anomalies, most severe first, then
    /// by kind, largest count, subject.
    pub fn update(
        &mut self,
        observations: Vec<Observation>,
        now: SystemTime,
        clear_ratio: f64,
    ) -> Vec<Anomaly> {
        let mut previous = std::mem::take(&mut self.tracked);
        let mut anomalies = Vec::new();
        for obs in observations {
            let key = (obs.kind, obs.subject.clone());
            if self.tracked.contains_key(&key) {
                continue;
            }
            let mut tracked = previous.remove(&key).unwrap_or(Tracked {
                raised: None,
                samples: VecDeque::new(),
            });
            tracked.samples.push_back((now, obs.count));
            while tracked.samples.len() > 2
                && tracked.samples.get(1).is_some_and(|(at, _)| {
                    now.duration_since(*at).unwrap_or_default() >= TREND_WINDOW
                })
            {
                tracked.samples.pop_front();
            }
            tracked.raised = judge(&obs, tracked.raised, now, clear_ratio);
            if let Some((first_seen, severity)) = tracked.raised {
                anomalies.push(Anomaly {
                    kind: obs.kind,
                    severity,
                    subject: obs.subject,
                    count: obs.count,
                    threshold: obs.warning,
                    critical_threshold: obs.critical,
                    first_seen,
                    trend: trend(&tracked.samples),
                    hint: obs.hint,
                    evidence: obs.evidence,
                });
            }
            self.tracked.insert(key, tracked);
        }
        anomalies.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.kind.cmp(&b.kind))
                .then(b.count.cmp(&a.count))
                .then_with(|| a.subject.cmp(&b.subject))
        });
        anomalies
    }
}

/// The new raised state of one subject: `(first raised, severity)` or `None`.
fn judge(
    obs: &Observation,
    raised: Option<(SystemTime, Severity)>,
    now: SystemTime,
    clear_ratio: f64,
) -> Option<(SystemTime, Severity)> {
    let count = obs.count as f64;
    let holds = |level: u64, was: bool| {
        count >= level as f64 || (was && count >= clear_ratio * level as f64)
    };
    let was_critical = matches!(raised, Some((_, Severity::Critical)));
    let measured = if holds(obs.critical, was_critical) {
        Some(Severity::Critical)
    } else if holds(obs.warning, raised.is_some()) {
        Some(Severity::Warning)
    } else {
        None
    };
    let severity = measured.max(obs.forced)?;
    Some((raised.map_or(now, |(since, _)| since), severity))
}

/// Change per minute between the oldest and newest sample in the window.
fn trend(samples: &VecDeque<(SystemTime, u64)>) -> Option<f64> {
    let (first_at, first) = samples.front()?;
    let (last_at, last) = samples.back()?;
    let seconds = last_at.duration_since(*first_at).ok()?.as_secs_f64();
    (samples.len() >= 2 && seconds > 0.0).then(|| (*last as f64 - *first as f64) / seconds * 60.0)
}
