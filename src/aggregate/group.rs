//! The groupings every output shows: sockets by process, remote host, remote endpoint,
//! local listener and state, each sorted by count (largest first, ties by key).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::model::{Container, StateCounts, TcpState};

/// At most this many entries are kept in the remote host and remote endpoint groupings;
/// the rest is summed in [`Grouping::rest`].
pub const GROUP_LIMIT: usize = 200;

/// One process and its sockets per state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessGroup {
    /// Process id.
    pub pid: u32,
    /// Short name (`/proc/PID/comm`).
    pub comm: String,
    /// Its sockets per state (a socket shared by several processes counts for each).
    pub counts: StateCounts,
    /// Descriptors it has open, of every kind (`None`: unknown).
    pub descriptors: Option<u64>,
    /// Its soft open-file limit (`None`: unknown or unlimited).
    pub fd_limit: Option<u64>,
    /// The container most of its sockets are in (`None`: none is in a container).
    pub container: Option<Arc<Container>>,
}

impl ProcessGroup {
    /// All its sockets.
    pub fn total(&self) -> u64 {
        self.counts.total()
    }
}

/// A key of a grouping and its socket count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group<K> {
    /// What the sockets have in common (a remote host, a remote endpoint).
    pub key: K,
    /// How many sockets.
    pub count: u64,
}

/// The largest groups of one kind, with totals for what was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grouping<K> {
    /// Largest count first, ties by key; at most [`GROUP_LIMIT`].
    pub entries: Vec<Group<K>>,
    /// How many distinct keys there were in all.
    pub distinct: usize,
    /// Sockets counted in all groups, listed or not.
    pub total: u64,
}

impl<K> Default for Grouping<K> {
    fn default() -> Self {
        Grouping {
            entries: Vec::new(),
            distinct: 0,
            total: 0,
        }
    }
}

impl<K> Grouping<K> {
    /// Sockets in the groups not listed in `entries`.
    pub fn rest(&self) -> u64 {
        self.total - self.entries.iter().map(|g| g.count).sum::<u64>()
    }
}

/// A listening address: its LISTEN sockets (several with SO_REUSEPORT) and the connections
/// on its port (wildcard listeners match any local address of that port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerGroup {
    /// The listening address and port.
    pub local: SocketAddr,
    /// How many LISTEN sockets share it.
    pub sockets: u32,
    /// Connections waiting to be accept()ed (recv-q of the LISTEN sockets, summed).
    pub accept_queue: u64,
    /// The accept backlog (send-q of the LISTEN sockets, summed); `None` when the source
    /// does not give it (`/proc/net/tcp`).
    pub backlog: Option<u64>,
    /// Non-LISTEN sockets on this listener's address and port, per state (SYN_RECV here
    /// are the half-open handshakes).
    pub counts: StateCounts,
    /// Processes holding the LISTEN sockets, by pid.
    pub owners: Vec<(u32, String)>,
}

impl ListenerGroup {
    /// Half-open handshakes (SYN_RECV) on this listener.
    pub fn syn_recv(&self) -> u64 {
        self.counts.get(TcpState::SynRecv)
    }

    /// Connections of any state on this listener.
    pub fn connections(&self) -> u64 {
        self.counts.total()
    }
}

/// One state's count and its change since the previous poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateGroup {
    /// The state.
    pub state: TcpState,
    /// Sockets in it.
    pub count: u64,
    /// Change since the previous poll; `None` on the first poll.
    pub change: Option<i64>,
}

/// States with their counts and changes, largest first, ties in lifecycle order.
pub(crate) fn by_state(counts: &StateCounts, previous: Option<&StateCounts>) -> Vec<StateGroup> {
    let mut groups: Vec<StateGroup> = TcpState::LIFECYCLE
        .iter()
        .map(|&state| StateGroup {
            state,
            count: counts.get(state),
            change: previous.map(|p| counts.get(state) as i64 - p.get(state) as i64),
        })
        .collect();
    groups.sort_by_key(|g| Reverse(g.count));
    groups
}

/// Largest count first, then by key.
pub(crate) fn rank<K: Ord>(a: (&K, u64), b: (&K, u64)) -> Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0))
}

/// The top `limit` of distinct keys with their counts, without sorting them all.
pub(crate) fn top_of<K: Ord + Copy>(
    counts: impl Iterator<Item = (K, u64)>,
    limit: usize,
) -> Grouping<K> {
    // A min-heap (by rank) of the best `limit` so far: O(n log limit).
    let mut heap: BinaryHeap<Ranked<K>> = BinaryHeap::with_capacity(limit + 1);
    let mut total = 0;
    let mut distinct = 0;
    for (key, count) in counts {
        distinct += 1;
        total += count;
        let item = Ranked { key, count };
        if heap.len() < limit {
            heap.push(item);
        } else if heap.peek().is_some_and(|worst| item < *worst) {
            heap.pop();
            heap.push(item);
        }
    }
    let mut entries: Vec<Group<K>> = heap
        .into_iter()
        .map(|r| Group {
            key: r.key,
            count: r.count,
        })
        .collect();
    entries.sort_by(|a, b| rank((&a.key, a.count), (&b.key, b.count)));
    Grouping {
        entries,
        distinct,
        total,
    }
}

/// Orders by rank: the better-ranked item is the smaller one, so a max-heap's top is the
/// worst entry kept.
#[derive(PartialEq, Eq)]
struct Ranked<K> {
    key: K,
    count: u64,
}

impl<K: Ord> Ord for Ranked<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        rank((&self.key, self.count), (&other.key, other.count))
    }
}

impl<K: Ord> PartialOrd for Ranked<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A socket address with an IPv4-mapped IPv6 address turned into IPv4 and no flow or
/// scope id, so one peer is one key whichever family reached it.
pub(crate) fn canonical(addr: &SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_keeps_largest_counts_ties_by_key() {
        let counts: [(u16, u64); 6] = [(5, 1), (3, 7), (9, 7), (1, 2), (4, 7), (2, 1)];
        let grouping = top_of(counts.into_iter(), 4);
        let got: Vec<(u16, u64)> = grouping.entries.iter().map(|g| (g.key, g.count)).collect();
        assert_eq!(got, vec![(3, 7), (4, 7), (9, 7), (1, 2)]);
        assert_eq!(
            (grouping.distinct, grouping.total, grouping.rest()),
            (6, 25, 2)
        );
    }
}
