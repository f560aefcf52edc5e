//! The containers of each process, from its sockets' cgroups: the one its sockets are
//! mostly in (the processes view), and the container behind a process anomaly, named only
//! when every socket of the process that is in a container is in that one.

use std::sync::Arc;

use super::anomaly::{Anomaly, Subject};
use crate::model::{Container, Snapshot};

/// The containers the sockets of each process are in, with how many of its sockets each
/// holds. Indexed like the snapshot's processes; empty when no socket is in a container.
#[derive(Debug, Default)]
pub(crate) struct ProcessContainers {
    per_process: Vec<Vec<(Arc<Container>, u64)>>,
}

impl ProcessContainers {
    /// Count, for every process, its sockets per container. One pass over the sockets
    /// (a cookie lookup each, none when no socket is in a container).
    pub(crate) fn of(snapshot: &Snapshot) -> ProcessContainers {
        let cgroups = &snapshot.cgroups;
        if !cgroups.any_container() {
            return ProcessContainers::default();
        }
        let known = cgroups.known();
        // Positions in `known` per process, with counts: most processes have one.
        let mut by_cgroup: Vec<Vec<(usize, u64)>> = vec![Vec::new(); snapshot.processes.len()];
        // Sockets of one cgroup often come in runs: the last id and where it is.
        let mut last: Option<(u64, Option<usize>)> = None;
        for socket in &snapshot.sockets {
            let owners = snapshot.owner_indices(socket);
            if owners.is_empty() {
                continue;
            }
            let Some(id) = cgroups.id_of(socket) else {
                continue;
            };
            let at = match last {
                Some((last_id, at)) if last_id == id => at,
                _ => {
                    let at = known
                        .binary_search_by_key(&id, |c| c.id)
                        .ok()
                        .filter(|&i| known[i].container.is_some());
                    last = Some((id, at));
                    at
                }
            };
            let Some(at) = at else {
                continue;
            };
            for &owner in owners {
                let Some(counts) = by_cgroup.get_mut(owner as usize) else {
                    continue;
                };
                match counts.iter_mut().find(|(i, _)| *i == at) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((at, 1)),
                }
            }
        }
        // Two cgroups can name one container (a container's own sub-cgroups).
        let per_process = by_cgroup
            .into_iter()
            .map(|counts| {
                let mut merged: Vec<(Arc<Container>, u64)> = Vec::with_capacity(counts.len());
                for (at, n) in counts {
                    let Some(container) = &known[at].container else {
                        continue;
                    };
                    match merged.iter_mut().find(|(c, _)| c == container) {
                        Some((_, total)) => *total += n,
                        None => merged.push((Arc::clone(container), n)),
                    }
                }
                merged
            })
            .collect();
        ProcessContainers { per_process }
    }

    /// The container most sockets of process `index` are in (ties: the first container
    /// in `Container` order); `None` when none of them is in one.
    pub(crate) fn most(&self, index: usize) -> Option<Arc<Container>> {
        self.per_process
            .get(index)?
            .iter()
            .max_by(|(a, m), (b, n)| m.cmp(n).then_with(|| b.cmp(a)))
            .map(|(c, _)| Arc::clone(c))
    }

    /// The container every socket of process `index` that is in one is in; `None` when
    /// they are in several, or in none.
    pub(crate) fn only(&self, index: usize) -> Option<Arc<Container>> {
        match self.per_process.get(index)?.as_slice() {
            [(c, _)] => Some(Arc::clone(c)),
            _ => None,
        }
    }
}

/// Set the container of every anomaly about a process from that process's sockets.
pub(crate) fn name_containers(
    snapshot: &Snapshot,
    containers: &ProcessContainers,
    anomalies: &mut [Anomaly],
) {
    if containers.per_process.is_empty() {
        return;
    }
    for a in anomalies {
        if let Subject::Process { pid, .. } = a.subject
            && let Some(index) = snapshot.processes.iter().position(|p| p.pid == pid)
            && let Some(c) = containers.only(index)
        {
            a.container = Some(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cgroup, Owners, Process, Runtime, Socket, TcpState};

    fn docker(id: &str) -> Arc<Container> {
        Arc::new(Container {
            id: id.to_owned(),
            name: None,
            runtime: Runtime::Docker,
            pod: None,
        })
    }

    /// Process 0 holds two sockets in container `b`, one in `a` and one in a plain
    /// cgroup; process 1 one socket in `a`; process 2 one in the plain cgroup.
    fn snapshot() -> Snapshot {
        let mut s = Snapshot::default();
        for pid in [10, 11, 12] {
            s.processes.push(Process {
                pid,
                ..Process::default()
            });
        }
        let local = "10.0.0.1:80".parse().unwrap();
        let remote = "10.0.0.2:5000".parse().unwrap();
        for (cookie, cgroup, owner) in [(1, 100, 0), (2, 200, 0), (3, 200, 0), (4, 300, 0)]
            .into_iter()
            .chain([(5, 100, 1), (6, 300, 2)])
        {
            let mut socket = Socket::new(TcpState::Established, local, remote);
            socket.cookie = cookie;
            socket.owners = Owners {
                start: s.owner_index.len() as u32,
                len: 1,
            };
            s.owner_index.push(owner);
            s.sockets.push(socket);
            s.cgroups.insert(cookie, cgroup);
        }
        s.cgroups.set_known(vec![
            Cgroup {
                id: 100,
                path: None,
                container: Some(docker("a")),
            },
            Cgroup {
                id: 200,
                path: None,
                container: Some(docker("b")),
            },
            Cgroup {
                id: 300,
                path: None,
                container: None,
            },
        ]);
        s
    }

    #[test]
    fn a_process_is_in_the_container_most_of_its_sockets_are_in() {
        let containers = ProcessContainers::of(&snapshot());
        assert_eq!(containers.most(0).map(|c| c.id.clone()), Some("b".into()));
        assert_eq!(containers.only(0), None, "in two containers");
        assert_eq!(containers.most(1).map(|c| c.id.clone()), Some("a".into()));
        assert_eq!(containers.only(1).map(|c| c.id.clone()), Some("a".into()));
        assert_eq!(containers.most(2), None, "a plain cgroup is no container");
        assert_eq!(containers.most(3), None, "no such process");
    }
}
