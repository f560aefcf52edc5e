//! The background poller: it polls every watched namespace on its own interval, runs each
//! through its own aggregator (the same rules, config and hysteresis as the dashboard),
//! renders the exposition in both formats, and swaps it in behind an `Arc` for the scrapes
//! ([`Published`]), which never wait for a dump. A failing poll keeps the last good values
//! of the namespace it failed for, raises `sockscope_poll_errors_total` and turns
//! `/healthz` to 503 with the reason until a poll succeeds again.

use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::aggregate::Aggregator;
use crate::collect::own_process::OwnProcess;
use crate::collect::{CollectError, SocketSource};
use crate::config::Config;
use crate::filter::Filter;
use crate::model::Snapshot;

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

/// One namespace's poll: its key, its name, its snapshot or why there is none.
#[derive(Debug)]
pub struct Polled {
    /// The same from poll to poll for one namespace (its nsfs inode with `-A`): a key
    /// seen for the first time gets rules of its own, one no longer polled leaves the
    /// exposition.
    pub key: u64,
    /// What a failure of it is called.
    pub name: String,
    /// The snapshot, or why the poll failed (one line).
    pub result: Result<Snapshot, String>,
}

/// What the poller polls: one namespace ([`Single`]) or every one
/// ([`EveryNamespace`](super::all_netns::EveryNamespace)).
pub trait Namespaces: Send {
    /// One poll of every namespace watched.
    fn poll_all(&mut self) -> Vec<Polled>;
}

/// One namespace, under a name for its failures until a poll names it.
#[derive(Debug)]
pub struct Single<S> {
    source: S,
    name: String,
}

impl<S> Single<S> {
    /// `source`, called `name` (as `NetnsTarget::label` prints it).
    pub fn new(source: S, name: impl Into<String>) -> Single<S> {
        Single {
            source,
            name: name.into(),
        }
    }
}

impl<S: SocketSource + Send> Namespaces for Single<S> {
    fn poll_all(&mut self) -> Vec<Polled> {
        let result = self.source.poll().map_err(error_line);
        if let Ok(snapshot) = &result {
            self.name.clone_from(&snapshot.netns);
        }
        vec![Polled {
            key: 0,
            name: self.name.clone(),
            result,
        }]
    }
}

/// One watched namespace: its aggregator, and the last good metrics.
#[derive(Debug)]
struct Watch {
    key: u64,
    aggregator: Aggregator,
    /// Runs the rules on the filtered sockets when a filter is given (as the dashboard's).
    narrowed: Option<Aggregator>,
    last: Option<NamespaceMetrics>,
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

/// Polls `S` and publishes the exposition.
#[derive(Debug)]
pub struct Poller<S> {
    sources: S,
    /// In the order namespaces first appeared (the host's first with `-A`).
    watches: Vec<Watch>,
    settings: PollSettings,
    me: SelfMetrics,
    published: Arc<Published>,
}

impl<S: Namespaces + 'static> Poller<S> {
    /// A poller of `sources` publishing into `published`.
    pub fn new(sources: S, settings: PollSettings, published: Arc<Published>) -> Poller<S> {
        Poller {
            sources,
            watches: Vec::new(),
            settings,
            me: SelfMetrics::default(),
            published,
        }
    }

    /// A new namespace's watch: the dashboard's rules and hysteresis; no socket
    /// identities, as the exporter shows no socket's age (they only fill the rules'
    /// evidence): at a million sockets that spares a million map updates per poll and
    /// 24 MB.
    fn watch(&self, key: u64) -> Watch {
        let settings = &self.settings;
        let aggregator = || {
            settings
                .config
                .aggregator()
                .with_history(settings.config.general.history, settings.interval)
                .without_ages()
        };
        Watch {
            key,
            aggregator: aggregator(),
            narrowed: (!settings.filter.is_empty()).then(aggregator),
            last: None,
        }
    }

    /// Poll every namespace once, publish the result, and write the textfile if asked;
    /// returns the health published. A textfile that cannot be written is told on stderr.
    pub fn poll_once(&mut self) -> Health {
        let started = Instant::now();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| self.sources.poll_all()));
        let mut failures = Vec::new();
        let polled = match polled {
            Ok(polled) => polled,
            Err(panic) => {
                failures.push(format!("the collector crashed: {}", panic_text(&*panic)));
                Vec::new()
            }
        };
        // A namespace no longer polled (gone, or left out) leaves the exposition; but when
        // nothing was polled at all (the collector crashed, discovery failed) every last
        // good value stays.
        if polled.iter().any(|p| p.result.is_ok()) {
            self.watches
                .retain(|w| polled.iter().any(|p| p.key == w.key));
        }

        let mut taken_at = None;
        for Polled { key, name, result } in polled {
            let index = match self.watches.iter().position(|w| w.key == key) {
                Some(index) => index,
                None => {
                    let watch = self.watch(key);
                    self.watches.push(watch);
                    self.watches.len() - 1
                }
            };
            if let (Ok(snapshot), Some(first)) = (&result, self.settings.on_first_snapshot) {
                self.settings.on_first_snapshot = None;
                first(snapshot);
            }
            let filter = &self.settings.filter;
            let watch = &mut self.watches[index];
            match result {
                Ok(snapshot) => {
                    if !filter.netns.is_empty()
                        && !filter.netns.iter().any(|n| n.matches(&snapshot))
                    {
                        watch.last = None;
                        continue;
                    }
                    let narrowed = watch
                        .narrowed
                        .as_mut()
                        .map(|n| n.ingest(&filter.narrow(&snapshot)).anomalies.clone());
                    let summary = watch.aggregator.ingest(&snapshot);
                    let anomalies = narrowed.as_deref().unwrap_or(&summary.anomalies);
                    watch.last = Some(NamespaceMetrics::of(
                        summary,
                        anomalies,
                        &snapshot,
                        self.settings.top,
                    ));
                    taken_at = taken_at.or(snapshot.taken_at);
                }
                Err(e) => failures.push(format!("netns {name}: {e}")),
            }
        }
        self.me.polls += 1;
        self.me.poll_duration = Some(started.elapsed());
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
            .watches
            .iter()
            .filter_map(|w| w.last.as_ref())
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

    /// Poll at the interval until `stop` says so or hangs up.
    pub fn run(mut self, stop: &Receiver<()>) {
        loop {
            let started = Instant::now();
            self.poll_once();
            let wait = (started + self.settings.interval).saturating_duration_since(Instant::now());
            match stop.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Run the poller on its own thread.
    pub fn spawn(self) -> std::io::Result<PollerThread> {
        let (stop, stopped) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("sockscope-poller".to_owned())
            .spawn(move || self.run(&stopped))?;
        Ok(PollerThread { stop, handle })
    }
}

/// A poller running on its own thread; dropping it leaves it running.
#[derive(Debug)]
pub struct PollerThread {
    stop: Sender<()>,
    handle: JoinHandle<()>,
}

impl PollerThread {
    /// Stop it (after the poll under way) and wait for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }

    /// Keep it running for as long as the process does.
    pub fn detach(self) {
        std::mem::forget(self.stop);
    }
}

/// A collector's error as one line, its causes after colons.
pub fn error_line(e: CollectError) -> String {
    format!("{:#}", anyhow::Error::from(e))
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
