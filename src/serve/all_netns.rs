//! `sockscope serve -A`: every network namespace of the host, found again every
//! [`REDISCOVER_EVERY`] so that a container started after the exporter gets exported and
//! one that is gone leaves the exposition (an open collector would keep its namespace
//! alive, and its last sockets on show, for as long as the exporter runs).

use std::time::{Duration, Instant};

use crate::collect::all_netns::{AllNetns, DESCRIPTORS_PER_NAMESPACE, EachSource};
use crate::collect::{CollectError, CollectOptions};

use super::poller::{Namespaces, Polled, error_line};

/// How often the namespaces are discovered again.
pub const REDISCOVER_EVERY: Duration = Duration::from_secs(60);

/// Every namespace, each polled by its own collector (one /proc walk for all), the set
/// renewed every [`REDISCOVER_EVERY`]. A namespace keeps its key (nsfs inode), and with it
/// its aggregator and anomalies, across renewals.
#[derive(Debug)]
pub struct EveryNamespace {
    options: CollectOptions,
    /// `None` after a renewal failed; the next poll tries again.
    all: Option<AllNetns>,
    opened: Instant,
    every: Duration,
}

impl EveryNamespace {
    /// Discover and open every namespace with `options`; the host's must open.
    pub fn open(options: CollectOptions) -> Result<EveryNamespace, CollectError> {
        let mut every = EveryNamespace {
            options,
            all: None,
            opened: Instant::now(),
            every: REDISCOVER_EVERY,
        };
        every.renew()?;
        Ok(every)
    }

    /// The namespaces open now.
    pub fn all(&self) -> Option<&AllNetns> {
        self.all.as_ref()
    }

    /// Discover again (the old collectors close first: a host near its descriptor limit
    /// holds one set, not two).
    fn renew(&mut self) -> Result<(), CollectError> {
        self.all = None;
        self.opened = Instant::now();
        let all = AllNetns::open(&self.options)?;
        if all.over_limit() > 0 {
            crate::stderr_line!(
                "sockscope: the open-file limit leaves room for {} namespaces ({DESCRIPTORS_PER_NAMESPACE} descriptors each): skipped {} more; raise it (LimitNOFILE=, `ulimit -n`) to see them",
                all.len(),
                all.over_limit()
            );
        }
        self.all = Some(all);
        Ok(())
    }
}

impl Namespaces for EveryNamespace {
    fn poll_all(&mut self) -> Vec<Polled> {
        if (self.all.is_none() || self.opened.elapsed() >= self.every)
            && let Err(e) = self.renew()
        {
            return vec![Polled {
                key: u64::MAX,
                name: "every namespace (discovery)".to_owned(),
                result: Err(error_line(e)),
            }];
        }
        let Some(all) = self.all.as_mut() else {
            return Vec::new();
        };
        let keys: Vec<(u64, String)> = all
            .members()
            .iter()
            .map(|m| (m.namespace.id.inode, m.namespace.name.clone()))
            .collect();
        all.poll_each()
            .into_iter()
            .zip(keys)
            .map(|(result, (key, name))| Polled {
                key,
                name,
                result: result.map_err(error_line),
            })
            .collect()
    }
}
