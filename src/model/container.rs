//! The cgroup and container behind a socket.
//!
//! The kernel tells each full socket's cgroup v2 id (the inode of the cgroup directory the
//! creating task was in); the collector turns ids into paths and paths into containers. A
//! snapshot keeps them beside its sockets ([`Cgroups`]), not in each [`Socket`](super::Socket):
//! the record is exactly 80 bytes with no padding left to reuse (a `u64`, even a `u32`
//! index, would make it 88, a tenth more for every socket of a million), only full sockets
//! have an id, and keying by cookie (as `tcp_info` is) keeps ids right through the
//! collector's de-duplication, the carried-over ESTABLISHED tier and filtered copies.

use std::fmt;
use std::sync::Arc;

use crate::hash::{FastMap, FastSet};

/// The software that made a container (or the service manager, for a plain unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Runtime {
    /// Docker (`docker-<id>.scope`, `/docker/<id>`).
    Docker,
    /// containerd, mostly under Kubernetes' CRI (`cri-containerd-<id>.scope`).
    Containerd,
    /// CRI-O (`crio-<id>.scope`).
    Crio,
    /// Podman (`libpod-<id>.scope`).
    Podman,
    /// A systemd service (`nginx.service`): the id is the unit name.
    Systemd,
}

impl Runtime {
    /// `docker`, `containerd`, `crio`, `podman` or `systemd`: also the JSON spelling.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Podman => "podman",
            Runtime::Systemd => "systemd",
        }
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// The Kubernetes pod a container belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pod {
    /// Its Kubernetes namespace; `None` when the host has no `/var/log/pods` entry for it.
    pub namespace: Option<String>,
    /// Its name; `None` when unknown, as `namespace`.
    pub name: Option<String>,
    /// Its uid, dashed (`0b9e…-…`), as the cgroup path names it.
    pub uid: String,
}

/// A container (or systemd service) as its cgroup path names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Container {
    /// The full container id (64 hex digits for Docker), or the unit name for systemd.
    pub id: String,
    /// Its name, where the host keeps one (Docker's `config.v2.json`).
    pub name: Option<String>,
    /// Who made it.
    pub runtime: Runtime,
    /// Its pod, for a Kubernetes container (or a pod-level cgroup with no container id).
    pub pod: Option<Pod>,
}

impl Container {
    /// The short form anomaly subjects and tables use: `docker:3f2a1c9e0b7d`
    /// (a 12-character id prefix, or the whole unit name for systemd).
    pub fn short(&self) -> String {
        let id = match self.runtime {
            Runtime::Systemd => self.id.as_str(),
            _ => self.id.get(..12).unwrap_or(&self.id),
        };
        format!("{}:{id}", self.runtime)
    }

    /// The short form followed by the name or pod in parentheses when known:
    /// `docker:3f2a1c9e0b7d (web-1)`, `containerd:5c1f… (shop/cart-7d9f)`.
    pub fn label(&self) -> String {
        let short = self.short();
        match (&self.name, &self.pod) {
            (Some(name), _) => format!("{short} ({name})"),
            (
                None,
                Some(Pod {
                    namespace: Some(ns),
                    name: Some(name),
                    ..
                }),
            ) => format!("{short} ({ns}/{name})"),
            _ => short,
        }
    }

    /// Whether `text` names it: a prefix of its id, its name, or its pod's name.
    pub fn is_named(&self, text: &str) -> bool {
        !text.is_empty()
            && (self.id.starts_with(text)
                || self.name.as_deref() == Some(text)
                || self.pod.as_ref().and_then(|p| p.name.as_deref()) == Some(text))
    }
}

/// One cgroup that holds sockets of a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// The kernel's cgroup id (the inode of its cgroup v2 directory).
    pub id: u64,
    /// Its path below the cgroup v2 mount (`/system.slice/docker-<id>.scope`); `None` when
    /// the id could not be found (removed since, or no cgroup v2 mount).
    pub path: Option<Arc<str>>,
    /// The container the path names, if any.
    pub container: Option<Arc<Container>>,
}

/// The cgroups of a snapshot's sockets, kept beside them (see the module notes). The ids
/// are in a hash map by cookie, not a sorted list: the collector fills it during the dump
/// (no sort after it), and the outputs look sockets up in dump order, which would make a
/// binary search miss the cache at every step.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cgroups {
    /// Cookie → cgroup id.
    by_cookie: FastMap<u64, u64>,
    /// Every distinct id of `by_cookie`.
    distinct: FastSet<u64>,
    /// The id inserted last: sockets of one cgroup often come in runs.
    last: u64,
    /// Every distinct id with what it resolved to, sorted by id.
    known: Vec<Cgroup>,
}

impl Cgroups {
    /// Record that the socket with `cookie` is in cgroup `id` (0, or a cookie of 0: none);
    /// of a cookie inserted twice (a socket the dump reported twice), the later stays.
    pub fn insert(&mut self, cookie: u64, id: u64) {
        if cookie == 0 || id == 0 {
            return;
        }
        // A socket keeps the cgroup it was created in: a second sighting of a cookie has
        // the same id, so the id it replaces needs no removal from `distinct`.
        self.by_cookie.insert(cookie, id);
        if id != self.last {
            self.distinct.insert(id);
            self.last = id;
        }
    }

    /// The cgroup id of the socket with `cookie`.
    pub fn id_of(&self, cookie: u64) -> Option<u64> {
        if cookie == 0 {
            return None;
        }
        self.by_cookie.get(&cookie).copied()
    }

    /// The distinct ids, in order.
    pub fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.distinct.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Set what the ids resolved to (any order; ids no socket has are kept too).
    pub fn set_known(&mut self, mut known: Vec<Cgroup>) {
        known.sort_by_key(|c| c.id);
        known.dedup_by_key(|c| c.id);
        self.known = known;
    }

    /// The cgroup of the socket with `cookie`.
    pub fn of(&self, cookie: u64) -> Option<&Cgroup> {
        let id = self.id_of(cookie)?;
        let at = self.known.binary_search_by_key(&id, |c| c.id).ok()?;
        Some(&self.known[at])
    }

    /// Every cgroup that holds a socket, by id.
    pub fn known(&self) -> &[Cgroup] {
        &self.known
    }

    /// Whether any socket is in a container.
    pub fn any_container(&self) -> bool {
        self.known.iter().any(|c| c.container.is_some())
    }

    /// Whether the sockets are told apart by cgroup: they are in more than one cgroup, or
    /// any is in a container. `false` on a host where every socket is in one plain cgroup
    /// (`/`), and when the kernel told no cgroup at all.
    pub fn mixed(&self) -> bool {
        self.distinct.len() > 1 || self.any_container()
    }

    /// How many sockets have a cgroup id.
    pub fn len(&self) -> usize {
        self.by_cookie.len()
    }

    /// Whether no socket has one.
    pub fn is_empty(&self) -> bool {
        self.by_cookie.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(name: Option<&str>) -> Container {
        Container {
            id: "3f2a1c9e0b7d4c5a8e6f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d".into(),
            name: name.map(str::to_owned),
            runtime: Runtime::Docker,
            pod: None,
        }
    }

    #[test]
    fn a_container_label_has_a_twelve_character_id_and_its_name() {
        assert_eq!(docker(Some("web-1")).label(), "docker:3f2a1c9e0b7d (web-1)");
        assert_eq!(docker(None).label(), "docker:3f2a1c9e0b7d");
        let unit = Container {
            id: "nginx.service".into(),
            name: None,
            runtime: Runtime::Systemd,
            pod: None,
        };
        assert_eq!(unit.label(), "systemd:nginx.service");
    }

    #[test]
    fn a_container_is_named_by_id_prefix_name_or_pod_name() {
        let mut c = docker(Some("web-1"));
        c.pod = Some(Pod {
            namespace: Some("shop".into()),
            name: Some("cart-0".into()),
            uid: "u".into(),
        });
        assert!(c.is_named("3f2a"));
        assert!(c.is_named("web-1"));
        assert!(c.is_named("cart-0"));
        assert!(!c.is_named("web"));
        assert!(!c.is_named(""));
        assert!(!c.is_named("shop"));
    }

    #[test]
    fn cgroups_are_found_by_cookie_and_a_later_sighting_wins() {
        let mut cg = Cgroups::default();
        // A socket keeps its cgroup for life: cookie 9 seen twice (ESTABLISHED, then
        // FIN_WAIT1 as the dump walks on) has the same id both times.
        for (cookie, id) in [(9, 200), (3, 100), (0, 300), (9, 200), (5, 0), (4, 100)] {
            cg.insert(cookie, id);
        }
        assert_eq!(cg.len(), 3);
        assert_eq!(cg.id_of(9), Some(200));
        assert_eq!(cg.id_of(3), Some(100));
        assert_eq!(cg.id_of(5), None);
        assert_eq!(cg.ids(), vec![100, 200]);
        let mut cg = Cgroups::default();
        for (cookie, id) in [(9, 200), (3, 200)] {
            cg.insert(cookie, id);
        }
        assert_eq!(cg.ids(), vec![200]);
        assert_eq!(cg.of(9), None, "not resolved yet");
        assert!(!cg.mixed(), "one plain cgroup");
        cg.set_known(vec![Cgroup {
            id: 200,
            path: Some("/a".into()),
            container: None,
        }]);
        assert_eq!(cg.of(9).and_then(|c| c.path.as_deref()), Some("/a"));
        assert!(!cg.any_container());
        assert!(!cg.mixed());
        cg.insert(7, 300);
        assert!(cg.mixed(), "two cgroups");
        assert!(!Cgroups::default().mixed());
    }
}
