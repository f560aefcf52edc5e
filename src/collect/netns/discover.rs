//! Every network namespace on the host, for `--all-netns`: the host's own, the names under
//! `/run/netns` (`ip netns add`), Docker's handles under `/var/run/docker/netns`, and every
//! namespace some process is in (`/proc/*/ns/net`) — unique by nsfs (device, inode).
//!
//! A namespace is named, in this order of preference: `host` for sockscope's own; its name
//! under `/run/netns`; the container its lowest-pid process is in (from that process's
//! cgroup, as [`Container::label`] prints it); its file name under Docker's directory;
//! `comm[pid]` of its lowest pid. Entries that vanish or cannot be read while the directories
//! are listed (a process exiting mid-walk, a handle deleted) are skipped, never an error:
//! what is found is what existed at some moment of the walk.
//!
//! [`Container::label`]: crate::model::Container::label

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{NETNS_RUN_DIR, NetnsId};
use crate::collect::cgroup::{ContainerRoots, Names, container_of};

/// Where Docker keeps a handle on each container's network namespace.
pub const DOCKER_NETNS_DIR: &str = "/var/run/docker/netns";

/// One network namespace found on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Its identity (nsfs device and inode).
    pub id: NetnsId,
    /// What the reports call it (see the [module documentation](self) for the order).
    pub name: String,
    /// The container its lowest-pid process is in, as `Container::label` prints it.
    pub container: Option<String>,
    /// Files that lead to it, best first (`/run/netns/NAME`, Docker's handle,
    /// `/proc/PID/ns/net` of its lowest pid); empty for sockscope's own namespace, which
    /// needs no entering.
    pub handles: Vec<PathBuf>,
}

impl Namespace {
    /// Whether this is the namespace sockscope runs in.
    pub fn is_own(&self) -> bool {
        self.handles.is_empty()
    }

    /// Its name, inode and container, as outputs label it.
    pub fn label(&self) -> crate::model::NetnsLabel {
        crate::model::NetnsLabel {
            name: self.name.clone(),
            inode: self.id.inode,
            container: self.container.clone(),
        }
    }
}

/// Where a namespace was seen, as the walk found it (the pure input of [`merge`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsSighting {
    /// Sockscope's own namespace.
    Own(NetnsId),
    /// A handle under `/run/netns` named `name`.
    Named {
        /// The namespace.
        id: NetnsId,
        /// The file name.
        name: String,
    },
    /// A handle under Docker's directory.
    Docker {
        /// The namespace.
        id: NetnsId,
        /// The file name.
        name: String,
    },
    /// A process in it.
    Process {
        /// The namespace.
        id: NetnsId,
        /// The process.
        pid: u32,
    },
}

/// What [`merge`] learns of a namespace's lowest-pid process: its `comm` and the label of
/// the container its cgroup names, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessName {
    /// `/proc/PID/comm`.
    pub comm: String,
    /// The container label, when its cgroup names one.
    pub container: Option<String>,
}

/// Every network namespace on the host now, sockscope's own first, then by name. Container
/// names are read under `roots`.
pub fn discover(roots: &ContainerRoots) -> Vec<Namespace> {
    let mut sightings = Vec::new();
    if let Some(id) = super::own() {
        sightings.push(NetnsSighting::Own(id));
    }
    for (name, id) in handles_in(Path::new(NETNS_RUN_DIR)) {
        sightings.push(NetnsSighting::Named { id, name });
    }
    for (name, id) in handles_in(Path::new(DOCKER_NETNS_DIR)) {
        sightings.push(NetnsSighting::Docker { id, name });
    }
    if let Ok(proc) = std::fs::read_dir("/proc") {
        for entry in proc.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            // A process that exits here, or whose namespace cannot be read, is skipped.
            if let Some(id) = id_of(&entry.path().join("ns/net")) {
                sightings.push(NetnsSighting::Process { id, pid });
            }
        }
    }
    let mut names = Names::new(roots.clone());
    merge(sightings, |pid| describe(pid, &mut names))
}

/// The namespaces `sightings` describe, one per identity, sockscope's own first and the
/// rest sorted by name (then inode). `describe` is asked about the lowest pid of each
/// namespace that some process is in, once; `None` (the process has gone) leaves it out of
/// the naming.
pub fn merge(
    sightings: Vec<NetnsSighting>,
    mut describe: impl FnMut(u32) -> Option<ProcessName>,
) -> Vec<Namespace> {
    #[derive(Default)]
    struct NetnsFacts {
        own: bool,
        named: Option<String>,
        docker: Option<String>,
        lowest_pid: Option<u32>,
    }
    let mut seen: BTreeMap<(u64, u64), NetnsFacts> = BTreeMap::new();
    for sighting in sightings {
        let key = |id: NetnsId| (id.dev, id.inode);
        match sighting {
            NetnsSighting::Own(id) => seen.entry(key(id)).or_default().own = true,
            NetnsSighting::Named { id, name } => {
                let s = seen.entry(key(id)).or_default();
                if s.named.as_ref().is_none_or(|n| name < *n) {
                    s.named = Some(name);
                }
            }
            NetnsSighting::Docker { id, name } => {
                let s = seen.entry(key(id)).or_default();
                if s.docker.as_ref().is_none_or(|n| name < *n) {
                    s.docker = Some(name);
                }
            }
            NetnsSighting::Process { id, pid } => {
                let s = seen.entry(key(id)).or_default();
                s.lowest_pid = Some(s.lowest_pid.map_or(pid, |p| p.min(pid)));
            }
        }
    }
    let mut namespaces: Vec<Namespace> = seen
        .into_iter()
        .map(|((dev, inode), s)| {
            let process = s.lowest_pid.and_then(|pid| Some((pid, describe(pid)?)));
            let container = process.as_ref().and_then(|(_, p)| p.container.clone());
            let name = if s.own {
                "host".to_owned()
            } else if let Some(name) = &s.named {
                name.clone()
            } else if let Some(label) = &container {
                label.clone()
            } else if let Some(name) = &s.docker {
                name.clone()
            } else if let Some((pid, p)) = &process {
                format!("{}[{pid}]", p.comm)
            } else {
                format!("net:[{inode}]")
            };
            let mut handles = Vec::new();
            if !s.own {
                if let Some(name) = &s.named {
                    handles.push(Path::new(NETNS_RUN_DIR).join(name));
                }
                if let Some(name) = &s.docker {
                    handles.push(Path::new(DOCKER_NETNS_DIR).join(name));
                }
                if let Some(pid) = s.lowest_pid {
                    handles.push(PathBuf::from(format!("/proc/{pid}/ns/net")));
                }
            }
            Namespace {
                id: NetnsId { dev, inode },
                name,
                container,
                handles,
            }
        })
        .collect();
    namespaces.sort_by(|a, b| {
        (!a.is_own(), &a.name, a.id.inode).cmp(&(!b.is_own(), &b.name, b.id.inode))
    });
    namespaces
}

/// The namespace a handle leads to; `None` when it is gone, unreadable or not on nsfs.
fn id_of(path: &Path) -> Option<NetnsId> {
    std::fs::metadata(path).ok().map(|m| NetnsId::of(&m))
}

/// The handles in a directory of namespace handles, by file name (`None` entries skipped).
fn handles_in(dir: &Path) -> Vec<(String, NetnsId)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name, id_of(&e.path())?))
        })
        .collect()
}

/// `comm` and container of a process; `None` when it has gone.
fn describe(pid: u32, names: &mut Names) -> Option<ProcessName> {
    let read = |file: &str, max| {
        crate::untrusted::read_to_string(Path::new(&format!("/proc/{pid}/{file}")), max)
    };
    let comm = read("comm", 64).ok()?;
    let cgroup = read("cgroup", 64 << 10).unwrap_or_default();
    let container = cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .and_then(container_of)
        .map(|mut c| {
            names.name(&mut c);
            c.label()
        });
    Some(ProcessName {
        comm: comm.trim_end_matches('\n').to_owned(),
        container,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(inode: u64) -> NetnsId {
        NetnsId { dev: 4, inode }
    }

    fn named(comm: &str, container: Option<&str>) -> ProcessName {
        ProcessName {
            comm: comm.to_owned(),
            container: container.map(str::to_owned),
        }
    }

    #[test]
    fn each_namespace_appears_once_however_often_it_is_seen() {
        let sightings = vec![
            NetnsSighting::Own(id(1)),
            NetnsSighting::Process { id: id(1), pid: 1 },
            NetnsSighting::Process { id: id(1), pid: 7 },
            NetnsSighting::Named {
                id: id(2),
                name: "web".into(),
            },
            NetnsSighting::Process { id: id(2), pid: 90 },
            NetnsSighting::Process { id: id(2), pid: 40 },
            NetnsSighting::Named {
                id: id(2),
                name: "alias".into(),
            },
        ];
        let mut asked = Vec::new();
        let found = merge(sightings, |pid| {
            asked.push(pid);
            Some(named("x", None))
        });
        assert_eq!(asked, [1, 40], "the lowest pid of each, once");
        let summary: Vec<(u64, &str, usize)> = found
            .iter()
            .map(|n| (n.id.inode, n.name.as_str(), n.handles.len()))
            .collect();
        assert_eq!(summary, [(1, "host", 0), (2, "alias", 2)]);
        assert_eq!(
            found[1].handles,
            [
                PathBuf::from("/run/netns/alias"),
                PathBuf::from("/proc/40/ns/net")
            ]
        );
    }

    #[test]
    fn names_prefer_ip_netns_then_container_then_docker_then_comm() {
        let sightings = vec![
            NetnsSighting::Named {
                id: id(10),
                name: "lab".into(),
            },
            NetnsSighting::Process { id: id(10), pid: 5 },
            NetnsSighting::Docker {
                id: id(11),
                name: "a1b2c3".into(),
            },
            NetnsSighting::Process { id: id(11), pid: 6 },
            NetnsSighting::Docker {
                id: id(12),
                name: "d4e5f6".into(),
            },
            NetnsSighting::Process { id: id(12), pid: 7 },
            NetnsSighting::Process { id: id(13), pid: 8 },
            NetnsSighting::Process { id: id(14), pid: 9 },
        ];
        let found = merge(sightings, |pid| match pid {
            5 => Some(named("holder", Some("docker:aaaaaaaaaaaa (db)"))),
            6 => Some(named("nginx", Some("docker:3f2a1c9e0b7d (web-1)"))),
            7 => Some(named("sleep", None)),
            8 => Some(named("leaky-app", None)),
            _ => None,
        });
        let names: Vec<(u64, &str, Option<&str>)> = found
            .iter()
            .map(|n| (n.id.inode, n.name.as_str(), n.container.as_deref()))
            .collect();
        assert_eq!(
            names,
            [
                (12, "d4e5f6", None),
                (
                    11,
                    "docker:3f2a1c9e0b7d (web-1)",
                    Some("docker:3f2a1c9e0b7d (web-1)")
                ),
                (10, "lab", Some("docker:aaaaaaaaaaaa (db)")),
                (13, "leaky-app[8]", None),
                (14, "net:[14]", None),
            ]
        );
    }

    #[test]
    fn the_host_s_own_namespace_comes_first_and_needs_no_handle() {
        let found = merge(
            vec![
                NetnsSighting::Named {
                    id: id(3),
                    name: "aaa".into(),
                },
                NetnsSighting::Own(id(9)),
            ],
            |_| None,
        );
        assert_eq!(found[0].name, "host");
        assert!(found[0].is_own());
        assert_eq!(found[1].name, "aaa");
    }

    #[test]
    fn this_host_s_namespace_is_discovered_as_host() {
        let found = discover(&ContainerRoots::default());
        let own = id_of(Path::new("/proc/self/ns/net"));
        assert_eq!(found.first().map(|n| Some(n.id)), Some(own));
        assert_eq!(found[0].name, "host");
        let mut ids: Vec<_> = found.iter().map(|n| (n.id.dev, n.id.inode)).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), found.len(), "unique by identity");
    }
}
