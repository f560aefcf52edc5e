//! The container behind a process anomaly: the one container every socket of the process
//! that has one is in (a process whose sockets are in several names none).

use std::sync::Arc;

use super::anomaly::{Anomaly, Subject};
use super::hash::FastMap;
use crate::model::{Container, Snapshot};

/// What the sockets of one process said so far.
enum Seen {
    /// One container, every time.
    One(Arc<Container>),
    /// Two different ones.
    Several,
}

/// Set the container of every anomaly about a process from that process's sockets. Reads
/// only the sockets of those processes, and nothing when no socket is in a container.
pub(crate) fn name_containers(snapshot: &Snapshot, anomalies: &mut [Anomaly]) {
    if !snapshot.cgroups.any_container() {
        return;
    }
    let mut wanted: FastMap<u32, Option<Seen>> = FastMap::default();
    for a in anomalies.iter() {
        if let Subject::Process { pid, .. } = a.subject
            && let Some(index) = snapshot.processes.iter().position(|p| p.pid == pid)
        {
            wanted.insert(index as u32, None);
        }
    }
    if wanted.is_empty() {
        return;
    }
    for socket in &snapshot.sockets {
        let owners = snapshot.owner_indices(socket);
        if !owners.iter().any(|i| wanted.contains_key(i)) {
            continue;
        }
        let Some(container) = snapshot.cgroup(socket).and_then(|c| c.container.as_ref()) else {
            continue;
        };
        for index in owners {
            if let Some(seen) = wanted.get_mut(index) {
                *seen = match seen.take() {
                    None => Some(Seen::One(Arc::clone(container))),
                    Some(Seen::One(c)) if c == *container => Some(Seen::One(c)),
                    Some(_) => Some(Seen::Several),
                };
            }
        }
    }
    for a in anomalies {
        if let Subject::Process { pid, .. } = a.subject
            && let Some(index) = snapshot.processes.iter().position(|p| p.pid == pid)
            && let Some(Some(Seen::One(c))) = wanted.get(&(index as u32))
        {
            a.container = Some(Arc::clone(c));
        }
    }
}
