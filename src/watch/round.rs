//! One poll of every namespace watched, as the outputs take it in.

use std::sync::Arc;
use std::time::SystemTime;

use crate::collect::NetnsDrift;
use crate::collect::all_netns::census::Others;
use crate::model::{Counters, NetnsLabel, Snapshot};

use crate::aggregate::{Anomaly, Churn, Summary};

/// The connections one namespace closed since the previous round, grouped: every one, and
/// those the judges' filter keeps (when there is one).
#[derive(Clone, Debug)]
pub struct Closes {
    /// Every connection closed, and the span listened to.
    pub whole: Churn,
    /// Those the filter keeps (`None`: no filter).
    pub kept: Option<Churn>,
}

/// What a judge made of one snapshot.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The summary of every socket (of the kept ones with [`Sees::KeptOnly`]): the
    /// aggregator's own, shared, not copied.
    pub summary: Arc<Summary>,
    /// The anomalies raised on the sockets the filter keeps (on every socket without a
    /// filter), most severe first.
    pub anomalies: Vec<Anomaly>,
}

/// What this round did with a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Dumped now: its snapshot is new (its judge took it in).
    Dumped,
    /// Its dump failed now ([`NamespaceRound::error`] says why).
    Failed,
    /// Not dumped now (the dump policy left it for later): its last snapshot stands.
    Kept,
}

/// One namespace in a [`Round`].
#[derive(Clone, Debug)]
pub struct NamespaceRound {
    /// The same from round to round for one namespace: its nsfs inode with every
    /// namespace, 0 for the one namespace of a watcher of one (which stays the key when
    /// its target is followed to another namespace).
    pub key: u64,
    /// Its name, inode and container.
    pub label: NetnsLabel,
    /// Its last snapshot (`None` until a dump succeeds, or when the policy keeps none).
    pub snapshot: Option<Arc<Snapshot>>,
    /// What this round did with it.
    pub freshness: Freshness,
    /// When its data was dumped (the age the dashboard shows).
    pub dumped_at: Option<SystemTime>,
    /// Why its last dump failed, while no later one succeeded.
    pub error: Option<String>,
    /// TCP sockets it destroyed since the watcher subscribed to its destroy events (those
    /// received and those the kernel dropped), and of those the dropped (`None`: no
    /// subscription).
    pub closed: Option<(u64, u64)>,
    /// The connections it closed since the previous round, each attributed as far as the
    /// polls know, grouped (`None`: no subscription).
    pub closes: Option<Arc<Closes>>,
    /// The span its destroy events were listened to for this round, from and to (`None`:
    /// no subscription): `closes` holds every socket destroyed then but the lost ones.
    pub listened: Option<(SystemTime, SystemTime)>,
    /// Its judge's verdict on its last snapshot (`None` before its first, when the
    /// watcher's judges do not judge it, or when `--netns-match` leaves it out).
    pub verdict: Option<Verdict>,
}

impl NamespaceRound {
    /// Namespace `key`, labelled `label`, as one dump left it: its new snapshot, or why
    /// the dump failed.
    pub fn polled(
        key: u64,
        label: NetnsLabel,
        dumped: Result<Arc<Snapshot>, String>,
    ) -> NamespaceRound {
        let (snapshot, freshness, error) = match dumped {
            Ok(snapshot) => (Some(snapshot), Freshness::Dumped, None),
            Err(why) => (None, Freshness::Failed, Some(why)),
        };
        NamespaceRound {
            key,
            label,
            dumped_at: snapshot.as_ref().and_then(|s| s.taken_at),
            snapshot,
            freshness,
            error,
            closed: None,
            closes: None,
            listened: None,
            verdict: None,
        }
    }

    /// The snapshot this round dumped (`None` when it was not dumped now).
    pub fn fresh_snapshot(&self) -> Option<&Arc<Snapshot>> {
        match self.freshness {
            Freshness::Dumped => self.snapshot.as_ref(),
            Freshness::Failed | Freshness::Kept => None,
        }
    }
}

/// One poll of every namespace watched.
#[derive(Clone, Debug)]
pub struct Round {
    /// When the poll started: the namespaces' data ages are measured to it.
    pub taken_at: SystemTime,
    /// Whether every namespace is watched (`-A`), rather than one.
    pub every: bool,
    /// Every namespace watched, sockscope's own first, then by name (with every one).
    pub namespaces: Vec<NamespaceRound>,
    /// Every namespace's latest sockets as one snapshot: the one namespace's own snapshot
    /// when one is watched; with every one, a merge of their last snapshots, `None` when
    /// no namespace's sockets changed (the previous one stands, since merging and taking
    /// in 100,000 sockets again would cost more than the poll), and always `None` when
    /// the policy does not merge.
    pub merged: Option<Arc<Snapshot>>,
    /// Namespaces dumped by this round.
    pub dumped: usize,
    /// Of those, the ones dumped for the first time: a one-off cost, which the dashboard
    /// does not slow its interval for.
    pub new: usize,
    /// Namespaces found but not opened for lack of descriptors.
    pub over_limit: usize,
    /// With one namespace: whether its target (`--netns NAME`, `--netns-pid PID`) leads
    /// elsewhere now (`None`: still to the namespace polled).
    pub drift: Option<NetnsDrift>,
    /// The other namespaces that hold sockets, when they were counted this round (the
    /// dashboard without `-A`, as root in the host's namespace).
    pub others: Option<Others>,
    /// Why the whole round failed (the collector crashed, discovery failed): nothing was
    /// polled.
    pub failure: Option<String>,
    /// Why subscribing to a namespace's destroy events failed this round, if it did (the
    /// counts of the others go on).
    pub events_error: Option<String>,
}

impl Round {
    /// A round that polled nothing, for `why`.
    pub fn failed(why: String) -> Round {
        Round {
            failure: Some(why),
            ..Round::empty(SystemTime::now(), false)
        }
    }

    /// A round taken at `taken_at` with no namespace yet.
    pub fn empty(taken_at: SystemTime, every: bool) -> Round {
        Round {
            taken_at,
            every,
            namespaces: Vec::new(),
            merged: None,
            dumped: 0,
            new: 0,
            over_limit: 0,
            drift: None,
            others: None,
            failure: None,
            events_error: None,
        }
    }

    /// Sockets destroyed and events lost in every namespace subscribed to (`None`: none
    /// is).
    pub fn closed(&self) -> Option<(u64, u64)> {
        self.namespaces
            .iter()
            .filter_map(|n| n.closed)
            .reduce(|(c, l), (c2, l2)| (c + c2, l + l2))
    }

    /// Every namespace's closes of this round (see [`NamespaceRound::closes`]).
    pub fn closes(&self) -> impl Iterator<Item = &Closes> {
        self.namespaces.iter().filter_map(|n| n.closes.as_deref())
    }

    /// The span destroy events were listened to this round, over every namespace
    /// subscribed to (`None`: none is).
    pub fn listened(&self) -> Option<(SystemTime, SystemTime)> {
        self.namespaces
            .iter()
            .filter_map(|n| n.listened)
            .reduce(|(f, t), (f2, t2)| (f.min(f2), t.max(t2)))
    }

    /// Why this round shows nothing new: the whole round's failure, or with one namespace
    /// why its dump failed.
    pub fn failure(&self) -> Option<&str> {
        if let Some(why) = &self.failure {
            return Some(why);
        }
        match self.namespaces.as_slice() {
            [one] if !self.every && one.freshness == Freshness::Failed => one.error.as_deref(),
            _ => None,
        }
    }

    /// The namespace with `key`.
    pub fn namespace(&self, key: u64) -> Option<&NamespaceRound> {
        self.namespaces.iter().find(|n| n.key == key)
    }

    /// Replace the counters of the snapshot dumped now for `key` (the end of a counter
    /// window); with one namespace, the merged snapshot is that snapshot again.
    pub fn set_counters(&mut self, key: u64, counters: Counters) {
        let Some(namespace) = self.namespaces.iter_mut().find(|n| n.key == key) else {
            return;
        };
        if namespace.freshness != Freshness::Dumped {
            return;
        }
        let Some(snapshot) = namespace.snapshot.as_mut() else {
            return;
        };
        if !self.every {
            // The merged snapshot is this one: one copy, not two.
            self.merged = None;
        }
        Arc::make_mut(snapshot).counters = counters;
        if !self.every {
            self.merged = Some(Arc::clone(snapshot));
        }
    }
}
