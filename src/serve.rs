//! `sockscope serve`: the Prometheus exporter. A background [`Poller`] (`poller.rs`) polls
//! the watched namespaces on its own interval through the same watcher as the dashboard
//! ([`crate::watch`]), keeps a compact copy of each namespace's metrics ([`metrics`]) and renders
//! the exposition ([`Format`], `exposition.rs`: text format 0.0.4 and OpenMetrics 1.0) after
//! each poll; [`http`] serves the latest rendering to scrapes, which never wait for a dump,
//! or `textfile.rs` writes it for node_exporter's textfile collector. [`web_config`] reads the
//! exporter-toolkit web configuration (TLS, basic auth).

pub(crate) mod exposition;
pub mod http;
pub mod metrics;
pub(crate) mod poller;
pub(crate) mod textfile;
pub mod web_config;

pub use exposition::Format;
pub use http::{ConnectionLimits, ServeError, Server};
pub use metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};
pub use poller::{Health, Page, PollSettings, Poller, Published};

/// The default poll interval: Prometheus's default scrape interval.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(15);
