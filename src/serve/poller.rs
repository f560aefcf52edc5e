//! The background poller: it polls every watched namespace on its own interval, runs each
//! through its own aggregator (the same rules, config and hysteresis as the dashboard),
//! renders the exposition in both formats, and swaps it in behind an `Arc` for the scrapes
//! ([`Published`]), which never wait for a dump. A failing poll keeps the last good values
//! of the namespace it failed for, raises `sockscope_poll_errors_total` and turns
//! `/healthz` to 503 with the reason until a poll succeeds again.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::collect::CollectOptions;
use crate::collect::all_netns::DESCRIPTORS_PER_NAMESPACE;
use crate::collect::own_process::OwnProcess;
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Snapshot;
use crate::watch::judge::Sees;
use crate::watch::thread::{self, Consumer, Control};
use crate::watch::{Freshness, JudgeSpec, Judges, Round, RoundSource, Watcher};

use super::exposition::Format;
use super::metrics::{NamespaceMetrics, SelfMetrics, TopLimits, render};
use super::textfile;

/// Whether the exporter's polls work, as `/healthz` tells.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// No poll has completed yet.
    Starting,
    /// The latest poll succeeded.
    Healthy,
    /// The latest poll failed: why.
    Failing(String),
}

/// One rendering of the latest poll, as scrapes serve it.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The exposition in the text format 0.0.4.
    pub text: String,
    /// The same in OpenMetrics 1.0.
    pub openmetrics: String,
    /// How the latest poll went.
    pub health: Health,
    /// `text` and `openmetrics` gzipped (`None` if compressing failed).
    gzipped: [Option<Vec<u8>>; 2],
}

impl Page {
    /// A page of both renderings, each also gzipped now, once per poll: at flate2's
    /// default level that takes 0.2 ms for a 7 KB page and 1.6 ms for 500 KB here, so
    /// no scrape ever compresses (nor waits for another scrape to).
    pub fn new(text: String, openmetrics: String, health: Health) -> Page {
        let gzipped = [gzip(text.as_bytes()), gzip(openmetrics.as_bytes())];
        Page {
            text,
            openmetrics,
            health,
            gzipped,
        }
    }

    /// The exposition in `format`.
    pub fn body(&self, format: Format) -> &str {
        match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        }
    }

    /// The exposition in `format`, gzipped.
    pub fn gzipped(&self, format: Format) -> Option<&[u8]> {
        match format {
            Format::Text => self.gzipped[0].as_deref(),
            Format::OpenMetrics => self.gzipped[1].as_deref(),
        }
    }
}

/// `bytes` gzipped at flate2's default level.
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::default(),
    );
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

/// The latest [`Page`], swapped in whole after each poll; a scrape clones the `Arc` and
/// writes without holding the lock.
#[derive(Debug)]
pub struct Published(RwLock<Arc<Page>>);

impl Published {
    /// Before the first poll: the exporter's own metrics only, health [`Health::Starting`].
    pub fn new() -> Arc<Published> {
        let me = SelfMetrics::default();
        Arc::new(Published(RwLock::new(Arc::new(Page::new(
            render(&[], &me, Format::Text),
            render(&[], &me, Format::OpenMetrics),
            Health::Starting,
        )))))
    }

    /// The latest page.
    pub fn current(&self) -> Arc<Page> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn publish(&self, page: Page) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(page);
    }
}

/// What the poller needs besides its sources.
#[derive(Clone, Debug)]
pub struct PollSettings {
    /// Thresholds and rules.
    pub config: Config,
    /// How often to poll.
    pub interval: Duration,
    /// Narrows the sockets the rules see (and, with `-A`, the namespaces exported).
    pub filter: Filter,
    /// Top list lengths.
    pub top: TopLimits,
    /// Also write the text exposition here after each poll (atomically).
    pub textfile: Option<PathBuf>,
    /// Called with the first snapshot polled (each namespace's, with `-A`, the host's
    /// first): the binary tells stderr once what it lacks (owners it could not read).
    pub on_first_snapshot: Option<fn(&Snapshot)>,
}

/// Polls a [`Watcher`] and publishes the exposition: the watcher judges each namespace
/// with the dashboard's rules and hysteresis; the [`Publisher`] keeps each one's metrics
/// and renders.
#[derive(Debug)]
pub struct Poller<S> {
    watcher: Watcher<S>,
    publisher: Publisher,
}

impl<S: RoundSource + 'static> Poller<S> {
    /// A poller of `source` publishing into `published`. Each namespace's judge has the
    /// dashboard's rules and hysteresis and no socket identities, as the exporter shows no
    /// socket's age (they only fill the rules' evidence): at a million sockets that spares
    /// a million map updates per poll and 24 MB.
    pub fn new(source: S, settings: PollSettings, published: Arc<Published>) -> Poller<S> {
        let spec = JudgeSpec::new(settings.config.clone())
            .with_history(settings.config.general.history, settings.interval)
            .without_ages()
            .narrowed_by(settings.filter.clone(), Sees::Both);
        Poller {
            watcher: Watcher::new(source, Judges::new(spec)),
            publisher: Publisher {
                metrics: Vec::new(),
                settings,
                me: SelfMetrics::default(),
                published,
                over_limit: 0,
            },
        }
    }

    /// Also listen to the sockets each namespace destroys, from the kernel's destroy
    /// events (`options` and `every` say which namespaces): counted
    /// (`sockscope_tcp_closed_total`, `sockscope_events_lost_total`) and judged
    /// (`connection_churn`).
    #[must_use]
    pub fn with_destroyed(mut self, options: &CollectOptions, every: bool) -> Poller<S> {
        self.watcher = self.watcher.with_destroyed(options, every);
        self
    }

    /// Poll every namespace once, publish the result, and write the textfile if asked;
    /// returns the health published. A textfile that cannot be written is told on stderr.
    pub fn poll_once(&mut self) -> Health {
        let started = Instant::now();
        let round = self.watcher.poll(self.publisher.settings.interval);
        self.publisher.publish(round, started.elapsed())
    }

    /// Poll at the interval on this thread, for as long as the process runs.
    pub fn run(self) {
        let (_keep, controls) = mpsc::channel();
        let interval = self.publisher.settings.interval;
        thread::run_here(self.watcher, interval, &controls, self.publisher);
    }

    /// Run the poller on its own thread (the collector thread).
    pub fn spawn(self) -> std::io::Result<PollerThread> {
        let (controls, received) = mpsc::channel();
        let interval = self.publisher.settings.interval;
        let handle = thread::spawn(
            "sockscope-poller",
            self.watcher,
            interval,
            received,
            self.publisher,
        )?;
        Ok(PollerThread { controls, handle })
    }
}

/// What the poller keeps between rounds and how it renders: the [`Consumer`] of the
/// collector thread.
#[derive(Debug)]
pub struct Publisher {
    /// Each namespace's last good metrics, by key, in the order namespaces first appeared
    /// (the host's first with `-A`).
    metrics: Vec<(u64, Option<NamespaceMetrics>)>,
    settings: PollSettings,
    me: SelfMetrics,
    published: Arc<Published>,
    /// Namespaces left out for lack of descriptors, as last told on stderr.
    over_limit: usize,
}

impl Publisher {
    /// Take in one judged round that took `took`, publish the page, write the textfile.
    fn publish(&mut self, round: Round, took: Duration) -> Health {
        let mut failures: Vec<String> = round.failure.iter().cloned().collect();
        if round.over_limit > 0 && round.over_limit != self.over_limit {
            crate::stderr_line!(
                "sockscope: the open-file limit leaves room for {} namespaces ({DESCRIPTORS_PER_NAMESPACE} descriptors each): skipped {} more; raise it (LimitNOFILE=, `ulimit -n`) to see them",
                round.namespaces.len(),
                round.over_limit
            );
        }
        self.over_limit = round.over_limit;
        // A namespace no longer polled (gone, or left out) leaves the exposition; but when
        // nothing was polled at all (the collector crashed, discovery failed) every last
        // good value stays.
        if round
            .namespaces
            .iter()
            .any(|n| n.freshness == Freshness::Dumped)
        {
            self.metrics
                .retain(|(key, _)| round.namespaces.iter().any(|n| n.key == *key));
        }
        if let Some(why) = &round.events_error {
            crate::stderr_line!("sockscope: subscribing to destroy events: {why}");
        }
        let mut taken_at = None;
        for namespace in &round.namespaces {
            let index = match self.metrics.iter().position(|(k, _)| *k == namespace.key) {
                Some(index) => index,
                None => {
                    self.metrics.push((namespace.key, None));
                    self.metrics.len() - 1
                }
            };
            match (namespace.freshness, namespace.fresh_snapshot()) {
                (Freshness::Dumped, Some(snapshot)) => {
                    if let Some(first) = self.settings.on_first_snapshot.take() {
                        first(snapshot);
                    }
                    // `None`: `--netns-match` leaves this namespace out.
                    self.metrics[index].1 = namespace.verdict.as_ref().map(|verdict| {
                        NamespaceMetrics::of(
                            &verdict.summary,
                            &verdict.anomalies,
                            snapshot,
                            self.settings.top,
                        )
                    });
                    if let Some(metrics) = &mut self.metrics[index].1 {
                        metrics.closed = namespace.closed;
                    }
                    taken_at = taken_at.or(snapshot.taken_at);
                }
                _ => {
                    if let Some(why) = &namespace.error {
                        failures.push(format!("netns {}: {why}", namespace.label.name));
                    }
                }
            }
        }
        drop(round);
        self.me.polls += 1;
        self.me.poll_duration = Some(took);
        let health = if failures.is_empty() {
            self.me.last_poll_ok = true;
            self.me.last_success = Some(taken_at.unwrap_or_else(SystemTime::now));
            Health::Healthy
        } else {
            self.me.poll_errors += 1;
            self.me.last_poll_ok = false;
            Health::Failing(failures.join("; "))
        };
        // Written to a textfile, `process_*` would describe sockscope under node_exporter's
        // name and clash with node_exporter's own.
        self.me.process = self.settings.textfile.is_none().then(OwnProcess::read);
        let namespaces: Vec<&NamespaceMetrics> = self
            .metrics
            .iter()
            .filter_map(|(_, m)| m.as_ref())
            .collect();
        let page = Page::new(
            render(&namespaces, &self.me, Format::Text),
            render(&namespaces, &self.me, Format::OpenMetrics),
            health.clone(),
        );
        if let Some(path) = &self.settings.textfile
            && let Err(e) = textfile::write_atomically(path, page.text.as_bytes())
        {
            crate::stderr_line!("sockscope: {e}");
        }
        self.published.publish(page);
        health
    }
}

impl Consumer for Publisher {
    fn round(&mut self, round: Round, took: Duration) -> bool {
        self.publish(round, took);
        true
    }
}

/// A poller running on its own thread; dropping it leaves it running.
#[derive(Debug)]
pub struct PollerThread {
    controls: Sender<Control>,
    handle: JoinHandle<()>,
}

impl PollerThread {
    /// Stop it (after the poll under way) and wait for it.
    pub fn stop(self) {
        drop(self.controls);
        let _ = self.handle.join();
    }

    /// Keep it running for as long as the process does.
    pub fn detach(self) {
        std::mem::forget(self.controls);
    }
}
