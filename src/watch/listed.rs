//! A [`RoundSource`] of namespaces given one by one as [`SocketSource`]s: recorded or
//! synthetic snapshots in tests and benches, or one collector polled plainly.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::collect::SocketSource;
use crate::model::{Counters, NetnsLabel};

use super::RoundSource;
use super::collectors::error_line;
use super::round::{NamespaceRound, Round};

/// Namespaces given as sources: one ([`Listed::one`], key 0, as a watcher of one
/// namespace keys it) or several ([`Listed::each`], keys 0, 1, …, a round of every
/// namespace).
#[derive(Debug)]
pub struct Listed<S> {
    /// Each namespace's source, under the name its failures take until a poll names it.
    sources: Vec<(String, S)>,
    every: bool,
}

impl<S: SocketSource> Listed<S> {
    /// One namespace, called `name` until a poll names it.
    pub fn one(source: S, name: impl Into<String>) -> Listed<S> {
        Listed {
            sources: vec![(name.into(), source)],
            every: false,
        }
    }

    /// Several namespaces, keyed by their position.
    pub fn each(sources: impl IntoIterator<Item = S>) -> Listed<S> {
        Listed {
            sources: sources
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("source {i}"), s))
                .collect(),
            every: true,
        }
    }
}

impl<S: SocketSource + Send> RoundSource for Listed<S> {
    fn poll(&mut self, _interval: Duration) -> Round {
        let taken_at = SystemTime::now();
        let mut round = Round::empty(taken_at, self.every);
        for (key, (name, source)) in self.sources.iter_mut().enumerate() {
            let result = source.poll().map_err(error_line);
            if let Ok(snapshot) = &result {
                name.clone_from(&snapshot.netns);
            }
            let label = NetnsLabel {
                name: name.clone(),
                inode: result
                    .as_ref()
                    .ok()
                    .and_then(|s| s.netns_inode)
                    .unwrap_or_default(),
                container: result.as_ref().ok().and_then(|s| s.netns_container.clone()),
            };
            round.dumped += 1;
            round.namespaces.push(NamespaceRound::polled(
                key as u64,
                label,
                result.map(Arc::new),
            ));
        }
        if !self.every {
            round.merged = round.namespaces.first().and_then(|n| n.snapshot.clone());
        }
        round
    }

    fn sample_counters(&mut self) -> Vec<(u64, Counters)> {
        self.sources
            .iter_mut()
            .enumerate()
            .filter_map(|(key, (_, source))| Some((key as u64, source.sample_counters()?)))
            .collect()
    }
}
