//! The real [`RoundSource`]: the collectors of one namespace or of every one, polled as a
//! [`Policy`] says.

mod every;
mod one;

use std::time::Duration;

use crate::collect::{CollectError, CollectOptions, NetnsId};
use crate::model::{Counters, NetnsLabel};

use super::RoundSource;
use super::round::Round;

/// What to do when the target of one namespace (`--netns NAME`, `--netns-pid PID`) comes
/// to lead to another namespace (deleted and made again, a container restarted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Nothing: one dump, nothing to follow (`snapshot`, `check`).
    Never,
    /// Follow it before the next poll by itself (`serve`: an exporter runs for months);
    /// while it leads nowhere the poll fails with the reason.
    Auto,
    /// Report it in each round ([`Round::drift`]) and follow when asked
    /// ([`RoundSource::follow`]: the dashboard's `F`).
    OnRequest,
}

/// Which namespaces a round of every namespace dumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dumps {
    /// Every one, every round.
    All,
    /// New ones, moved ones and stale ones within a share of the interval's CPU
    /// ([`Schedule`](super::schedule::Schedule)); the others keep their last snapshot.
    Budgeted,
}

/// How the namespaces are polled: each mode's policy is one of the constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Following a target that leads elsewhere.
    pub follow: Follow,
    /// Which namespaces a round of every namespace dumps.
    pub dumps: Dumps,
    /// How often every namespace is discovered again (zero: at every round).
    pub rediscover_every: Duration,
    /// Keep each namespace's last snapshot and merge them into one view.
    pub merge: bool,
    /// Re-read one namespace's ESTABLISHED sockets less often at scale
    /// ([`Tiers`](crate::collect::tiers::Tiers)).
    pub tiers: bool,
    /// With one namespace (sockscope's own, as root): count the other namespaces' sockets
    /// every [`CENSUS_EVERY`] for the header's `press A`.
    pub census: bool,
}

/// How often the other namespaces' sockets are counted again ([`Policy::census`]).
pub const CENSUS_EVERY: Duration = Duration::from_secs(5);

/// How often `serve` discovers every namespace again: a container started after the
/// exporter gets exported, and one that is gone leaves the exposition (an open collector
/// would keep its namespace alive, and its last sockets on show).
pub const REDISCOVER_EVERY: Duration = Duration::from_secs(60);

impl Policy {
    /// The dashboard: follow on `F`, dump within the budget, discover at every round,
    /// merge, tiers, census.
    pub fn dashboard() -> Policy {
        Policy {
            follow: Follow::OnRequest,
            dumps: Dumps::Budgeted,
            rediscover_every: Duration::ZERO,
            merge: true,
            tiers: true,
            census: true,
        }
    }

    /// The exporter: follow by itself, dump everything, discover every
    /// [`REDISCOVER_EVERY`], keep no snapshot.
    pub fn exporter() -> Policy {
        Policy {
            follow: Follow::Auto,
            dumps: Dumps::All,
            rediscover_every: REDISCOVER_EVERY,
            merge: false,
            tiers: false,
            census: false,
        }
    }

    /// `events`: the polls only tell who holds the sockets and since when; follow nothing
    /// (the subscription to destroy events stays with the namespace it opened), dump every
    /// namespace's moved sockets within the budget, tiers, no merge.
    pub fn events() -> Policy {
        Policy {
            follow: Follow::Never,
            dumps: Dumps::Budgeted,
            rediscover_every: Duration::ZERO,
            merge: false,
            tiers: true,
            census: false,
        }
    }

    /// `snapshot` and `check`: one dump of everything.
    pub fn one_shot() -> Policy {
        Policy {
            follow: Follow::Never,
            dumps: Dumps::All,
            rediscover_every: Duration::MAX,
            merge: false,
            tiers: false,
            census: false,
        }
    }
}

/// One namespace's collector, or every namespace's.
#[derive(Debug)]
enum Scope {
    One(Box<one::One>),
    Every(Box<every::Every>),
}

/// The collectors of the namespaces watched.
#[derive(Debug)]
pub struct Collectors {
    scope: Scope,
    policy: Policy,
}

impl Collectors {
    /// Open the namespace `options.netns` names, or with `every` every namespace of the
    /// host (root only; the host's must open, the others that cannot are skipped).
    pub fn open(
        options: &CollectOptions,
        every: bool,
        policy: Policy,
    ) -> Result<Collectors, CollectError> {
        let scope = if every {
            Scope::Every(Box::new(every::Every::open(options)?))
        } else {
            Scope::One(Box::new(one::One::open(options, policy)?))
        };
        Ok(Collectors { scope, policy })
    }

    /// Why the one namespace is read from /proc/net/tcp instead of sock_diag, if it is.
    pub fn fallback_reason(&self) -> Option<&str> {
        match &self.scope {
            Scope::One(one) => one.fallback_reason(),
            Scope::Every(_) => None,
        }
    }

    /// Whether every namespace is watched.
    pub fn is_every(&self) -> bool {
        matches!(self.scope, Scope::Every(_))
    }

    /// The namespaces watched now (with one, before its first poll, its label is the
    /// target's words and inode 0).
    pub fn labels(&self) -> Vec<NetnsLabel> {
        match &self.scope {
            Scope::One(one) => vec![one.label()],
            Scope::Every(every) => every.labels(),
        }
    }

    /// Namespaces found but not opened for lack of descriptors.
    pub fn over_limit(&self) -> usize {
        match &self.scope {
            Scope::One(_) => 0,
            Scope::Every(every) => every.over_limit(),
        }
    }
}

impl RoundSource for Collectors {
    fn poll(&mut self, interval: Duration) -> Round {
        match &mut self.scope {
            Scope::One(one) => one.poll(self.policy),
            Scope::Every(every) => every.poll(interval, self.policy),
        }
    }

    fn sample_counters(&mut self) -> Vec<(u64, Counters)> {
        match &mut self.scope {
            Scope::One(one) => one.sample_counters().map(|c| (0, c)).into_iter().collect(),
            Scope::Every(every) => every.sample_counters(),
        }
    }

    fn set_tcp_info(&mut self, focus: Option<u64>) {
        match &mut self.scope {
            Scope::One(one) => one.set_tcp_info(focus.is_some()),
            Scope::Every(every) => every.set_tcp_info(focus),
        }
    }

    fn follow(&mut self) -> Result<Option<NetnsId>, String> {
        match &mut self.scope {
            Scope::One(one) => one.follow().map_err(error_line),
            Scope::Every(_) => Err("every namespace is watched: nothing to follow".to_owned()),
        }
    }

    fn watch_every(&mut self) -> Result<(), String> {
        let Scope::One(one) = &self.scope else {
            return Ok(());
        };
        let every = every::Every::open(one.options()).map_err(error_line)?;
        self.scope = Scope::Every(Box::new(every));
        Ok(())
    }
}

/// A collector's error as one line, its causes after colons.
pub fn error_line(e: CollectError) -> String {
    format!("{:#}", anyhow::Error::from(e))
}
