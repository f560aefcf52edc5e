//! The aggregator: pure, no I/O. It ingests one [`Snapshot`] per poll and keeps the
//! [`Summary`] every output renders — counts per state and their change, groupings,
//! counter rates, bounded history, and the anomalies the rules raise.
//!
//! ```
//! use sockscope::aggregate::{Aggregator, RuleConfig};
//! use sockscope::model::Snapshot;
//!
//! let mut aggregator = Aggregator::new(RuleConfig::default());
//! let summary = aggregator.ingest(&Snapshot::default());
//! assert!(summary.anomalies.is_empty());
//! ```

mod anomaly;
mod churn;
mod containers;
mod group;
mod history;
mod identity;
mod peers;
mod rates;
mod rules;
mod tally;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::model::{
    Attribution, ClosedSocket, Counters, Snapshot, Socket, SourceKind, StateCounts, TcpState,
};
use anomaly::Tracker;
use identity::Identities;
use tally::Tally;

pub use anomaly::{
    Anomaly, AnomalyKind, ChurnEvidence, CounterRise, Evidence, KindInfo, MakerCount, PeerCount,
    Severity, Subject,
};
pub use churn::{
    CHURN_GROUPS, Churn, ChurnGroup, ChurnStats, ChurnSummary, KEYS_PER_SECOND, Maker, SPAN_SECONDS,
};
pub use group::{GROUP_LIMIT, Group, Grouping, ListenerGroup, ProcessGroup, StateGroup};
pub use history::{History, KEY_COUNTERS, MAX_SAMPLES, Sample};
pub use rates::{CounterGroup, CounterRate};
pub use rules::{
    AcceptQueueRule, CloseWaitRule, ConnectionChurnRule, DEFAULT_CLEAR_RATIO, FdExhaustionRule,
    FinWait2Rule, InvalidSetting, OrphansRule, RuleConfig, StateLevels, SynCookiesRule,
    SynRecvRule, TimeWaitRule,
};
pub(crate) use rules::{Rule, RuleVisitor, for_rule, section};

/// How many TIME_WAIT destinations [`Summary::by_time_wait_destination`] lists.
pub const TIME_WAIT_DESTINATIONS: usize = 10;

/// Everything the outputs show about the latest poll.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Summary {
    /// When the latest snapshot was taken.
    pub taken_at: Option<SystemTime>,
    /// Host name.
    pub host: String,
    /// The namespace watched.
    pub netns: String,
    /// Where the sockets came from.
    pub source: SourceKind,
    /// How complete process attribution is.
    pub attribution: Attribution,
    /// Polls ingested so far.
    pub polls: u64,
    /// Sockets per state.
    pub counts: StateCounts,
    /// Sockets per state at the previous poll (`None` on the first).
    pub previous_counts: Option<StateCounts>,
    /// Sockets with no known owner, per state (TIME_WAIT and SYN_RECV always are).
    pub unowned: StateCounts,
    /// Every state with its count and change, largest first, ties in lifecycle order.
    pub by_state: Vec<StateGroup>,
    /// Every process holding sockets, most sockets first, ties by pid.
    pub by_process: Vec<ProcessGroup>,
    /// Remote hosts (LISTEN and unconnected sockets left out), most sockets first.
    pub by_remote_host: Grouping<IpAddr>,
    /// Remote address:port pairs, most sockets first.
    pub by_remote_endpoint: Grouping<SocketAddr>,
    /// Listening addresses, most connections first, ties by address.
    pub by_listener: Vec<ListenerGroup>,
    /// TIME_WAIT sockets by remote address and port, most first, at most
    /// [`TIME_WAIT_DESTINATIONS`] (the rest summed in [`Grouping::rest`]).
    pub by_time_wait_destination: Grouping<SocketAddr>,
    /// Raised anomalies: critical first, then by kind, largest count, subject.
    pub anomalies: Vec<Anomaly>,
    /// Kernel counter rises since the previous poll, or since the counter baseline (see
    /// [`Aggregator::counter_baseline`]); empty on a first poll without one.
    pub rates: Vec<CounterRate>,
    /// Past polls, for sparklines.
    pub history: History,
    /// The connections closed over the last minute, as the destroy events told them
    /// (`listening` false when they are not listened to).
    pub churn: ChurnSummary,
}

impl Summary {
    /// Change of `state`'s count since the previous poll; `None` on the first poll.
    pub fn change(&self, state: TcpState) -> Option<i64> {
        self.previous_counts
            .map(|p| self.counts.get(state) as i64 - p.get(state) as i64)
    }

    /// The rate of a kernel counter by name (`ListenDrops`), if it has one this poll.
    pub fn rate(&self, counter: &str) -> Option<&CounterRate> {
        self.rates.iter().find(|r| r.name == counter)
    }

    /// The highest severity raised, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.anomalies.iter().map(|a| a.severity).max()
    }
}

/// Ingests snapshots and keeps the [`Summary`].
#[derive(Debug)]
pub struct Aggregator {
    rules: RuleConfig,
    /// Shared with the outputs that keep a poll on screen: see [`Aggregator::shared_summary`].
    summary: Arc<Summary>,
    tally: Tally,
    identities: Identities,
    /// Whether [`Aggregator::identities`] are kept: see [`Aggregator::without_ages`].
    ages: bool,
    tracker: Tracker,
    previous_counters: Option<(Counters, Option<SystemTime>)>,
    churn: Churn,
}

impl Aggregator {
    /// An aggregator running `rules`, with ten minutes of history at one poll per second.
    pub fn new(rules: RuleConfig) -> Aggregator {
        let short_lived = rules.connection_churn.short_lived;
        Aggregator {
            rules,
            summary: Arc::default(),
            tally: Tally::default(),
            identities: Identities::default(),
            ages: true,
            tracker: Tracker::default(),
            previous_counters: None,
            churn: Churn::new(short_lived),
        }
    }

    /// Keep no socket identities: for a one-shot poll, which looks once and so can tell no
    /// socket's age (each is taken as first seen by that poll). At a million sockets this
    /// spares a million map insertions and the map's 24 MB. [`Aggregator::first_seen`] and
    /// [`Aggregator::in_state_since`] then answer `None`.
    #[must_use]
    pub fn without_ages(mut self) -> Aggregator {
        self.ages = false;
        self
    }

    /// Size the history to hold `span` of polls taken every `interval`; drops what it held.
    #[must_use]
    pub fn with_history(mut self, span: Duration, interval: Duration) -> Aggregator {
        Arc::make_mut(&mut self.summary).history = History::with_span(span, interval);
        self
    }

    /// The rules it runs, with their thresholds.
    pub fn rules(&self) -> &RuleConfig {
        &self.rules
    }

    /// The summary of the latest poll (empty before the first).
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The summary of the latest poll, shared rather than copied. The next
    /// [`Aggregator::ingest`] updates it in place when nobody holds it any more, and copies it
    /// (history included) only when a holder still does: drop it before the next poll.
    pub fn shared_summary(&self) -> Arc<Summary> {
        Arc::clone(&self.summary)
    }

    /// When `socket` (of the latest snapshot) was first seen; a lower bound, as tracking
    /// starts at the first poll.
    pub fn first_seen(&self, socket: &Socket) -> Option<SystemTime> {
        self.identities
            .get(socket)
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_millis(s.first_seen_ms))
    }

    /// Since when `socket` (of the latest snapshot) has been in its current state.
    pub fn in_state_since(&self, socket: &Socket) -> Option<SystemTime> {
        self.identities
            .get(socket)
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_millis(s.state_since_ms))
    }

    /// Measure the next snapshot's counter rises from `counters` instead of from the
    /// previous snapshot's: a one-shot poll reads the counters when its dump starts, so
    /// that the counter rules run on its one snapshot. Only the counters are taken: sockets,
    /// history and anomalies still start with the next snapshot. `counters` without
    /// [`Counters::read_at`] give rises but no rate per second.
    pub fn counter_baseline(&mut self, counters: Counters) {
        let at = counters.read_at;
        self.previous_counters = Some((counters, at));
    }

    /// Destroy events were listened to from `from` to `to`: the closes taken in since
    /// ([`Aggregator::closed`]) are all there were, and the churn rates are over that time.
    pub fn listened(&mut self, from: SystemTime, to: SystemTime) {
        self.churn.listened(from, to);
    }

    /// Take in a connection the kernel destroyed (between polls: the next
    /// [`Aggregator::ingest`] judges it).
    pub fn closed(&mut self, closed: &ClosedSocket) {
        self.churn.add(closed);
    }

    /// Take in connections closed between polls, grouped elsewhere (a watcher's collector
    /// thread groups each round's), with the span they were listened to.
    pub fn take_closes(&mut self, closes: &Churn) {
        self.churn.merge(closes);
    }

    /// How many sockets the identity tracker remembers (those of the latest poll).
    pub fn tracked_sockets(&self) -> usize {
        self.identities.len()
    }

    /// Take in one poll and bring the summary up to date.
    ///
    /// A snapshot without `taken_at` counts as taken at the Unix epoch: ages, rates and
    /// trends then read zero or `None`.
    pub fn ingest(&mut self, snapshot: &Snapshot) -> &Summary {
        let now = snapshot.taken_at.unwrap_or(SystemTime::UNIX_EPOCH);
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if self.ages {
            self.identities.begin(snapshot.sockets.len());
            self.tally.run(snapshot, Some(&mut self.identities), now_ms);
            self.identities.end();
        } else {
            self.tally.run(snapshot, None, now_ms);
        }

        let counters_at = snapshot.counters.read_at.or(snapshot.taken_at);
        let rates = self.previous_counters.as_ref().map(|(counters, at)| {
            rates::counter_rates(counters, *at, &snapshot.counters, counters_at)
        });
        let counter_interval = self
            .previous_counters
            .as_ref()
            .and_then(|(_, at)| counters_at?.duration_since((*at)?).ok());
        let observations = rules::evaluate(
            &rules::RuleInput {
                snapshot,
                tally: &self.tally,
                rates: rates.as_deref(),
                counter_interval,
                now_ms,
                clear_ratio: self.rules.clear_ratio,
                churn: self.churn.is_listening().then_some(&self.churn),
            },
            &self.rules,
        );
        let mut anomalies = self
            .tracker
            .update(observations, now, self.rules.clear_ratio);
        let process_containers = containers::ProcessContainers::of(snapshot);
        containers::name_containers(snapshot, &process_containers, &mut anomalies);
        self.previous_counters = Some((snapshot.counters.clone(), counters_at));

        let rates = rates.unwrap_or_default();
        let mut key_rates = [None; KEY_COUNTERS.len()];
        for (slot, name) in key_rates.iter_mut().zip(KEY_COUNTERS) {
            *slot = rates
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.per_second);
        }
        let counts = self.tally.counts;
        let summary = Arc::make_mut(&mut self.summary);
        let previous = (summary.polls > 0).then_some(summary.counts);
        summary.history.push(Sample {
            at: snapshot.taken_at,
            counts,
            rates: key_rates,
        });
        summary.taken_at = snapshot.taken_at;
        summary.host.clone_from(&snapshot.host);
        summary.netns.clone_from(&snapshot.netns);
        summary.source = snapshot.source;
        summary.attribution = snapshot.attribution.clone();
        summary.polls += 1;
        summary.counts = counts;
        summary.previous_counts = previous;
        summary.unowned = self.tally.unowned;
        summary.by_state = group::by_state(&counts, previous.as_ref());
        summary.by_process = by_process(snapshot, &self.tally, &process_containers);
        (summary.by_remote_host, summary.by_remote_endpoint) = self.tally.peers.top(GROUP_LIMIT);
        summary.by_listener = by_listener(snapshot, &self.tally);
        summary.by_time_wait_destination = group::top_of(
            self.tally
                .time_wait_destinations
                .iter()
                .map(|(addr, count)| (*addr, *count)),
            TIME_WAIT_DESTINATIONS,
        );
        summary.anomalies = anomalies;
        summary.rates = rates;
        summary.churn = self.churn.summary(now);
        &self.summary
    }
}

fn by_process(
    snapshot: &Snapshot,
    tally: &Tally,
    containers: &containers::ProcessContainers,
) -> Vec<ProcessGroup> {
    let mut groups: Vec<ProcessGroup> = tally
        .processes
        .iter()
        .zip(&snapshot.processes)
        .enumerate()
        .filter(|(_, (t, _))| t.counts.total() > 0)
        .map(|(index, (t, p))| ProcessGroup {
            pid: p.pid,
            comm: p.comm.clone(),
            counts: t.counts,
            descriptors: p.descriptors,
            fd_limit: p.fd_limit,
            container: containers.most(index),
        })
        .collect();
    groups.sort_by(|a, b| {
        b.total()
            .cmp(&a.total())
            .then(a.pid.cmp(&b.pid))
            .then_with(|| a.comm.cmp(&b.comm))
    });
    groups
}

fn by_listener(snapshot: &Snapshot, tally: &Tally) -> Vec<ListenerGroup> {
    let mut groups: Vec<ListenerGroup> = tally
        .listeners
        .iter()
        .map(|l| {
            let mut owners: Vec<(u32, String)> = l
                .owners
                .iter()
                .filter_map(|&i| snapshot.processes.get(i as usize))
                .map(|p| (p.pid, p.comm.clone()))
                .collect();
            owners.sort();
            ListenerGroup {
                local: l.local,
                sockets: l.sockets,
                accept_queue: l.accept_queue,
                backlog: snapshot.backlog_known().then_some(l.backlog),
                counts: l.counts,
                owners,
            }
        })
        .collect();
    groups.sort_by(|a, b| group::rank((&a.local, a.connections()), (&b.local, b.connections())));
    groups
}
