//! What the exporter says about itself: its polls, its build, and the standard `process_*`
//! metrics every exporter has.

use std::time::{Duration, SystemTime};

use crate::collect::own_process::OwnProcess;
use crate::serve::exposition::{Exposition, Kind, Value};

/// What the exporter says about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfMetrics {
    /// How long the latest poll took.
    pub poll_duration: Option<Duration>,
    /// Polls that failed since the start (a namespace's failure counts once).
    pub poll_errors: u64,
    /// Polls completed since the start.
    pub polls: u64,
    /// When the latest successful poll was taken.
    pub last_success: Option<SystemTime>,
    /// Whether the latest poll succeeded.
    pub last_poll_ok: bool,
    /// The exporter process's own CPU, memory and descriptors, for the standard
    /// `process_*` metrics; `None` leaves them out (a textfile, which node_exporter serves
    /// beside its own `process_*`).
    pub process: Option<OwnProcess>,
}

/// The version in `sockscope_build_info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit in `sockscope_build_info`, embedded by `build.rs`: `unknown` when the
/// source was not a git checkout.
pub const REVISION: &str = env!("SOCKSCOPE_REVISION");

/// The standard process metrics, named and described as Prometheus's client libraries do.
pub(super) fn process_families(e: &mut Exposition, p: &OwnProcess) {
    let families: [(&str, Kind, &str, Option<Value>); 6] = [
        (
            "process_cpu_seconds",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds.map(Value::Float),
        ),
        (
            "process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory size in bytes.",
            p.resident_memory_bytes.map(Value::Int),
        ),
        (
            "process_virtual_memory_bytes",
            Kind::Gauge,
            "Virtual memory size in bytes.",
            p.virtual_memory_bytes.map(Value::Int),
        ),
        (
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            p.open_fds.map(Value::Int),
        ),
        (
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            p.max_fds.map(Value::Int),
        ),
        (
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            p.start_time_seconds.map(Value::Float),
        ),
    ];
    for (name, kind, help, value) in families {
        e.family(name, kind, help);
        if let Some(value) = value {
            e.sample(&[], value);
        }
    }
}
