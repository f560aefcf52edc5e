//! The dashboard's poll of every namespace (`sockscope -A`): at each poll, discover the
//! namespaces again (one that appeared is opened, one that vanished is let go), read each
//! one's cheap readings, let the [`Schedule`] choose which to dump within the poll's CPU
//! budget, dump those (one shared /proc walk), and keep every namespace's last snapshot.
//! What the screen gets is one merged snapshot of every namespace's latest sockets (each
//! socket's namespace beside it, [`Namespaces`](crate::model::Namespaces)) and each namespace's state: its last
//! snapshot, when it was dumped, whether this poll dumped it, and why its dump failed.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::schedule::{Reading, Reason, Schedule};
use super::{AllNetns, EachSource as _};
use crate::collect::{CollectError, CollectOptions};
use crate::hash::FastMap;
use crate::model::{Counters, NetnsLabel, Owners, Snapshot};

/// One namespace as the dashboard shows it after a poll.
#[derive(Clone, Debug)]
pub struct NamespaceState {
    /// Its name, inode and container.
    pub label: NetnsLabel,
    /// Its last snapshot (`None` until its first dump succeeds).
    pub snapshot: Option<Arc<Snapshot>>,
    /// When its data was dumped (the age the dashboard shows).
    pub dumped_at: Option<SystemTime>,
    /// Whether this poll dumped it (its aggregator takes the snapshot in).
    pub fresh: bool,
    /// Why its last dump failed, while no later one succeeded.
    pub error: Option<String>,
}

/// One poll of every namespace.
#[derive(Clone, Debug)]
pub struct AllPoll {
    /// Every namespace's latest sockets as one snapshot; `None` when no namespace's sockets
    /// changed (none was dumped, or the dumps found what was there before, and no
    /// namespace with sockets appeared or vanished): the previous one stands, since merging
    /// and taking in 100,000 sockets again would cost more than the poll.
    pub merged: Option<Arc<Snapshot>>,
    /// When the poll started: the namespaces' data ages are measured to it.
    pub taken_at: SystemTime,
    /// Every namespace watched, sockscope's own first, then by name.
    pub namespaces: Vec<NamespaceState>,
    /// Namespaces dumped by this poll.
    pub dumped: usize,
    /// Of those, the ones dumped for the first time (every one at the first poll): a
    /// one-off cost, which the dashboard does not slow its interval for.
    pub new: usize,
    /// Namespaces found but not opened for lack of descriptors.
    pub over_limit: usize,
}

/// What is kept of a namespace between polls.
#[derive(Debug)]
struct Kept {
    snapshot: Option<Arc<Snapshot>>,
    dumped_at: Option<SystemTime>,
    error: Option<String>,
}

/// Every namespace watched by the dashboard, and what it last saw of each.
#[derive(Debug)]
pub struct AllWatch {
    all: AllNetns,
    schedule: Schedule,
    kept: FastMap<u64, Kept>,
    /// Whether a merged snapshot was made yet (the first poll always makes one).
    merged_once: bool,
}

impl AllWatch {
    /// Discover and open every namespace (see [`AllNetns::open`]).
    pub fn open(options: &CollectOptions) -> Result<AllWatch, CollectError> {
        Ok(AllWatch {
            all: AllNetns::open(options)?,
            schedule: Schedule::default(),
            kept: FastMap::default(),
            merged_once: false,
        })
    }

    /// One poll that may spend about `budget` of CPU on dumps (see [`Schedule::choose`]:
    /// namespaces never dumped are dumped whatever it costs).
    pub fn poll(&mut self, budget: Duration) -> AllPoll {
        let taken_at = SystemTime::now();
        // Only the first discovery can fail (sockscope's own namespace): it was made.
        let _ = self.all.rediscover();
        let present: Vec<u64> = self
            .all
            .members()
            .iter()
            .map(|m| m.namespace.id.inode)
            .collect();
        self.schedule.retain(&present);
        // A namespace that vanished with sockets changes the merge.
        let mut changed = self.kept.iter().any(|(inode, k)| {
            !present.contains(inode) && k.snapshot.as_ref().is_some_and(|s| !s.sockets.is_empty())
        });
        self.kept.retain(|inode, _| present.contains(inode));
        let readings: Vec<Reading> = self
            .all
            .signals()
            .into_iter()
            .zip(&present)
            .map(|(signal, &inode)| Reading { inode, signal })
            .collect();
        let started = Instant::now();
        let chosen = self.schedule.choose(&readings, started, budget);
        let positions: Vec<usize> = chosen.iter().map(|(i, _)| *i).collect();
        let cpu = cpu_time();
        let results = if positions.len() == self.all.count() {
            self.all.poll_each()
        } else {
            self.all.poll_some(&positions)
        };
        let spent = cpu_time().saturating_sub(cpu);
        if chosen.iter().any(|(_, r)| *r == Reason::Stale) {
            self.schedule.stale_round_at(started);
        }
        // What the dumps cost in all (the walk of /proc and the cgroups included): new
        // namespaces' dumps cost what the others' do, so they are measured too.
        self.schedule.measured(chosen.len(), spent);
        let now = SystemTime::now();
        let mut fresh = vec![false; present.len()];
        for (&position, result) in positions.iter().zip(results) {
            let reading = &readings[position];
            self.schedule
                .dumped(reading.inode, reading.signal.clone(), started);
            let kept = self.kept.entry(reading.inode).or_insert(Kept {
                snapshot: None,
                dumped_at: None,
                error: None,
            });
            match result {
                Ok(snapshot) => {
                    changed |= kept
                        .snapshot
                        .as_deref()
                        .map_or(!snapshot.sockets.is_empty(), |old| {
                            !same_sockets(old, &snapshot)
                        });
                    kept.dumped_at = snapshot.taken_at.or(Some(now));
                    kept.snapshot = Some(Arc::new(snapshot));
                    kept.error = None;
                    fresh[position] = true;
                }
                Err(e) => kept.error = Some(format!("{:#}", anyhow::Error::from(e))),
            }
        }
        let namespaces: Vec<NamespaceState> = self
            .all
            .members()
            .iter()
            .zip(fresh)
            .map(|(member, fresh)| {
                let kept = self.kept.get(&member.namespace.id.inode);
                NamespaceState {
                    label: NetnsLabel {
                        name: member.namespace.name.clone(),
                        inode: member.namespace.id.inode,
                        container: member.namespace.container.clone(),
                    },
                    snapshot: kept.and_then(|k| k.snapshot.clone()),
                    dumped_at: kept.and_then(|k| k.dumped_at),
                    fresh,
                    error: kept.and_then(|k| k.error.clone()),
                }
            })
            .collect();
        let merged = (changed || !self.merged_once).then(|| {
            self.merged_once = true;
            let mut merged = merge(&namespaces);
            merged.taken_at = Some(taken_at);
            Arc::new(merged)
        });
        AllPoll {
            merged,
            taken_at,
            dumped: chosen.len(),
            new: chosen.iter().filter(|(_, r)| *r == Reason::New).count(),
            over_limit: self.all.over_limit(),
            namespaces,
        }
    }

    /// The current estimate of one dump's CPU cost.
    pub fn dump_cost(&self) -> Duration {
        self.schedule.dump_cost()
    }
}

/// Whether two snapshots of one namespace hold the same sockets, owned by the same
/// processes, in the same cgroups (timers and queues included: a socket's timer that
/// moved is a change).
fn same_sockets(old: &Snapshot, new: &Snapshot) -> bool {
    old.sockets == new.sockets
        && old.processes == new.processes
        && old.owner_index == new.owner_index
        && old.cgroups == new.cgroups
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

/// Every namespace's last snapshot as one: the sockets one after another, each socket's
/// namespace recorded by cookie, the processes once each (a process can hold sockets of
/// several namespaces), the cgroups of all, the counters summed over the namespaces (each
/// as of its last dump), the limits and host of the first (sockscope's own).
pub fn merge(namespaces: &[NamespaceState]) -> Snapshot {
    let parts: Vec<(&NetnsLabel, &Snapshot)> = namespaces
        .iter()
        .filter_map(|n| Some((&n.label, n.snapshot.as_deref()?)))
        .collect();
    let mut merged = Snapshot {
        netns: format!("{} namespaces", namespaces.len()),
        ..Snapshot::default()
    };
    let mut pids: FastMap<u32, u32> = FastMap::default();
    let mut known = Vec::new();
    merged
        .sockets
        .reserve(parts.iter().map(|(_, s)| s.sockets.len()).sum());
    for (i, (label, snapshot)) in parts.iter().enumerate() {
        if i == 0 {
            merged.host.clone_from(&snapshot.host);
            merged.limits = snapshot.limits.clone();
            merged.source = snapshot.source;
            merged.attribution = snapshot.attribution.clone();
        }
        let at = merged.namespaces.push((*label).clone());
        let mut renumbered = Vec::with_capacity(snapshot.processes.len());
        for process in &snapshot.processes {
            let next = u32::try_from(merged.processes.len()).unwrap_or(u32::MAX);
            let index = *pids.entry(process.pid).or_insert_with(|| {
                merged.processes.push(process.clone());
                next
            });
            renumbered.push(index);
        }
        for socket in &snapshot.sockets {
            let mut socket = *socket;
            let start = merged.owner_index.len();
            merged.owner_index.extend(
                snapshot
                    .owner_indices(&socket)
                    .iter()
                    .filter_map(|&o| renumbered.get(o as usize).copied()),
            );
            socket.owners = Owners {
                start: u32::try_from(start).unwrap_or(u32::MAX),
                len: u32::try_from(merged.owner_index.len() - start).unwrap_or(0),
            };
            merged.namespaces.insert(socket.cookie, at);
            merged
                .cgroups
                .record(&socket, snapshot.cgroups.id_of(&socket).unwrap_or(0));
            merged.sockets.push(socket);
        }
        known.extend(snapshot.cgroups.known().iter().cloned());
        add_counters(&mut merged.counters, &snapshot.counters);
    }
    merged.cgroups.set_known(known);
    merged
}

/// Add `more`'s counters to `sum`'s, name by name (names `sum` lacks are appended).
fn add_counters(sum: &mut Counters, more: &Counters) {
    fn add<T: Copy + std::ops::Add<Output = T>>(sum: &mut Vec<(String, T)>, more: &[(String, T)]) {
        for (name, value) in more {
            match sum.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => *v = *v + *value,
                None => sum.push((name.clone(), *value)),
            }
        }
    }
    add(&mut sum.tcp_ext, &more.tcp_ext);
    add(&mut sum.tcp, &more.tcp);
    add(&mut sum.sockstat, &more.sockstat);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testutil::{TestNetns, in_child, require_root};
    use crate::model::{Process, Socket, TcpState};

    fn names(poll: &AllPoll) -> Vec<&str> {
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
            let mut watch = AllWatch::open(&options).unwrap();
            let budget = Duration::from_millis(100);
            let poll = watch.poll(budget);
            assert!(names(&poll).contains(&first.name()), "{:?}", names(&poll));
            assert_eq!(
                poll.new,
                poll.namespaces.len(),
                "the first poll dumps every one"
            );

            let second = TestNetns::new("appear");
            second.exec(&["ip", "link", "set", "lo", "up"]);
            let poll = watch.poll(budget);
            let state = poll
                .namespaces
                .iter()
                .find(|n| n.label.name == second.name())
                .expect("the new namespace is watched at the next poll");
            assert!(state.fresh && state.error.is_none(), "{state:?}");
            assert_eq!(state.snapshot.as_ref().map(|s| s.sockets.len()), Some(0));
            // Other tests' namespaces may come and go meanwhile: this one is among the new.
            assert!(poll.new >= 1, "{}", poll.new);

            let gone = first.name().to_owned();
            drop(first);
            let poll = watch.poll(budget);
            assert!(!names(&poll).contains(&gone.as_str()), "{:?}", names(&poll));
            assert!(names(&poll).contains(&second.name()));
            let second_state = poll
                .namespaces
                .iter()
                .find(|n| n.label.name == second.name());
            assert!(second_state.is_some_and(|n| n.error.is_none()));
        });
    }

    fn state(name: &str, inode: u64, snapshot: Snapshot) -> NamespaceState {
        NamespaceState {
            label: NetnsLabel {
                name: name.to_owned(),
                inode,
                container: None,
            },
            snapshot: Some(Arc::new(snapshot)),
            dumped_at: None,
            fresh: true,
            error: None,
        }
    }

    fn socket(cookie: u64, state: TcpState, owners: Owners) -> Socket {
        let mut s = Socket::new(
            state,
            "192.0.2.1:80".parse().unwrap(),
            "192.0.2.9:4000".parse().unwrap(),
        );
        s.cookie = cookie;
        s.owners = owners;
        s
    }

    fn process(pid: u32, comm: &str) -> Process {
        Process {
            pid,
            comm: comm.into(),
            ..Process::default()
        }
    }

    #[test]
    fn merging_keeps_each_socket_with_its_namespace_and_its_owner() {
        let one = Snapshot {
            sockets: vec![
                socket(1, TcpState::Listen, Owners { start: 0, len: 1 }),
                socket(2, TcpState::CloseWait, Owners { start: 1, len: 1 }),
            ],
            processes: vec![process(10, "web"), process(11, "leaky")],
            owner_index: vec![0, 1],
            counters: Counters {
                tcp: vec![("ActiveOpens".to_owned(), 3)],
                ..Counters::default()
            },
            ..Snapshot::default()
        };
        let two = Snapshot {
            // Process 11 holds a socket here too: it is listed once.
            sockets: vec![socket(
                3,
                TcpState::Established,
                Owners { start: 0, len: 1 },
            )],
            processes: vec![process(11, "leaky")],
            owner_index: vec![0],
            counters: Counters {
                tcp: vec![("ActiveOpens".to_owned(), 4)],
                ..Counters::default()
            },
            ..Snapshot::default()
        };
        let mut vanished = state("gone", 3, Snapshot::default());
        vanished.snapshot = None;
        let merged = merge(&[state("host", 1, one), state("web", 2, two), vanished]);
        assert_eq!(merged.sockets.len(), 3);
        assert_eq!(merged.netns, "3 namespaces");
        let owner = |cookie: u64| {
            let s = merged.sockets.iter().find(|s| s.cookie == cookie).unwrap();
            merged.owners(s).map(|p| p.pid).collect::<Vec<_>>()
        };
        assert_eq!(owner(1), [10]);
        assert_eq!(owner(2), [11]);
        assert_eq!(owner(3), [11]);
        assert_eq!(merged.processes.len(), 2);
        let netns = |cookie| merged.namespaces.of(cookie).map(|l| l.name.as_str());
        assert_eq!(
            (netns(1), netns(2), netns(3)),
            (Some("host"), Some("host"), Some("web"))
        );
        assert_eq!(merged.counters.tcp("ActiveOpens"), Some(7));
        assert_eq!(merged.namespaces.len(), 2);
    }
}
