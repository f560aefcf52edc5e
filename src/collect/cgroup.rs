//! The cgroup and container behind each socket: cgroup ids (from the dump) to paths (a
//! walk of the cgroup v2 hierarchy, cached) to containers (the path's shape, names from
//! the host's files, cached per id).
//!
//! The id the kernel sends is the inode of the socket's cgroup v2 directory, fixed when
//! the socket was created. The hierarchy is walked once, then again only when a poll meets
//! an id the cache does not know (at most once per poll). A cgroup removed before its id
//! is looked up is simply unknown (no path, no container).

mod names;
mod runtime;

use std::collections::HashMap;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::model::{Cgroup, Cgroups, Socket, TcpState};

pub use names::{ContainerRoots, Names};
pub use runtime::container_of;

/// The cgroup v2 mount: where the hierarchy is, and which cgroup its top is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup2Mount {
    /// The mount point (`/sys/fs/cgroup`, `/sys/fs/cgroup/unified` on hybrid hosts).
    pub mount_point: PathBuf,
    /// The cgroup the mount shows at its top (`/` unless mounted inside a cgroup namespace).
    pub root: String,
}

/// The first `cgroup2` mount of a mountinfo text (the one whose root is `/` if several).
pub fn cgroup2_mount(mountinfo: &[u8]) -> Option<Cgroup2Mount> {
    use procfs::FromBufRead;
    let mounts = procfs::process::MountInfos::from_buf_read(mountinfo).ok()?;
    let mut found: Vec<Cgroup2Mount> = mounts
        .into_iter()
        .filter(|m| m.fs_type == "cgroup2")
        .map(|m| Cgroup2Mount {
            mount_point: m.mount_point,
            root: m.root,
        })
        .collect();
    let at = found.iter().position(|m| m.root == "/").unwrap_or(0);
    (!found.is_empty()).then(|| found.swap_remove(at))
}

/// Resolves a snapshot's cgroup ids to paths and containers (see the module notes).
#[derive(Debug)]
pub struct Resolver {
    mount: Option<Cgroup2Mount>,
    /// Every cgroup id the last walk found (and ids still in use it no longer finds) → path.
    paths: HashMap<u64, Arc<str>>,
    /// What each id resolved to, once looked at.
    resolved: HashMap<u64, Cgroup>,
    names: Names,
    walks: u64,
}

impl Resolver {
    /// A resolver for this host: the cgroup v2 mount from `/proc/self/mountinfo` (none:
    /// every id stays unknown), names under `roots`.
    pub fn new(roots: ContainerRoots) -> Resolver {
        let mount = crate::untrusted::read(Path::new("/proc/self/mountinfo"), 64 << 20)
            .ok()
            .and_then(|text| cgroup2_mount(&text));
        Resolver::with_mount(mount, roots)
    }

    /// A resolver for the hierarchy mounted at `mount`.
    pub fn with_mount(mount: Option<Cgroup2Mount>, roots: ContainerRoots) -> Resolver {
        Resolver {
            mount,
            paths: HashMap::new(),
            resolved: HashMap::new(),
            names: Names::new(roots),
            walks: 0,
        }
    }

    /// How many times the hierarchy was walked.
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// Give `cgroups` (a finished snapshot's) what each of its ids resolves to, walking
    /// the hierarchy again first if one of them is new.
    pub fn resolve(&mut self, cgroups: &mut Cgroups) {
        let ids = cgroups.ids();
        if ids.iter().any(|id| !self.resolved.contains_key(id)) {
            if ids.iter().any(|id| !self.paths.contains_key(id)) {
                self.walk(&ids);
            }
            for &id in &ids {
                if !self.resolved.contains_key(&id) {
                    let cgroup = self.look_up(id);
                    self.resolved.insert(id, cgroup);
                }
            }
        }
        // Forget cgroups no socket is in any more (containers come and go).
        if self.resolved.len() > 2 * ids.len() + 64 {
            self.resolved.retain(|id, _| ids.binary_search(id).is_ok());
        }
        cgroups.set_known(
            ids.iter()
                .filter_map(|id| self.resolved.get(id).cloned())
                .collect(),
        );
    }

    fn look_up(&mut self, id: u64) -> Cgroup {
        let path = self.paths.get(&id).cloned();
        let container = path.as_deref().and_then(container_of).map(|mut c| {
            self.names.name(&mut c);
            Arc::new(c)
        });
        // An id never found is looked at again at the next walk.
        Cgroup {
            id,
            path,
            container,
        }
    }

    /// Walk the hierarchy anew, keeping the paths of `in_use` ids it no longer finds.
    fn walk(&mut self, in_use: &[u64]) {
        let Some(mount) = &self.mount else {
            return;
        };
        self.walks += 1;
        let mut paths = HashMap::with_capacity(self.paths.len());
        let top = mount.root.trim_end_matches('/');
        if let Ok(meta) = std::fs::metadata(&mount.mount_point) {
            use std::os::unix::fs::MetadataExt;
            paths.insert(
                meta.ino(),
                Arc::from(if top.is_empty() { "/" } else { top }),
            );
        }
        walk_dir(&mount.mount_point, top, &mut paths);
        for id in in_use {
            if let Some(old) = self.paths.get(id)
                && !paths.contains_key(id)
            {
                paths.insert(*id, Arc::clone(old));
            }
        }
        self.paths = paths;
        // Ids that resolved to nothing get another chance with the new walk.
        self.resolved.retain(|_, c| c.path.is_some());
    }
}

/// Add every directory below `dir` (shown as `shown`) to `paths`, by inode. Directories
/// that vanish or cannot be read mid-walk are skipped.
fn walk_dir(dir: &Path, shown: &str, paths: &mut HashMap<u64, Arc<str>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let child = format!("{shown}/{name}");
        walk_dir(&entry.path(), &child, paths);
        paths.insert(entry.ino(), Arc::from(child));
    }
}

/// Give TIME_WAIT and request sockets (which carry no cgroup id) their listener's: the
/// LISTEN sockets of the same family on their local port, at their address or the
/// wildcard, when those are all in one cgroup. Those no listener explains (a client's
/// TIME_WAIT, the usual churn of outbound connections) take their namespace's cgroup when
/// every full socket of the dump is in that one (a container's own namespace): in any
/// other case they stay without one.
pub fn inherit_from_listeners(sockets: &[Socket], cgroups: &mut Cgroups) {
    let mut listeners: HashMap<u16, Vec<(&Socket, u64)>> = HashMap::new();
    for s in sockets.iter().filter(|s| s.state == TcpState::Listen) {
        if let Some(id) = cgroups.id_of(s) {
            listeners.entry(s.local.port()).or_default().push((s, id));
        }
    }
    let only = cgroups.only_id();
    if listeners.is_empty() && only.is_none() {
        return;
    }
    let mut inherited = Vec::new();
    for s in sockets {
        if !matches!(s.state, TcpState::TimeWait | TcpState::SynRecv) || s.cookie == 0 {
            continue;
        }
        let mut ids = listeners
            .get(&s.local.port())
            .into_iter()
            .flatten()
            .filter(|(l, _)| {
                l.local.is_ipv4() == s.local.is_ipv4()
                    && (l.local.ip() == s.local.ip() || l.local.ip().is_unspecified())
            })
            .map(|&(_, id)| id);
        let id = match ids.next() {
            Some(first) => ids.all(|id| id == first).then_some(first),
            None => only,
        };
        if let Some(id) = id
            && cgroups.id_of(s).is_none()
        {
            inherited.push((s.cookie, id));
        }
    }
    for (cookie, id) in inherited {
        cgroups.insert(cookie, id);
    }
}

#[cfg(test)]
mod tests;
