//! Every network namespace of the host at once (`--all-netns`): one [`Collector`] per
//! namespace that discovery (`netns/discover.rs`) finds, opened once, one walk of
//! `/proc/*/fd` shared by all of them (socket inodes are unique host-wide; see
//! `procs/shared.rs`), and one cgroup [`Resolver`] (cgroup ids are host-wide too: the
//! hierarchy is walked once, not once per namespace).
//!
//! # What is dumped
//!
//! Every state but CLOSE: a bound-but-inactive socket is found only by a walk of the
//! kernel's bind table, which every namespace shares, so asking for them costs each
//! namespace's dump half as much again; `-A` leaves them out.
//!
//! # Descriptors
//!
//! A namespace costs [`DESCRIPTORS_PER_NAMESPACE`] descriptors for as long as its collector
//! lives: the sock_diag socket, `/proc/net/tcp` and `tcp6`, and ten counter and limit
//! files (`netstat`, `snmp`, `sockstat`, seven sysctls); its handle is open only while the
//! collector is made. The soft open-file limit is first raised to the hard one; then
//! namespaces are opened, in discovery order (the host first), until the next one would
//! leave fewer than [`SPARE_DESCRIPTORS`] for the rest of the run (the /proc walk, the
//! output, the threads). The ones left over are skipped and counted in
//! [`AllNetns::over_limit`]; the caller warns once, naming how many. At the usual hard
//! limit of 20,000 that is about 1,520 namespaces.
//!
//! # Namespaces that vanish
//!
//! A namespace deleted (or whose last process exited) between discovery and its opening is
//! skipped silently: none of its handles opens, or the one that opens leads to another
//! namespace now. Once open, its sock_diag socket keeps it alive until the run ends, so its
//! dump still succeeds (and shows what it held when its name was deleted).

use super::cgroup::Resolver;
use super::netns::discover::{Namespace, discover};
use super::procs::Attributor;
use super::{CgroupResolution, CollectError, CollectOptions, Collector, NetnsId, SocketSource};
use crate::model::{Counters, Snapshot};

pub mod census;

/// Descriptors a namespace's collector holds: 1 netlink socket, 2 `/proc/net/tcp{,6}`
/// files, 10 counter and limit files.
pub const DESCRIPTORS_PER_NAMESPACE: u64 = 13;

/// Descriptors left free for everything else a run opens.
pub const SPARE_DESCRIPTORS: u64 = 256;

/// A namespace with its collector.
#[derive(Debug)]
pub struct Member {
    /// What discovery found.
    pub namespace: Namespace,
    /// Its collector, polling without process attribution (the walk is shared).
    pub collector: Collector,
}

/// One collector per namespace on the host, and the shared process attribution.
#[derive(Debug)]
pub struct AllNetns {
    members: Vec<Member>,
    attributor: Option<Attributor>,
    cgroups: Resolver,
    over_limit: usize,
    /// The options each member's collector is opened with.
    member_options: CollectOptions,
    /// Descriptors the collectors may hold (see the module documentation).
    budget: u64,
}

impl AllNetns {
    /// Discover every namespace and open a collector in each, with `options` (its `netns`
    /// is ignored; `processes` turns the one shared walk on). Fails only when sockscope's
    /// own namespace cannot be opened; other namespaces that cannot be are skipped.
    pub fn open(options: &CollectOptions) -> Result<AllNetns, CollectError> {
        let mut all = AllNetns {
            members: Vec::new(),
            attributor: options.processes.then(Attributor::new),
            cgroups: Resolver::new(options.container_roots.clone()),
            over_limit: 0,
            member_options: member_options(options),
            budget: descriptor_budget(),
        };
        all.rediscover()?;
        Ok(all)
    }

    /// Discover the namespaces again: open a collector in each one that appeared (within
    /// the descriptor budget), close those of the ones that vanished (no handle under
    /// `/run/netns` or Docker's directory, no process in it: the collector's own
    /// descriptors are what keeps it alive), keep the others as they are. Returns how
    /// many appeared and how many vanished. Fails only when sockscope's own namespace
    /// cannot be opened at the first discovery.
    pub fn rediscover(&mut self) -> Result<(usize, usize), CollectError> {
        let found = discover(&self.member_options.container_roots);
        let mut kept: crate::hash::FastMap<NetnsId, Member> = std::mem::take(&mut self.members)
            .into_iter()
            .map(|m| (m.namespace.id, m))
            .collect();
        let before = kept.len();
        let mut appeared = 0;
        self.over_limit = 0;
        let mut members = Vec::with_capacity(found.len());
        for namespace in found {
            if let Some(mut member) = kept.remove(&namespace.id) {
                // Its name can change (a process named it, then `ip netns add` did).
                member.namespace = namespace;
                members.push(member);
                continue;
            }
            let used = DESCRIPTORS_PER_NAMESPACE * (members.len() + kept.len()) as u64;
            if used + DESCRIPTORS_PER_NAMESPACE > self.budget {
                self.over_limit += 1;
                continue;
            }
            let collector = if namespace.is_own() {
                let mut own = self.member_options.clone();
                own.netns = super::NetnsTarget::Own;
                match Collector::open(own) {
                    Ok(collector) => collector,
                    Err(e) if before == 0 => return Err(e),
                    Err(_) => continue,
                }
            } else {
                match open_member(&namespace, &self.member_options) {
                    Some(collector) => collector,
                    None => continue,
                }
            };
            appeared += 1;
            members.push(Member {
                namespace,
                collector,
            });
        }
        let vanished = kept.len();
        self.members = members;
        Ok((appeared, vanished))
    }

    /// Ask the kernel for `tcp_info` in the dumps of the members whose inode `on` says
    /// yes to, and stop asking in the others' (the dashboard's detail pane of one socket).
    pub fn set_tcp_info(&mut self, on: impl Fn(u64) -> bool) {
        for member in &mut self.members {
            member.collector.set_tcp_info(on(member.namespace.id.inode));
        }
    }

    /// Each member's cheap readings now, in the members' order (`None`: unreadable).
    pub fn signals(&self) -> Vec<Option<super::kernel::Signal>> {
        self.members.iter().map(|m| m.collector.signal()).collect()
    }

    /// Dump the members at `chosen` (positions in [`AllNetns::members`]) as
    /// [`EachSource::poll_each`] dumps them all: half on a second thread, one shared /proc
    /// walk, one cgroup cache. The results come back in `chosen`'s order.
    pub fn poll_some(&mut self, chosen: &[usize]) -> Vec<Result<Snapshot, CollectError>> {
        let mut picked: Vec<Option<&mut Member>> = self.members.iter_mut().map(Some).collect();
        let mut members: Vec<&mut Member> = chosen
            .iter()
            .filter_map(|&i| picked.get_mut(i).and_then(Option::take))
            .collect();
        let cgroups = &mut self.cgroups;
        let mut dump = || {
            let half = members.len().div_ceil(2);
            let (first, second) = members.split_at_mut(half);
            let (mut snapshots, rest) = std::thread::scope(|scope| {
                let other = scope.spawn(|| poll_members(second));
                let mine = poll_members(first);
                let theirs = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (mine, theirs)
            });
            snapshots.extend(rest);
            for snapshot in snapshots.iter_mut().flatten() {
                if !snapshot.cgroups.is_empty() {
                    cgroups.resolve(&mut snapshot.cgroups);
                }
            }
            snapshots
        };
        match self.attributor.as_mut() {
            Some(attributor) if !chosen.is_empty() => attributor.attribute_each_during(dump),
            _ => dump(),
        }
    }

    /// The namespaces watched, sockscope's own first.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// How many namespaces were found but not opened for lack of descriptors.
    pub fn over_limit(&self) -> usize {
        self.over_limit
    }

    /// How many namespaces are watched.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether none is (never after a successful [`AllNetns::open`]: the host's is).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Several namespaces polled together: [`AllNetns`], or any slice of sources (recordings
/// in tests), polled one after another.
pub trait EachSource {
    /// How many sources.
    fn count(&self) -> usize;

    /// Read source `i`'s counters now, as [`SocketSource::sample_counters`] does.
    fn sample_counters_of(&mut self, i: usize) -> Option<Counters>;

    /// One poll of every source, in order.
    fn poll_each(&mut self) -> Vec<Result<Snapshot, CollectError>>;
}

impl<S: SocketSource> EachSource for [S] {
    fn count(&self) -> usize {
        self.len()
    }

    fn sample_counters_of(&mut self, i: usize) -> Option<Counters> {
        self.get_mut(i).and_then(SocketSource::sample_counters)
    }

    fn poll_each(&mut self) -> Vec<Result<Snapshot, CollectError>> {
        self.iter_mut().map(SocketSource::poll).collect()
    }
}

impl EachSource for AllNetns {
    fn count(&self) -> usize {
        self.members.len()
    }

    fn sample_counters_of(&mut self, i: usize) -> Option<Counters> {
        self.members
            .get_mut(i)
            .and_then(|m| m.collector.sample_counters())
    }

    /// Dump every namespace, half of them on a second thread (a dump's cost is the kernel's
    /// walk of the shared TCP hash table: two walk at once on two cores), while one walk of
    /// /proc attributes all their sockets; then resolve their cgroups with the one shared
    /// cache. Each snapshot carries its namespace's name, inode and container; they come
    /// back in the members' order.
    fn poll_each(&mut self) -> Vec<Result<Snapshot, CollectError>> {
        let all: Vec<usize> = (0..self.members.len()).collect();
        self.poll_some(&all)
    }
}

/// One poll of each of `members`, in order, each snapshot named after its namespace.
fn poll_members(members: &mut [&mut Member]) -> Vec<Result<Snapshot, CollectError>> {
    members
        .iter_mut()
        .map(|m| {
            let mut snapshot = m.collector.poll()?;
            snapshot.netns.clone_from(&m.namespace.name);
            snapshot.netns_inode = Some(m.namespace.id.inode);
            snapshot.netns_container.clone_from(&m.namespace.container);
            Ok(snapshot)
        })
        .collect()
}

/// The collector of a namespace other than sockscope's own, through the first of its
/// handles that still leads to it; `None` when none does (it has vanished).
/// The options each namespace's collector is opened with: no walk of its own (one walk
/// serves all), cgroups resolved by the caller, and every state but CLOSE. Bound-only
/// sockets (CLOSE) are not asked for: the kernel finds them by walking the bind table,
/// shared by every namespace like the established one, which made each dump half as costly
/// again (24 → 36 ms at 100,000 sockets host-wide) — and would cost each namespace a second
/// netlink socket (see `SockDiag::open_split`).
fn member_options(options: &CollectOptions) -> CollectOptions {
    let mut member = options.clone();
    member.processes = false;
    member.cgroups = CgroupResolution::Caller;
    member.states = options.states.without(crate::model::TcpState::Close);
    member
}

fn open_member(namespace: &Namespace, options: &CollectOptions) -> Option<Collector> {
    namespace.handles.iter().find_map(|path| {
        let handle = crate::untrusted::open_handle(path).ok()?;
        let id = handle.metadata().ok().map(|m| NetnsId::of(&m))?;
        if id != namespace.id {
            return None;
        }
        Collector::open_in(options.clone(), &handle, path).ok()
    })
}

/// Descriptors the collectors may hold: the soft limit (raised to the hard one first)
/// less [`SPARE_DESCRIPTORS`] and what is open already.
fn descriptor_budget() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    let limit = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
    limit.saturating_sub(SPARE_DESCRIPTORS + open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::testutil::{TestNetns, in_child, require_root};

    fn open_descriptors() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
    }

    #[test]
    fn a_namespace_costs_the_descriptors_the_docs_say() {
        if !require_root("a_namespace_costs_the_descriptors_the_docs_say") {
            return;
        }
        // It counts the descriptors of the whole process: in a child, no other test opens or
        // closes one between the two counts.
        in_child(|| {
            let netns = TestNetns::new("fdcost");
            let path = std::path::PathBuf::from(format!("/run/netns/{}", netns.name()));
            let handle = std::fs::File::open(&path).unwrap();
            let before = open_descriptors();
            let options = member_options(&CollectOptions::default());
            let collector = Collector::open_in(options, &handle, &path).unwrap();
            let after = open_descriptors();
            drop(collector);
            assert_eq!((after - before) as u64, DESCRIPTORS_PER_NAMESPACE);
        });
    }

    #[test]
    fn a_namespace_deleted_after_discovery_is_skipped() {
        if !require_root("a_namespace_deleted_after_discovery_is_skipped") {
            return;
        }
        let netns = TestNetns::new("vanish");
        let found = discover(&crate::collect::cgroup::ContainerRoots::default());
        let namespace = found
            .into_iter()
            .find(|n| n.name == netns.name())
            .expect("the test namespace is discovered");
        drop(netns);
        assert!(open_member(&namespace, &CollectOptions::default()).is_none());
    }

    #[test]
    fn near_the_descriptor_limit_the_namespaces_left_over_are_counted_not_opened() {
        if !require_root(
            "near_the_descriptor_limit_the_namespaces_left_over_are_counted_not_opened",
        ) {
            return;
        }
        // It lowers the hard open-file limit for good: in a process of its own, or every
        // test after it in the same process (`cargo test`) runs short of descriptors.
        in_child(|| {
            let _netns = TestNetns::new("limit");
            // Room for the host's namespace and not one more: the test's own is left over.
            let limit =
                open_descriptors() as u64 + SPARE_DESCRIPTORS + DESCRIPTORS_PER_NAMESPACE + 5;
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                limit,
                limit,
            )
            .unwrap();
            let options = CollectOptions {
                processes: false,
                ..CollectOptions::default()
            };
            let all = AllNetns::open(&options).unwrap();
            let names: Vec<&str> = all
                .members()
                .iter()
                .map(|m| m.namespace.name.as_str())
                .collect();
            assert_eq!(names, ["host"]);
            assert!(all.over_limit() >= 1, "{}", all.over_limit());
        });
    }
}
