//! One namespace (sockscope's own, `--netns NAME` or `--netns-pid PID`): its collector,
//! following its target as the policy says, and the census of the others.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::collect::all_netns::census::Census;
use crate::collect::tiers::{ESTABLISHED_EVERY, TIER_FROM, Tiers};
use crate::collect::{CollectError, CollectOptions, Collector, NetnsId, NetnsTarget, SocketSource};
use crate::model::{Counters, NetnsLabel, Snapshot};

use super::{CENSUS_EVERY, Follow, Policy, error_line};
use crate::watch::round::{NamespaceRound, Round};

/// One namespace watched.
#[derive(Debug)]
pub(super) struct One {
    collector: Collector,
    /// What its failures are called until a poll names it (as `NetnsTarget::label`
    /// prints it), then its name as the poll gave it.
    name: String,
    /// The other namespaces' sockets, counted every [`CENSUS_EVERY`], and when last.
    census: Option<(Census, Option<Instant>)>,
}

impl One {
    /// Open the namespace `options.netns` names, with tiers when the policy says so.
    pub(super) fn open(options: &CollectOptions, policy: Policy) -> Result<One, CollectError> {
        let mut collector = Collector::open(options.clone())?;
        if policy.tiers {
            collector.tier_established(Some(Tiers::new(ESTABLISHED_EVERY, TIER_FROM)));
        }
        // Other namespaces are offered only to root in the host's namespace.
        let census = (policy.census
            && nix::unistd::geteuid().is_root()
            && options.netns == NetnsTarget::Own)
            .then(|| (Census::default(), None));
        Ok(One {
            collector,
            name: options.netns.label(),
            census,
        })
    }

    pub(super) fn options(&self) -> &CollectOptions {
        self.collector.options()
    }

    pub(super) fn fallback_reason(&self) -> Option<&str> {
        self.collector.fallback_reason()
    }

    pub(super) fn label(&self) -> NetnsLabel {
        NetnsLabel {
            name: self.name.clone(),
            inode: self.collector.netns_id().map_or(0, |id| id.inode),
            container: None,
        }
    }

    pub(super) fn sample_counters(&mut self) -> Option<Counters> {
        self.collector.sample_counters()
    }

    pub(super) fn set_tcp_info(&mut self, on: bool) {
        self.collector.set_tcp_info(on);
    }

    /// Open the collector anew where the target leads now; the old one (and with it the
    /// old namespace, when nothing else holds it) goes once the new one is open.
    pub(super) fn follow(&mut self) -> Result<Option<NetnsId>, CollectError> {
        self.collector = self.collector.reopen()?;
        Ok(self.collector.netns_id())
    }

    /// One poll.
    pub(super) fn poll(&mut self, policy: Policy) -> Round {
        let taken_at = SystemTime::now();
        let result = self.dump(policy.follow);
        let drift = match policy.follow {
            Follow::OnRequest => self.collector.netns_drift(),
            Follow::Never | Follow::Auto => None,
        };
        let others = self.census.as_mut().and_then(|(census, counted)| {
            if counted.is_some_and(|at| at.elapsed() < CENSUS_EVERY) {
                return None;
            }
            *counted = Some(Instant::now());
            Some(census.count(&self.collector.options().container_roots))
        });
        if let Ok(snapshot) = &result {
            self.name.clone_from(&snapshot.netns);
        }
        let label = NetnsLabel {
            name: self.name.clone(),
            inode: result
                .as_ref()
                .ok()
                .and_then(|s| s.netns_inode)
                .or_else(|| self.collector.netns_id().map(|id| id.inode))
                .unwrap_or_default(),
            container: result.as_ref().ok().and_then(|s| s.netns_container.clone()),
        };
        let namespace = NamespaceRound::polled(0, label, result);
        Round {
            drift,
            others,
            merged: namespace.fresh_snapshot().cloned(),
            dumped: 1,
            namespaces: vec![NamespaceRound {
                // A failed poll is dated too: the dashboard's age of its data.
                dumped_at: namespace.dumped_at.or(Some(taken_at)),
                ..namespace
            }],
            ..Round::empty(taken_at, false)
        }
    }

    /// The dump, after following the target when the policy follows by itself.
    fn dump(&mut self, follow: Follow) -> Result<Arc<Snapshot>, String> {
        if follow == Follow::Auto
            && let Some(drift) = self.collector.netns_drift()
        {
            if drift.followable().is_none() {
                return Err(format!(
                    "{} leads to no namespace any more (deleted, or its process exited): the last values stay until it is back",
                    drift.target.label()
                ));
            }
            self.collector = self.collector.reopen().map_err(error_line)?;
        }
        let mut snapshot = self.collector.poll_shared().map_err(error_line)?;
        if follow == Follow::Auto && snapshot.netns_inode.is_none() {
            // The namespace entered, or (sockscope's own) the one this process is in: the
            // exporter names it by inode.
            let inode = self
                .collector
                .netns_id()
                .or_else(crate::collect::netns::own)
                .map(|id| id.inode);
            Arc::make_mut(&mut snapshot).netns_inode = inode;
        }
        Ok(snapshot)
    }
}
