//! The rules, run per namespace: kernel limits and counters are per namespace, so each
//! namespace watched has its own aggregator ([`Judge`]), and a twin over the sockets the
//! filter keeps when one is given. [`Judges`] keeps them by namespace key.

use std::time::Duration;

use crate::aggregate::{Aggregator, Anomaly};
use crate::config::Config;
use crate::filter::Filter;
use crate::hash::FastMap;
use crate::model::{Counters, Snapshot};

use super::round::{Closes, Round, Verdict};

/// What the rules see when a filter is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sees {
    /// Every socket, and a twin over the sockets the filter keeps (the dashboard's groupings,
    /// the exporter's anomalies).
    Both,
    /// Only the sockets the filter keeps (`check`): no aggregator over every socket.
    KeptOnly,
}

/// How each namespace's aggregator is made.
#[derive(Clone, Debug)]
pub struct JudgeSpec {
    config: Config,
    history: Option<(Duration, Duration)>,
    ages: bool,
    filter: Filter,
    sees: Sees,
}

impl JudgeSpec {
    /// The rules, thresholds and history of `config`, keeping socket ages, no filter.
    pub fn new(config: Config) -> JudgeSpec {
        JudgeSpec {
            config,
            history: None,
            ages: true,
            filter: Filter::default(),
            sees: Sees::Both,
        }
    }

    /// A history `span` long for polls every `interval` instead of the config's.
    #[must_use]
    pub fn with_history(mut self, span: Duration, interval: Duration) -> JudgeSpec {
        self.history = Some((span, interval));
        self
    }

    /// No socket identities (first seen, in state since): an output that shows no
    /// socket's age spares a map update per socket per poll (24 MB at a million).
    #[must_use]
    pub fn without_ages(mut self) -> JudgeSpec {
        self.ages = false;
        self
    }

    /// Narrow by `filter`: its `--netns-match` names leave the other namespaces unjudged,
    /// and the rest of it narrows the sockets as `sees` says.
    #[must_use]
    pub fn narrowed_by(mut self, filter: Filter, sees: Sees) -> JudgeSpec {
        self.filter = filter;
        self.sees = sees;
        self
    }

    /// The filter.
    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A new aggregator as this spec says.
    pub fn aggregator(&self) -> Aggregator {
        let mut aggregator = self.config.aggregator();
        if let Some((span, interval)) = self.history {
            aggregator = aggregator.with_history(span, interval);
        }
        if self.ages {
            aggregator
        } else {
            aggregator.without_ages()
        }
    }

    /// Whether `snapshot` is of a namespace the filter's `--netns-match` names (or it
    /// names none).
    pub fn judges_namespace(&self, snapshot: &Snapshot) -> bool {
        self.filter.netns.is_empty() || self.filter.netns.iter().any(|n| n.matches(snapshot))
    }

    /// Whether the sockets are narrowed (a filter that is not empty).
    fn narrows(&self) -> bool {
        !self.filter.is_empty()
    }
}

/// One namespace's aggregator, and its twin over the sockets the filter keeps.
// One judge a namespace, made once: the twins' second aggregator inline costs nothing
// worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Judge {
    /// No filter: one aggregator over every socket.
    Whole(Aggregator),
    /// A filter, [`Sees::Both`]: every socket, and the kept ones.
    Twins {
        /// Over every socket.
        whole: Aggregator,
        /// Over the sockets the filter keeps.
        narrowed: Aggregator,
    },
    /// A filter, [`Sees::KeptOnly`]: only the kept sockets.
    KeptOnly(Aggregator),
}

impl Judge {
    /// A judge as `spec` says.
    pub fn new(spec: &JudgeSpec) -> Judge {
        match (spec.narrows(), spec.sees) {
            (false, _) => Judge::Whole(spec.aggregator()),
            (true, Sees::Both) => Judge::Twins {
                whole: spec.aggregator(),
                narrowed: spec.aggregator(),
            },
            (true, Sees::KeptOnly) => Judge::KeptOnly(spec.aggregator()),
        }
    }

    /// The counters read before a one-shot dump: the rises of counter rules start there.
    pub fn counter_baseline(&mut self, counters: Counters) {
        match self {
            Judge::Whole(one) | Judge::KeptOnly(one) => one.counter_baseline(counters),
            Judge::Twins { whole, narrowed } => {
                narrowed.counter_baseline(counters.clone());
                whole.counter_baseline(counters);
            }
        }
    }

    /// Take in the connections the namespace closed, grouped (see [`Closes`]).
    pub fn take_closes(&mut self, closes: &Closes) {
        match self {
            Judge::Whole(whole) => whole.take_closes(&closes.whole),
            Judge::KeptOnly(narrowed) => {
                narrowed.take_closes(closes.kept.as_ref().unwrap_or(&closes.whole));
            }
            Judge::Twins { whole, narrowed } => {
                whole.take_closes(&closes.whole);
                narrowed.take_closes(closes.kept.as_ref().unwrap_or(&closes.whole));
            }
        }
    }

    /// Take in `snapshot` (narrowed by `filter` where the judge narrows).
    pub fn ingest(&mut self, snapshot: &Snapshot, filter: &Filter) {
        match self {
            Judge::Whole(whole) => {
                whole.ingest(snapshot);
            }
            Judge::KeptOnly(narrowed) => {
                narrowed.ingest(&filter.narrow(snapshot));
            }
            Judge::Twins { whole, narrowed } => {
                narrowed.ingest(&filter.narrow(snapshot));
                whole.ingest(snapshot);
            }
        }
    }

    /// The aggregator over every socket (the kept ones with [`Sees::KeptOnly`]).
    pub fn whole(&self) -> &Aggregator {
        match self {
            Judge::Whole(whole) | Judge::KeptOnly(whole) | Judge::Twins { whole, .. } => whole,
        }
    }

    /// The aggregator over the sockets the filter keeps (`None` without a filter).
    pub fn narrowed(&self) -> Option<&Aggregator> {
        match self {
            Judge::Whole(_) => None,
            Judge::KeptOnly(narrowed) | Judge::Twins { narrowed, .. } => Some(narrowed),
        }
    }

    /// The anomalies raised on the sockets the filter keeps, or on every socket without a
    /// filter.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.narrowed().unwrap_or(self.whole()).summary().anomalies
    }

    /// The verdict on the last snapshot taken in.
    pub fn verdict(&self) -> Verdict {
        Verdict {
            summary: self.whole().shared_summary(),
            anomalies: self.anomalies().to_vec(),
        }
    }
}

/// Which rounds [`Judges::take`] judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judging {
    /// Every round.
    Always,
    /// Only rounds of every namespace: with one, the dashboard's own aggregator judges it.
    EveryNamespaceOnly,
    /// None (a watcher whose consumer judges, or that judges nothing).
    Never,
}

/// One judge per namespace, by key.
#[derive(Debug)]
pub struct Judges {
    spec: JudgeSpec,
    by_key: FastMap<u64, Judge>,
    judging: Judging,
}

impl Judges {
    /// Judges made as `spec` says.
    pub fn new(spec: JudgeSpec) -> Judges {
        Judges {
            spec,
            by_key: FastMap::default(),
            judging: Judging::Always,
        }
    }

    /// Judges that judge only rounds of every namespace (the dashboard: with one
    /// namespace, the screen's own aggregator judges it).
    pub fn every_only(spec: JudgeSpec) -> Judges {
        Judges {
            judging: Judging::EveryNamespaceOnly,
            ..Judges::new(spec)
        }
    }

    /// The spec each judge is made from.
    pub fn spec(&self) -> &JudgeSpec {
        &self.spec
    }

    /// The judge of `key`, made now if there is none.
    pub fn entry(&mut self, key: u64) -> &mut Judge {
        let spec = &self.spec;
        self.by_key.entry(key).or_insert_with(|| Judge::new(spec))
    }

    /// The judge of `key`.
    pub fn get(&self, key: u64) -> Option<&Judge> {
        self.by_key.get(&key)
    }

    /// Judge `snapshot` as namespace `key`'s latest (`None`: the filter's
    /// `--netns-match` leaves its namespace out).
    pub fn judge(&mut self, key: u64, snapshot: &Snapshot) -> Option<Verdict> {
        if !self.spec.judges_namespace(snapshot) {
            self.by_key.remove(&key);
            return None;
        }
        let filter = &self.spec.filter;
        let spec = &self.spec;
        let judge = self.by_key.entry(key).or_insert_with(|| Judge::new(spec));
        judge.ingest(snapshot, filter);
        Some(judge.verdict())
    }

    /// Judge every namespace `round` dumped, into its verdict; let go of the judges of
    /// namespaces no longer watched (unless the round polled nothing at all: then every
    /// judge stays, as the last good values do).
    pub fn take(&mut self, round: &mut Round) {
        match self.judging {
            Judging::Always => {}
            Judging::EveryNamespaceOnly if round.every => {}
            Judging::EveryNamespaceOnly | Judging::Never => return,
        }
        if !round.namespaces.is_empty() {
            self.by_key
                .retain(|key, _| round.namespaces.iter().any(|n| n.key == *key));
        }
        self.take_closes(round);
        for namespace in &mut round.namespaces {
            namespace.verdict = match namespace.fresh_snapshot().cloned() {
                Some(snapshot) => self.judge(namespace.key, &snapshot),
                // Not dumped now: its judge's verdict on its last snapshot stands.
                None => self.get(namespace.key).map(Judge::verdict),
            };
        }
    }

    /// Hand each judge the connections its namespace closed this round (the namespaces the
    /// filter's `--netns-match` leaves out are left out here too): the next judgement
    /// takes them in.
    pub fn take_closes(&mut self, round: &Round) {
        for namespace in &round.namespaces {
            let Some(closes) = &namespace.closes else {
                continue;
            };
            if !namespace
                .snapshot
                .as_deref()
                .is_some_and(|s| self.spec.judges_namespace(s))
            {
                continue;
            }
            let spec = &self.spec;
            self.by_key
                .entry(namespace.key)
                .or_insert_with(|| Judge::new(spec))
                .take_closes(closes);
        }
    }

    /// Judges that judge nothing: the consumer judges (the dashboard with one namespace
    /// before `A`).
    pub fn off() -> Judges {
        Judges {
            judging: Judging::Never,
            ..Judges::new(JudgeSpec::new(Config::default()))
        }
    }
}
