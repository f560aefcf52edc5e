//! The only code that talks to the kernel: one poll of one network namespace becomes one
//! [`Snapshot`]. Everything above it sees only the [`SocketSource`] trait, so it can be fed
//! recorded or synthetic snapshots.

pub mod all_netns;
pub mod cgroup;
mod dedup;
pub mod events;
pub(crate) mod kernel;
pub mod netlink;
pub mod netns;
pub mod own_process;
pub mod parse;
mod procfile;
pub(crate) mod procnet;
pub mod procs;
#[cfg(test)]
pub(crate) mod testutil;
pub mod tiers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::model::{Cgroups, Counters, Snapshot, Socket, SourceKind, StateSet, TcpInfos, TcpState};
use kernel::KernelFiles;
use netlink::{DumpError, SockDiag};
use procnet::ProcNetFiles;
use procs::Attributor;
use tiers::{Read, Tiers};

pub use dedup::CookieDedup;
pub use netns::{NetnsChange, NetnsDrift, NetnsId, NetnsTarget};

/// Anything that yields snapshots: the kernel collector, or a recording in tests.
pub trait SocketSource {
    /// Take one snapshot.
    fn poll(&mut self) -> Result<Snapshot, CollectError>;

    /// Read the kernel counters alone, now, as a poll would (no socket dump); `None` when
    /// the source has no live counters (a recording).
    fn sample_counters(&mut self) -> Option<Counters> {
        None
    }
}

/// A source borrowed: a watcher that polls it leaves it with its owner (tests read what
/// it counted).
impl<S: SocketSource + ?Sized> SocketSource for &mut S {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        (**self).poll()
    }

    fn sample_counters(&mut self) -> Option<Counters> {
        (**self).sample_counters()
    }
}

/// Why a poll or the collector's setup failed. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// The namespace could not be found or entered.
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    /// The sock_diag dump failed (after setup).
    #[error("sock_diag dump failed: {0}")]
    Dump(#[from] netlink::DumpError),
    /// The /proc/net/tcp fallback failed too.
    #[error("reading {path}: {source}")]
    ProcNet {
        /// The file that failed.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A subscription to the kernel's TCP destroy events failed.
    #[error(transparent)]
    Subscription(#[from] events::SubscriptionError),
    /// A recorded source ran out of snapshots.
    #[error("no more recorded snapshots")]
    Exhausted,
}

/// What a collector polls and how.
#[derive(Clone, Debug)]
pub struct CollectOptions {
    /// Which namespace to watch.
    pub netns: NetnsTarget,
    /// Attribute sockets to processes (walks /proc/*/fd).
    pub processes: bool,
    /// States to ask the kernel for. Counts describe only these: use [`StateSet::ALL`]
    /// wherever counts are shown.
    pub states: StateSet,
    /// Use /proc/net/tcp{,6} even when sock_diag works.
    pub force_procnet: bool,
    /// Ask the kernel for `tcp_info` (RTT, congestion window, retransmissions). Outputs
    /// that never show it turn it off: a dump without it costs about a third less.
    pub tcp_info: bool,
    /// Where the host keeps container and pod names (Docker's data root, the kubelet's
    /// pod logs); the real paths by default.
    pub container_roots: cgroup::ContainerRoots,
    /// Who turns each snapshot's cgroup ids into paths and containers.
    pub cgroups: CgroupResolution,
}

/// Who turns a snapshot's cgroup ids into paths and containers (a walk of the cgroup
/// hierarchy, cached by whoever does it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CgroupResolution {
    /// The collector, with a cache of its own.
    #[default]
    Collector,
    /// Whoever polls the collector: the ids stay unresolved in the snapshot. `--all-netns`
    /// resolves them once for every namespace's collector.
    Caller,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            netns: NetnsTarget::Own,
            processes: true,
            states: StateSet::ALL,
            force_procnet: false,
            tcp_info: true,
            container_roots: cgroup::ContainerRoots::default(),
            cgroups: CgroupResolution::Collector,
        }
    }
}

/// Replays snapshots recorded earlier, in order; for tests and replays.
#[derive(Debug, Default)]
pub struct Recorded {
    snapshots: VecDeque<Snapshot>,
}

impl Recorded {
    /// A source that yields `snapshots` one per poll, then [`CollectError::Exhausted`].
    pub fn new(snapshots: impl IntoIterator<Item = Snapshot>) -> Recorded {
        Recorded {
            snapshots: snapshots
                .into_iter()
                .map(|mut s| {
                    s.source = SourceKind::Synthetic;
                    s.taken_at.get_or_insert(SystemTime::UNIX_EPOCH);
                    s
                })
                .collect(),
        }
    }
}

impl SocketSource for Recorded {
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        self.snapshots.pop_front().ok_or(CollectError::Exhausted)
    }
}

/// The kernel collector for one namespace: sock_diag (or /proc/net/tcp), counters, limits
/// and process attribution. Every handle is opened inside the namespace once, at
/// [`Collector::open`]; polls then run on any thread, against that namespace even when
/// its name comes to lead elsewhere ([`Collector::netns_drift`] tells).
#[derive(Debug)]
pub struct Collector {
    sources: Sources,
    attributor: Attributor,
    watch: netns::EnteredNetns,
}

/// The handles opened inside a namespace: sock_diag (or why not: `None` when asked not to),
/// `/proc/net/tcp{,6}`, the counter and limit files.
type Opened = (
    Result<SockDiag, Option<DumpError>>,
    std::io::Result<ProcNetFiles>,
    KernelFiles,
);

/// Open, on a thread inside the namespace, everything a collector reads there.
fn open_inside(force_procnet: bool, dumps_close: bool) -> Opened {
    let sock_diag = if force_procnet {
        Err(None)
    } else if dumps_close {
        SockDiag::open_split().map_err(Some)
    } else {
        SockDiag::open().map_err(Some)
    };
    (sock_diag, ProcNetFiles::open(), KernelFiles::open())
}

/// Everything a poll reads besides /proc/*/fd.
#[derive(Debug)]
struct Sources {
    options: CollectOptions,
    host: String,
    sock_diag: Option<SockDiag>,
    proc_net: Option<ProcNetFiles>,
    fallback_reason: Option<String>,
    kernel: KernelFiles,
    dedup: CookieDedup,
    /// Set when ESTABLISHED sockets are re-read less often at scale.
    tiers: Option<Tiers>,
    /// Socket dumps asked of the kernel (sock_diag or /proc/net/tcp) since opening.
    dumps: u64,
    /// Cgroup ids to paths and containers.
    cgroups: cgroup::Resolver,
}

impl Collector {
    /// Open every handle inside the target namespace.
    pub fn open(options: CollectOptions) -> Result<Collector, CollectError> {
        let force_procnet = options.force_procnet;
        let dumps_close = options.states.contains(TcpState::Close);
        let (opened, watch) = netns::run_watched(&options.netns, move || {
            open_inside(force_procnet, dumps_close)
        })?;
        Collector::assemble(options, opened, watch)
    }

    /// Open every handle inside the namespace `handle` (an open nsfs file, named `path` in
    /// errors) leads to, whatever `options.netns` says: `--all-netns` opens one collector
    /// per namespace found this way. Its [`Collector::netns_drift`] is always `None`.
    pub fn open_in(
        options: CollectOptions,
        handle: &std::fs::File,
        path: &std::path::Path,
    ) -> Result<Collector, CollectError> {
        let force_procnet = options.force_procnet;
        let dumps_close = options.states.contains(TcpState::Close);
        let (opened, watch) = netns::run_in_handle(handle, path, move || {
            open_inside(force_procnet, dumps_close)
        })?;
        Collector::assemble(options, opened, watch)
    }

    /// The collector of the handles opened inside a namespace.
    fn assemble(
        options: CollectOptions,
        (sock_diag, proc_net, kernel): Opened,
        watch: netns::EnteredNetns,
    ) -> Result<Collector, CollectError> {
        let kernel = kernel.with_host_max_orphans();
        let (sock_diag, fallback_reason) = match sock_diag {
            Ok(mut s) => {
                s.set_tcp_info(options.tcp_info);
                (Some(s), None)
            }
            Err(None) => (
                None,
                Some("asked for with SOCKSCOPE_SOURCE=proc".to_owned()),
            ),
            Err(Some(e)) => (None, Some(e.to_string())),
        };
        let proc_net = match (proc_net, &sock_diag) {
            (Ok(p), _) => Some(p),
            (Err(_), Some(_)) => None,
            (Err(source), None) => {
                return Err(CollectError::ProcNet {
                    path: "/proc/net/tcp".to_owned(),
                    source,
                });
            }
        };
        let cgroups = cgroup::Resolver::new(options.container_roots.clone());
        Ok(Collector {
            sources: Sources {
                host: nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok())
                    .unwrap_or_default(),
                options,
                sock_diag,
                proc_net,
                fallback_reason,
                kernel,
                dedup: CookieDedup::default(),
                tiers: None,
                dumps: 0,
                cgroups,
            },
            attributor: Attributor::new(),
            watch,
        })
    }

    /// A collector opened anew with this one's options as they are now (attribution,
    /// tcp_info) and tiers like its own, remembering nothing of this one's polls: to follow
    /// a target that now leads to another namespace.
    pub fn reopen(&self) -> Result<Collector, CollectError> {
        let mut fresh = Collector::open(self.sources.options.clone())?;
        fresh.tier_established(self.sources.tiers.as_ref().map(Tiers::fresh));
        Ok(fresh)
    }

    /// The options this collector polls with.
    pub fn options(&self) -> &CollectOptions {
        &self.sources.options
    }

    /// The namespace this collector opened and polls (`None` for sockscope's own).
    pub fn netns_id(&self) -> Option<NetnsId> {
        self.watch.opened()
    }

    /// Whether the target (`--netns NAME`, `--netns-pid PID`) still leads to the
    /// namespace this collector polls: `None` when it does, else what it leads to now.
    /// Cheap enough for every poll: one `stat`.
    pub fn netns_drift(&self) -> Option<NetnsDrift> {
        self.watch.check()
    }

    /// Turn process attribution on or off for the next polls.
    pub fn set_processes(&mut self, on: bool) {
        self.sources.options.processes = on;
    }

    /// Ask the kernel for `tcp_info` in the next polls, or stop asking.
    pub fn set_tcp_info(&mut self, on: bool) {
        self.sources.options.tcp_info = on;
        if let Some(diag) = self.sources.sock_diag.as_mut() {
            diag.set_tcp_info(on);
        }
    }

    /// From now on, re-read ESTABLISHED sockets as `tiers` says and carry them over in the
    /// polls between (the dashboard at scale; see [`tiers`]). `None` reads every socket in
    /// every poll, the default.
    pub fn tier_established(&mut self, tiers: Option<Tiers>) {
        self.sources.tiers = tiers;
    }

    /// One poll, shared: with [`Collector::tier_established`] on, the polls to come carry
    /// this snapshot's ESTABLISHED sockets instead of keeping a copy of their own. (A plain
    /// [`SocketSource::poll`] shares nothing, so the next poll reads every state.)
    pub fn poll_shared(&mut self) -> Result<Arc<Snapshot>, CollectError> {
        let snapshot = Arc::new(self.poll()?);
        if let Some(tiers) = self.sources.tiers.as_mut() {
            tiers.remember(&snapshot);
        }
        Ok(snapshot)
    }

    /// Why the collector reads /proc/net/tcp instead of sock_diag, if it does.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.sources.fallback_reason.as_deref()
    }

    /// The namespace's cheap readings now (two `pread`s), for the dashboard's dump policy
    /// with `-A` (`KernelFiles::signal` in `kernel.rs`).
    pub fn signal(&self) -> Option<kernel::Signal> {
        self.sources.kernel.signal()
    }

    /// How many socket dumps (sock_diag, or reads of /proc/net/tcp) this collector has
    /// asked of the kernel since it was opened: one per poll.
    pub fn dumps(&self) -> u64 {
        self.sources.dumps
    }

    /// What the last poll's walk of /proc/*/fd did (all zero when it had none).
    pub fn last_walk(&self) -> procs::WalkStats {
        self.attributor.last_walk()
    }
}

impl SocketSource for Collector {
    /// One poll. With process attribution, /proc/*/fd is walked on a second thread while
    /// this one dumps the sockets.
    fn poll(&mut self) -> Result<Snapshot, CollectError> {
        let Collector {
            sources,
            attributor,
            ..
        } = self;
        if sources.options.processes {
            attributor.attribute_during(|| sources.snapshot())
        } else {
            sources.snapshot()
        }
    }

    /// Read the counters through the handles opened in the namespace.
    fn sample_counters(&mut self) -> Option<Counters> {
        Some(self.sources.kernel.counters())
    }
}

impl Sources {
    fn dump_netlink(
        &mut self,
        sockets: &mut Vec<Socket>,
        tcp_infos: &mut TcpInfos,
        cgroups: &mut Cgroups,
        states: StateSet,
    ) -> Result<(), DumpError> {
        let Some(diag) = self.sock_diag.as_mut() else {
            return Ok(());
        };
        let dedup = &mut self.dedup;
        dedup.clear();
        self.dumps += 1;
        // One tcp_info slot per socket when it is asked for, none otherwise.
        let with_tcp_info = self.options.tcp_info;
        diag.dump_all(states, &mut |socket, tcp_info, cgroup_id| {
            if with_tcp_info {
                tcp_infos.push(socket.cookie, tcp_info);
            }
            cgroups.record(&socket, cgroup_id);
            dedup.push(sockets, socket);
        })?;
        dedup.finish(sockets, tcp_infos.slots_mut());
        Ok(())
    }
}

impl Sources {
    /// The sockets, counters and limits of one poll, without owners.
    fn snapshot(&mut self) -> Result<Snapshot, CollectError> {
        let taken_at = SystemTime::now();
        let started = Instant::now();
        let mut sockets = Vec::new();
        let mut tcp_infos = TcpInfos::default();
        let mut cgroups = Cgroups::default();
        let mut source = SourceKind::Netlink;
        let read = match &self.tiers {
            Some(tiers) if self.sock_diag.is_some() => {
                tiers.plan(started, self.options.states, self.options.tcp_info)
            }
            _ => Read::Full,
        };
        let states = match read {
            Read::Full => self.options.states,
            Read::WithoutEstablished => self.options.states.without(TcpState::Established),
        };
        let mut established_tier = None;
        match self.dump_netlink(&mut sockets, &mut tcp_infos, &mut cgroups, states) {
            Ok(()) => {
                // Without sock_diag the read was full and found nothing: nothing to carry.
                if let Some(tiers) = self.tiers.as_mut() {
                    established_tier = match read {
                        // While tcp_info is wanted every poll is a full read.
                        Read::Full => tiers
                            .full_read(&sockets, (started, taken_at))
                            .filter(|_| !self.options.tcp_info),
                        Read::WithoutEstablished => tiers.carry(&mut sockets, &mut cgroups),
                    };
                }
            }
            Err(e) => {
                if let Some(tiers) = self.tiers.as_mut() {
                    tiers.reset();
                }
                if !e.means_unsupported() || self.proc_net.is_none() {
                    return Err(e.into());
                }
                self.fallback_reason = Some(e.to_string());
                self.sock_diag = None;
                sockets.clear();
                tcp_infos = TcpInfos::default();
                cgroups = Cgroups::default();
            }
        }
        if self.sock_diag.is_none()
            && let Some(proc_net) = &self.proc_net
        {
            source = SourceKind::ProcNet;
            self.dumps += 1;
            proc_net
                .read(&mut sockets)
                .map_err(|source| CollectError::ProcNet {
                    path: "/proc/net/tcp".to_owned(),
                    source,
                })?;
            sockets.retain(|s| self.options.states.contains(s.state));
        }
        if !cgroups.is_empty() {
            cgroup::inherit_from_listeners(&sockets, &mut cgroups);
            if self.options.cgroups == CgroupResolution::Collector {
                self.cgroups.resolve(&mut cgroups);
            }
        }
        Ok(Snapshot {
            taken_at: Some(taken_at),
            host: self.host.clone(),
            netns: self.options.netns.label(),
            source,
            sockets,
            tcp_infos,
            cgroups,
            counters: self.kernel.counters(),
            limits: self.kernel.limits(),
            established_tier,
            ..Snapshot::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    #[test]
    fn a_socket_seen_twice_in_one_dump_counts_once_in_its_later_state() {
        let mut dedup = CookieDedup::default();
        let mut sockets = Vec::new();
        let local = "192.0.2.1:40000".parse().unwrap();
        let remote = "192.0.2.9:443".parse().unwrap();
        let mut first = Socket::new(TcpState::Established, local, remote);
        first.cookie = 7;
        let mut other = Socket::new(TcpState::Established, remote, local);
        other.cookie = 8;
        let mut again = Socket::new(TcpState::TimeWait, local, remote);
        again.cookie = 7;
        for s in [first, other, again] {
            dedup.push(&mut sockets, s);
        }
        dedup.finish(&mut sockets, &mut Vec::<()>::new());
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].state, TcpState::TimeWait);
        assert_eq!(sockets[1].cookie, 8);
        dedup.clear();
        let mut next = Vec::new();
        dedup.push(&mut next, first);
        dedup.finish(&mut next, &mut Vec::<()>::new());
        assert_eq!(next.len(), 1);
    }
}
