//! Every namespace of the host (`-A`): discovered again as the policy says (one that
//! appeared is opened, one that vanished is let go), each one's cheap readings read, the
//! [`Schedule`] choosing which to dump within the round's CPU budget (or every one), the
//! chosen dumped with one shared /proc walk, and each namespace's last snapshot kept for
//! the merged view when the policy merges.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::collect::all_netns::{AllNetns, EachSource as _};
use crate::collect::{CollectError, CollectOptions};
use crate::hash::FastMap;
use crate::model::{Counters, NetnsLabel, Snapshot};
use crate::watch::merge::{merge, same_sockets};
use crate::watch::round::{Freshness, NamespaceRound, Round};
use crate::watch::schedule::{DUMP_SHARE, Reading, Reason, Schedule};

use super::{Dumps, Policy, error_line};

/// What a round did with a namespace, and its new snapshot (`None`: not dumped).
type Fresh = Option<(Freshness, Option<Arc<Snapshot>>)>;

/// What is kept of a namespace between rounds.
#[derive(Debug, Default)]
struct LastDump {
    /// Its last snapshot (only when the policy merges).
    snapshot: Option<Arc<Snapshot>>,
    dumped_at: Option<SystemTime>,
    error: Option<String>,
}

/// Every namespace watched, and what was last seen of each.
#[derive(Debug)]
pub(super) struct Every {
    options: CollectOptions,
    /// `None` after a discovery failed; the next round tries again.
    all: Option<AllNetns>,
    discovered: Instant,
    schedule: Schedule,
    last: FastMap<u64, LastDump>,
    /// Whether a merged snapshot was made yet (the first round always makes one).
    merged_once: bool,
    /// The namespace whose sockets carry `tcp_info` (a detail pane shows one of them): it
    /// is dumped at every round.
    focus: Option<u64>,
}

impl Every {
    /// Discover and open every namespace (see [`AllNetns::open`]).
    pub(super) fn open(options: &CollectOptions) -> Result<Every, CollectError> {
        Ok(Every {
            options: options.clone(),
            all: Some(AllNetns::open(options)?),
            discovered: Instant::now(),
            schedule: Schedule::default(),
            last: FastMap::default(),
            merged_once: false,
            focus: None,
        })
    }

    pub(super) fn labels(&self) -> Vec<NetnsLabel> {
        self.all.as_ref().map_or_else(Vec::new, |all| {
            all.members().iter().map(|m| m.namespace.label()).collect()
        })
    }

    pub(super) fn over_limit(&self) -> usize {
        self.all.as_ref().map_or(0, AllNetns::over_limit)
    }

    pub(super) fn sample_counters(&mut self) -> Vec<(u64, Counters)> {
        let Some(all) = self.all.as_mut() else {
            return Vec::new();
        };
        let keys: Vec<u64> = all.members().iter().map(|m| m.namespace.id.inode).collect();
        keys.into_iter()
            .enumerate()
            .filter_map(|(i, key)| Some((key, all.sample_counters_of(i)?)))
            .collect()
    }

    pub(super) fn set_tcp_info(&mut self, focus: Option<u64>) {
        self.focus = focus;
        if let Some(all) = self.all.as_mut() {
            all.set_tcp_info(|inode| Some(inode) == focus);
        }
    }

    /// Discover again when the policy says it is time (or after a failed discovery).
    fn rediscover(&mut self, policy: Policy) -> Result<&mut AllNetns, String> {
        let due = self.discovered.elapsed() >= policy.rediscover_every;
        match &mut self.all {
            Some(all) if due => {
                self.discovered = Instant::now();
                // Only the first discovery can fail (sockscope's own namespace): it was made.
                let _ = all.rediscover();
            }
            Some(_) => {}
            None => {
                self.discovered = Instant::now();
                let all = AllNetns::open(&self.options).map_err(error_line)?;
                self.all = Some(all);
            }
        }
        if let (Some(all), Some(focus)) = (self.all.as_mut(), self.focus) {
            // A namespace that appeared starts without tcp_info.
            all.set_tcp_info(|inode| inode == focus);
        }
        self.all
            .as_mut()
            .ok_or_else(|| "no namespace opened".to_owned())
    }

    /// Which namespaces (positions in `present`) this round dumps, and why; with a
    /// budgeted policy, the readings the choice was made on.
    fn choose(
        &self,
        present: &[u64],
        started: Instant,
        interval: Duration,
        policy: Policy,
    ) -> (Vec<(usize, Reason)>, Option<Vec<Reading>>) {
        let Some(all) = self.all.as_ref() else {
            return (Vec::new(), None);
        };
        match policy.dumps {
            Dumps::All => {
                let chosen: Vec<(usize, Reason)> = present
                    .iter()
                    .enumerate()
                    .map(|(i, inode)| {
                        let reason = if self.last.contains_key(inode) {
                            Reason::Moved
                        } else {
                            Reason::New
                        };
                        (i, reason)
                    })
                    .collect();
                (chosen, None)
            }
            Dumps::Budgeted => {
                let readings: Vec<Reading> = all
                    .signals()
                    .into_iter()
                    .zip(present)
                    .map(|(signal, &inode)| Reading { inode, signal })
                    .collect();
                let mut chosen =
                    self.schedule
                        .choose(&readings, started, interval.mul_f64(DUMP_SHARE));
                if let Some(focus) = self
                    .focus
                    .and_then(|f| present.iter().position(|&i| i == f))
                    && !chosen.iter().any(|(i, _)| *i == focus)
                {
                    chosen.push((focus, Reason::Moved));
                }
                (chosen, Some(readings))
            }
        }
    }

    /// Keep what this round's dumps brought (`results`, of the namespaces at `positions`
    /// in `present`), each namespace's freshness into `fresh`; returns whether the merged
    /// view changed.
    fn take_dumps(
        &mut self,
        present: &[u64],
        positions: &[usize],
        results: Vec<Result<Snapshot, CollectError>>,
        policy: Policy,
        fresh: &mut [Fresh],
    ) -> bool {
        let now = SystemTime::now();
        let mut changed = false;
        for (&position, result) in positions.iter().zip(results) {
            let last = self.last.entry(present[position]).or_default();
            match result {
                Ok(snapshot) => {
                    if policy.merge {
                        changed |= last
                            .snapshot
                            .as_deref()
                            .map_or(!snapshot.sockets.is_empty(), |old| {
                                !same_sockets(old, &snapshot)
                            });
                    }
                    // A detail pane shows this namespace's tcp_info: the merge carries
                    // the new readings even when no socket changed.
                    changed |= policy.merge && self.focus == Some(present[position]);
                    last.dumped_at = snapshot.taken_at.or(Some(now));
                    last.error = None;
                    let snapshot = Arc::new(snapshot);
                    last.snapshot = policy.merge.then(|| Arc::clone(&snapshot));
                    fresh[position] = Some((Freshness::Dumped, Some(snapshot)));
                }
                Err(e) => {
                    last.error = Some(error_line(e));
                    fresh[position] = Some((Freshness::Failed, None));
                }
            }
        }
        changed
    }

    /// One round.
    pub(super) fn poll(&mut self, interval: Duration, policy: Policy) -> Round {
        let taken_at = SystemTime::now();
        if let Err(why) = self.rediscover(policy) {
            self.all = None;
            return Round {
                failure: Some(format!("every namespace (discovery): {why}")),
                ..Round::empty(taken_at, true)
            };
        }
        let Some(all) = self.all.as_mut() else {
            return Round::empty(taken_at, true);
        };
        let present: Vec<u64> = all.members().iter().map(|m| m.namespace.id.inode).collect();
        self.schedule.retain(&present);
        // A namespace that vanished with sockets changes the merge.
        let mut changed = self.last.iter().any(|(inode, k)| {
            !present.contains(inode) && k.snapshot.as_ref().is_some_and(|s| !s.sockets.is_empty())
        });
        self.last.retain(|inode, _| present.contains(inode));

        let started = Instant::now();
        let (chosen, readings) = self.choose(&present, started, interval, policy);
        let Some(all) = self.all.as_mut() else {
            return Round::empty(taken_at, true);
        };
        let positions: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        let mut fresh: Vec<Fresh> = vec![None; present.len()];
        let cpu = cpu_time();
        let results = if positions.len() == all.count() {
            all.poll_each()
        } else {
            all.poll_some(&positions)
        };
        if let Some(readings) = &readings {
            if chosen.iter().any(|(_, r)| *r == Reason::Stale) {
                self.schedule.stale_round_at(started);
            }
            // What the dumps cost in all (the walk of /proc and the cgroups included): new
            // namespaces' dumps cost what the others' do, so they are measured too.
            self.schedule
                .measured(chosen.len(), cpu_time().saturating_sub(cpu));
            for &position in &positions {
                let reading = &readings[position];
                self.schedule
                    .dumped(reading.inode, reading.signal.clone(), started);
            }
        }

        changed |= self.take_dumps(&present, &positions, results, policy, &mut fresh);
        let Some(all) = self.all.as_ref() else {
            return Round::empty(taken_at, true);
        };
        let namespaces: Vec<NamespaceRound> = all
            .members()
            .iter()
            .zip(fresh)
            .map(|(member, fresh)| {
                let key = member.namespace.id.inode;
                let last = self.last.get(&key);
                let (freshness, snapshot) = fresh
                    .unwrap_or_else(|| (Freshness::Kept, last.and_then(|l| l.snapshot.clone())));
                let snapshot = match freshness {
                    // A failed dump leaves the last good snapshot on show.
                    Freshness::Failed => last.and_then(|l| l.snapshot.clone()),
                    Freshness::Dumped | Freshness::Kept => snapshot,
                };
                NamespaceRound {
                    key,
                    label: member.namespace.label(),
                    snapshot,
                    freshness,
                    dumped_at: last.and_then(|l| l.dumped_at),
                    error: last.and_then(|l| l.error.clone()),
                    closed: None,
                    closes: None,
                    listened: None,
                    verdict: None,
                }
            })
            .collect();
        let merged = (policy.merge && (changed || !self.merged_once)).then(|| {
            self.merged_once = true;
            let mut merged = merge(&namespaces);
            merged.taken_at = Some(taken_at);
            Arc::new(merged)
        });
        Round {
            merged,
            dumped: chosen.len(),
            new: chosen.iter().filter(|(_, r)| *r == Reason::New).count(),
            over_limit: all.over_limit(),
            namespaces,
            ..Round::empty(taken_at, true)
        }
    }
}

/// CPU time this process has used (user and system), all threads.
fn cpu_time() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_SELF).map_or(Duration::ZERO, |u| {
        let t = |tv: nix::sys::time::TimeVal| {
            Duration::new(
                tv.tv_sec().max(0) as u64,
                (tv.tv_usec().max(0) as u32) * 1000,
            )
        };
        t(u.user_time()) + t(u.system_time())
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::collect::CollectOptions;
    use crate::collect::testutil::{TestNetns, in_child, require_root};
    use crate::watch::collectors::{Collectors, Policy};
    use crate::watch::{Freshness, Round, RoundSource as _};

    fn names(poll: &Round) -> Vec<&str> {
        poll.namespaces
            .iter()
            .map(|n| n.label.name.as_str())
            .collect()
    }

    #[test]
    fn a_namespace_that_appears_is_dumped_at_the_next_poll_and_one_that_vanishes_leaves_quietly() {
        if !require_root(
            "a_namespace_that_appears_is_dumped_at_the_next_poll_and_one_that_vanishes_leaves_quietly",
        ) {
            return;
        }
        // Opening every namespace raises the soft open-file limit and budgets descriptors
        // by what the whole process holds: in a child, what other tests hold is not counted.
        in_child(|| {
            let options = CollectOptions {
                processes: false,
                ..CollectOptions::default()
            };
            let first = TestNetns::new("appear");
            let mut watch = Collectors::open(&options, true, Policy::dashboard()).unwrap();
            // A second between polls: a budget of 100 ms of dumps.
            let interval = Duration::from_secs(1);
            let poll = watch.poll(interval);
            assert!(names(&poll).contains(&first.name()), "{:?}", names(&poll));
            assert_eq!(
                poll.new,
                poll.namespaces.len(),
                "the first poll dumps every one"
            );

            let second = TestNetns::new("appear");
            second.exec(&["ip", "link", "set", "lo", "up"]);
            let poll = watch.poll(interval);
            let state = poll
                .namespaces
                .iter()
                .find(|n| n.label.name == second.name())
                .expect("the new namespace is watched at the next poll");
            assert!(
                state.freshness == Freshness::Dumped && state.error.is_none(),
                "{state:?}"
            );
            assert_eq!(state.snapshot.as_ref().map(|s| s.sockets.len()), Some(0));
            // Other tests' namespaces may come and go meanwhile: this one is among the new.
            assert!(poll.new >= 1, "{}", poll.new);

            let gone = first.name().to_owned();
            drop(first);
            let poll = watch.poll(interval);
            assert!(!names(&poll).contains(&gone.as_str()), "{:?}", names(&poll));
            assert!(names(&poll).contains(&second.name()));
            let second_state = poll
                .namespaces
                .iter()
                .find(|n| n.label.name == second.name());
            assert!(second_state.is_some_and(|n| n.error.is_none()));
        });
    }

    #[test]
    fn the_namespace_a_detail_pane_focuses_on_carries_tcp_info_into_the_merged_view() {
        use crate::model::{Snapshot, Socket, TcpState};
        use std::net::{TcpListener, TcpStream};

        if !require_root(
            "the_namespace_a_detail_pane_focuses_on_carries_tcp_info_into_the_merged_view",
        ) {
            return;
        }
        in_child(|| {
            let lab = TestNetns::new("focus");
            lab.exec(&["ip", "link", "set", "lo", "up"]);
            let _held = lab.enter(|| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let port = listener.local_addr().unwrap().port();
                let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let (server, _) = listener.accept().unwrap();
                (listener, client, server)
            });
            // As the dashboard opens it: tcp_info only while a detail pane shows it.
            let options = CollectOptions {
                processes: false,
                tcp_info: false,
                ..CollectOptions::default()
            };
            let mut watch = Collectors::open(&options, true, Policy::dashboard()).unwrap();
            let interval = Duration::from_secs(1);
            let first = watch.poll(interval);
            let key = first
                .namespaces
                .iter()
                .find(|n| n.label.name == lab.name())
                .expect("the lab's namespace is watched")
                .key;
            let in_lab = |merged: &Snapshot, s: &Socket| {
                merged.namespaces.of(s.cookie).map(|l| l.inode) == Some(key)
            };
            let established = |merged: &Snapshot| -> Vec<Socket> {
                merged
                    .sockets
                    .iter()
                    .filter(|s| s.state == TcpState::Established && in_lab(merged, s))
                    .copied()
                    .collect()
            };
            let merged = first.merged.expect("the first round merges");
            assert_eq!(established(&merged).len(), 2);
            assert!(
                established(&merged)
                    .iter()
                    .all(|s| merged.tcp_info(s).is_none()),
                "no tcp_info is asked for before a pane opens"
            );

            watch.set_tcp_info(Some(key));
            let second = watch.poll(interval);
            assert_eq!(
                second.namespace(key).map(|n| n.freshness),
                Some(Freshness::Dumped),
                "the focused namespace is dumped at every round"
            );
            let merged = second
                .merged
                .expect("its new tcp_info makes a new merge though no socket changed");
            let lab_sockets = established(&merged);
            assert_eq!(lab_sockets.len(), 2);
            for socket in &lab_sockets {
                let info = merged
                    .tcp_info(socket)
                    .expect("tcp_info of the lab's sockets");
                // A new loopback connection: the initial congestion window, nothing lost.
                assert_eq!((info.snd_cwnd, info.lost), (10, 0), "{info:?}");
            }
            assert!(
                merged
                    .sockets
                    .iter()
                    .filter(|s| !in_lab(&merged, s))
                    .all(|s| merged.tcp_info(s).is_none()),
                "the other namespaces are dumped without tcp_info"
            );
        });
    }
}
