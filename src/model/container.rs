//! The cgroup and container behind a socket.
//!
//! The kernel tells each full socket's cgroup v2 id (the inode of the cgroup directory the
//! creating task was in); the collector turns ids into paths and paths into containers. A
//! snapshot keeps them beside its sockets ([`Cgroups`]), not in each [`Socket`](super::Socket):
//! the record is exactly 80 bytes with no padding left to reuse (a `u64`, even a `u32`
//! index, would make it 88, a tenth more for every socket of a million), only full sockets
//! have an id, and keying by cookie keeps ids right through the collector's de-duplication,
//! the carried-over ESTABLISHED tier and filtered copies. Most sockets of a host are in one
//! cgroup (a load balancer's million in its service's): that one is kept once, as the
//! dominant id, and only the sockets in another are kept by cookie.

use std::fmt;
use std::sync::Arc;

use super::{Socket, TcpState};
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

/// The cgroups of a snapshot's sockets, kept beside them (see the module notes). The full
/// sockets in the dominant cgroup (the first one a dump told) are kept as that one id;
/// only the others are kept by cookie, in a hash map (the collector fills it during the
/// dump, and the outputs look sockets up in dump order, where a binary search would miss
/// the cache at every step). At a million sockets in one cgroup that is no map at all
/// rather than 34 MB, and no hashing on the dump's path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Cgroups {
    /// The id of every full socket that is not in `by_cookie` (0: none yet).
    dominant: u64,
    /// Cookie → cgroup id of the sockets not in the dominant one; 0 for a full socket the
    /// kernel told no id of.
    by_cookie: FastMap<u64, u64>,
    /// Full sockets told no id before the dominant one was known.
    without_before_dominant: Vec<u64>,
    /// Every distinct id (not 0) of the sockets.
    distinct: FastSet<u64>,
    /// The id recorded last: sockets of one cgroup often come in runs.
    last: u64,
    /// Every distinct id with what it resolved to, sorted by id.
    known: Vec<Cgroup>,
}

/// [`Cgroups`] taken apart into plain values, for a recording to keep and to put back
/// together exactly ([`Cgroups::parts`], [`Cgroups::from_parts`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CgroupsParts {
    /// The id of every full socket not in `by_cookie` (0: none).
    pub dominant: u64,
    /// Cookie → id of the sockets not in the dominant cgroup (0: told none), by cookie.
    pub by_cookie: Vec<(u64, u64)>,
    /// Full sockets told no id while no dominant id was known.
    pub without_before_dominant: Vec<u64>,
    /// Every distinct id, in order.
    pub distinct: Vec<u64>,
    /// The id recorded last.
    pub last: u64,
    /// What the ids resolved to, by id.
    pub known: Vec<Cgroup>,
}

/// Whether the kernel tells `state`'s sockets' cgroup: full sockets do; TIME_WAIT and
/// request (SYN_RECV) sockets are not full sockets and carry none.
fn is_full(state: TcpState) -> bool {
    !matches!(state, TcpState::TimeWait | TcpState::SynRecv)
}

impl Cgroups {
    /// Record what a dump told of `socket`: its cgroup `id` (0: none). Of a cookie
    /// recorded twice (a socket the dump reported twice), the later stays.
    pub fn record(&mut self, socket: &Socket, id: u64) {
        let cookie = socket.cookie;
        if cookie == 0 {
            return;
        }
        if !is_full(socket.state) {
            // A request or TIME_WAIT socket: the kernel sends none (a fast-open request
            // socket is a full one, and has one).
            if id != 0 {
                self.insert(cookie, id);
            }
            return;
        }
        if id == 0 {
            if self.dominant == 0 {
                self.without_before_dominant.push(cookie);
            } else {
                self.by_cookie.insert(cookie, 0);
            }
            return;
        }
        if self.dominant == 0 {
            self.dominant = id;
            for cookie in std::mem::take(&mut self.without_before_dominant) {
                self.by_cookie.insert(cookie, 0);
            }
        }
        if id != self.dominant {
            self.by_cookie.insert(cookie, id);
        } else if !self.by_cookie.is_empty() {
            // Seen before in another cgroup (not for a real socket: it keeps its cgroup
            // for life; the later sighting wins all the same).
            self.by_cookie.remove(&cookie);
        }
        self.note_distinct(id);
    }

    /// Its parts, as plain values (see [`CgroupsParts`]).
    pub fn parts(&self) -> CgroupsParts {
        let mut by_cookie: Vec<(u64, u64)> = self.by_cookie.iter().map(|(&c, &i)| (c, i)).collect();
        by_cookie.sort_unstable();
        CgroupsParts {
            dominant: self.dominant,
            by_cookie,
            without_before_dominant: self.without_before_dominant.clone(),
            distinct: self.ids(),
            last: self.last,
            known: self.known.clone(),
        }
    }

    /// The cgroups `parts` describes: the same as the one they were taken from.
    pub fn from_parts(parts: CgroupsParts) -> Cgroups {
        Cgroups {
            dominant: parts.dominant,
            by_cookie: parts.by_cookie.into_iter().collect(),
            without_before_dominant: parts.without_before_dominant,
            distinct: parts.distinct.into_iter().collect(),
            last: parts.last,
            known: parts.known,
        }
    }

    /// Record that the socket with `cookie` is in cgroup `id` whatever its state (a
    /// TIME_WAIT socket given its listener's); 0, or a cookie of 0: nothing.
    pub fn insert(&mut self, cookie: u64, id: u64) {
        if cookie == 0 || id == 0 {
            return;
        }
        self.by_cookie.insert(cookie, id);
        self.note_distinct(id);
    }

    fn note_distinct(&mut self, id: u64) {
        if id != self.last {
            self.distinct.insert(id);
            self.last = id;
        }
    }

    /// The cgroup id of `socket`.
    pub fn id_of(&self, socket: &Socket) -> Option<u64> {
        if socket.cookie == 0 {
            return None;
        }
        if !self.by_cookie.is_empty()
            && let Some(&id) = self.by_cookie.get(&socket.cookie)
        {
            return (id != 0).then_some(id);
        }
        (self.dominant != 0 && is_full(socket.state)).then_some(self.dominant)
    }

    /// The one cgroup every full socket recorded is in, if they are all in one (and the
    /// kernel told each its id).
    pub fn only_id(&self) -> Option<u64> {
        let mut ids = self.distinct.iter();
        match (ids.next(), ids.next()) {
            (Some(&id), None)
                if self.without_before_dominant.is_empty()
                    && self.by_cookie.values().all(|&other| other == id) =>
            {
                Some(id)
            }
            _ => None,
        }
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

    /// The cgroup of `socket`.
    pub fn of(&self, socket: &Socket) -> Option<&Cgroup> {
        let id = self.id_of(socket)?;
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

    /// Whether no socket has a cgroup id.
    pub fn is_empty(&self) -> bool {
        self.distinct.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::socket;

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

    fn established(cookie: u64) -> Socket {
        socket(TcpState::Established).cookie(cookie)
    }

    #[test]
    fn cgroups_are_found_by_cookie_and_a_later_sighting_wins() {
        let mut cg = Cgroups::default();
        // A socket keeps its cgroup for life: cookie 9 seen twice (ESTABLISHED, then
        // FIN_WAIT1 as the dump walks on) has the same id both times.
        for (cookie, id) in [(9, 200), (3, 100), (0, 300), (9, 200), (5, 0), (4, 100)] {
            cg.record(&established(cookie), id);
        }
        assert_eq!(cg.id_of(&established(9)), Some(200));
        assert_eq!(cg.id_of(&socket(TcpState::FinWait1).cookie(9)), Some(200));
        assert_eq!(cg.id_of(&established(3)), Some(100));
        assert_eq!(cg.id_of(&established(4)), Some(100));
        assert_eq!(cg.id_of(&established(5)), None, "told none");
        assert_eq!(cg.id_of(&established(0)), None, "no cookie");
        assert_eq!(cg.ids(), vec![100, 200]);
        let mut cg = Cgroups::default();
        for (cookie, id) in [(9, 200), (3, 200)] {
            cg.record(&established(cookie), id);
        }
        assert_eq!(cg.ids(), vec![200]);
        assert_eq!(cg.of(&established(9)), None, "not resolved yet");
        assert!(!cg.mixed(), "one plain cgroup");
        cg.set_known(vec![Cgroup {
            id: 200,
            path: Some("/a".into()),
            container: None,
        }]);
        assert_eq!(
            cg.of(&established(9)).and_then(|c| c.path.as_deref()),
            Some("/a")
        );
        assert!(!cg.any_container());
        assert!(!cg.mixed());
        cg.insert(7, 300);
        assert!(cg.mixed(), "two cgroups");
        assert!(!Cgroups::default().mixed());
    }

    #[test]
    fn the_dominant_cgroup_is_kept_once_and_only_the_others_by_cookie() {
        let mut cg = Cgroups::default();
        // Told none before any id, then a million-socket service's cgroup, one socket in
        // another, one told none after, and a TIME_WAIT socket (never told one).
        cg.record(&socket(TcpState::Close).cookie(1), 0);
        for cookie in 2..1000 {
            cg.record(&established(cookie), 500);
        }
        cg.record(&established(1000), 600);
        cg.record(&socket(TcpState::Close).cookie(1001), 0);
        cg.record(&socket(TcpState::TimeWait).cookie(1002), 0);
        assert_eq!(
            cg.by_cookie.len(),
            3,
            "1, 1000 and 1001, not the 998 in 500"
        );
        assert_eq!(cg.id_of(&socket(TcpState::Close).cookie(1)), None);
        assert_eq!(cg.id_of(&established(2)), Some(500));
        assert_eq!(cg.id_of(&established(999)), Some(500));
        assert_eq!(cg.id_of(&established(1000)), Some(600));
        assert_eq!(cg.id_of(&socket(TcpState::Close).cookie(1001)), None);
        assert_eq!(cg.id_of(&socket(TcpState::TimeWait).cookie(1002)), None);
        assert_eq!(cg.id_of(&socket(TcpState::SynRecv).cookie(1003)), None);
        assert_eq!(cg.ids(), vec![500, 600]);
        // A TIME_WAIT socket given its listener's cgroup; a fast-open request socket
        // (a full socket in SYN_RECV) told its own.
        cg.insert(1002, 500);
        cg.record(&socket(TcpState::SynRecv).cookie(1004), 600);
        assert_eq!(
            cg.id_of(&socket(TcpState::TimeWait).cookie(1002)),
            Some(500)
        );
        assert_eq!(cg.id_of(&socket(TcpState::SynRecv).cookie(1004)), Some(600));
        // The later of two sightings wins, back into the dominant one too.
        cg.record(&established(1000), 500);
        assert_eq!(cg.id_of(&established(1000)), Some(500));
        assert!(!cg.is_empty());
        assert!(Cgroups::default().is_empty());
    }
}
