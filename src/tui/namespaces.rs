//! Every namespace at once in the dashboard (`sockscope -A`): one aggregator per namespace
//! (kernel limits and counters are per namespace, so the rules run per namespace, as in
//! `snapshot -A`), fed only when the collector dumped that namespace; the Namespaces
//! view's rows; and the anomalies of every namespace, each naming its namespace.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aggregate::{Aggregator, Anomaly};
use crate::collect::all_netns::watch::AllPoll;
use crate::config::Config;
use crate::hash::FastMap;
use crate::model::{NetnsLabel, StateCounts};

/// One row of the Namespaces view.
#[derive(Clone, Debug, PartialEq)]
pub struct NamespaceRow {
    /// Its name, inode and container.
    pub label: NetnsLabel,
    /// Its sockets per state, as of its last dump.
    pub counts: StateCounts,
    /// Anomalies raised in it.
    pub anomalies: usize,
    /// When its data was dumped (`None`: never yet).
    pub dumped_at: Option<SystemTime>,
    /// Why its last dump failed, while no later one succeeded.
    pub error: Option<String>,
}

/// What the dashboard shows of every namespace after one poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespacesShown {
    /// One row per namespace, sockscope's own first, then by name.
    pub rows: Vec<NamespaceRow>,
    /// The anomalies of every namespace, most severe first, each naming its namespace.
    pub anomalies: Vec<Anomaly>,
    /// Namespaces found but not watched for lack of descriptors.
    pub over_limit: usize,
    /// Namespaces this poll dumped.
    pub dumped: usize,
    /// When the poll started: the data ages are measured to it.
    pub taken_at: Option<SystemTime>,
}

impl NamespacesShown {
    /// How old the oldest namespace's data is at `now` (`None` without namespaces).
    pub fn oldest(&self, now: SystemTime) -> Option<Duration> {
        self.rows
            .iter()
            .map(|r| {
                r.dumped_at.map_or(Duration::MAX, |at| {
                    now.duration_since(at).unwrap_or_default()
                })
            })
            .max()
    }
}

/// The aggregator of each namespace watched, by inode.
#[derive(Debug, Default)]
pub struct Watched {
    aggregators: FastMap<u64, Aggregator>,
}

impl Watched {
    /// Take in one poll: each namespace it dumped goes to its own aggregator (made from
    /// `config` for a new one; those of vanished namespaces are dropped), and the rows
    /// and anomalies of every namespace are gathered.
    pub fn ingest(&mut self, poll: &AllPoll, config: &Config) -> NamespacesShown {
        self.aggregators
            .retain(|inode, _| poll.namespaces.iter().any(|n| n.label.inode == *inode));
        let mut rows = Vec::with_capacity(poll.namespaces.len());
        let mut anomalies = Vec::new();
        for namespace in &poll.namespaces {
            let inode = namespace.label.inode;
            if namespace.fresh
                && let Some(snapshot) = &namespace.snapshot
            {
                self.aggregators
                    .entry(inode)
                    .or_insert_with(|| namespace_aggregator(config))
                    .ingest(snapshot);
            }
            let raised = self
                .aggregators
                .get(&inode)
                .map_or(&[][..], |a| a.summary().anomalies.as_slice());
            anomalies.extend(raised.iter().map(|a| Anomaly {
                netns: Some(namespace.label.name.clone()),
                ..a.clone()
            }));
            rows.push(NamespaceRow {
                label: namespace.label.clone(),
                counts: namespace
                    .snapshot
                    .as_ref()
                    .map(|s| s.state_counts())
                    .unwrap_or_default(),
                anomalies: raised.len(),
                dumped_at: namespace.dumped_at,
                error: namespace.error.clone(),
            });
        }
        // Most severe first; namespace order within a severity.
        anomalies.sort_by_key(|a| std::cmp::Reverse(a.severity));
        NamespacesShown {
            rows,
            anomalies,
            over_limit: poll.over_limit,
            dumped: poll.dumped,
            taken_at: Some(poll.taken_at),
        }
    }
}

/// A namespace's aggregator: the rules of `config` and the shortest history (no view draws
/// a namespace's sparklines; 200 histories of ten minutes would hold 29 MB). It keeps its
/// sockets' ages, as the one-namespace dashboard does, so that a CLOSE_WAIT or FIN_WAIT2
/// anomaly says how old its oldest socket is: 16 bytes a socket beside the dashboard's own
/// map of every socket.
fn namespace_aggregator(config: &Config) -> Aggregator {
    let interval = config.general.interval;
    config.aggregator().with_history(interval, interval)
}

/// The shared form the screen keeps.
pub type SharedNamespaces = Arc<NamespacesShown>;
