//! The one pass over a snapshot's sockets that every grouping and rule reads from.
//!
//! Per socket the work is O(1): a state count, one identity lookup, and a few hash-map
//! updates keyed on addresses, ports or process indices — no allocation per socket. The
//! maps are kept between polls (cleared, not dropped) so a steady socket count allocates
//! nothing after the first poll.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::group::canonical;
use super::identity::Identities;
use super::peers::Peers;
use crate::hash::{FastMap, KeyedMap, KeyedSet};
use crate::model::{Snapshot, Socket, StateCounts, TcpState};

/// Who holds a CLOSE_WAIT socket: a process (index into the snapshot's processes) or, when
/// no owner is known, its local port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum CloseWaitHolder {
    Process(u32),
    Port(u16),
}

/// Sockets of one kind and the earliest time one of them entered its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AgedCount {
    pub count: u64,
    pub oldest_ms: Option<u64>,
}

impl AgedCount {
    fn add(&mut self, since_ms: u64) {
        self.count += 1;
        self.oldest_ms = Some(self.oldest_ms.map_or(since_ms, |o| o.min(since_ms)));
    }
}

/// One process's sockets.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProcessTally {
    pub counts: StateCounts,
    pub close_wait: AgedCount,
    pub fin_wait2: AgedCount,
}

/// One listening address.
#[derive(Clone, Debug)]
pub(crate) struct ListenerTally {
    pub local: SocketAddr,
    pub sockets: u32,
    pub accept_queue: u64,
    pub backlog: u64,
    pub counts: StateCounts,
    pub distinct_sources: u64,
    pub owners: Vec<u32>,
}

/// Everything one poll counted.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub counts: StateCounts,
    pub unowned: StateCounts,
    pub processes: Vec<ProcessTally>,
    pub peers: Peers,
    pub listeners: Vec<ListenerTally>,
    pub close_wait_peers: KeyedMap<(CloseWaitHolder, SocketAddr), u64>,
    pub close_wait_ports: FastMap<u16, AgedCount>,
    pub time_wait_destinations: KeyedMap<SocketAddr, u64>,
    pub fin_wait2: AgedCount,
    listener_index: FastMap<SocketAddr, u32>,
    listener_ports: Vec<u64>,
    syn_sources: KeyedSet<(u32, IpAddr)>,
}

impl Tally {
    /// Count `snapshot`, recording every socket's identity in `identities` at `now_ms`;
    /// without identities, every socket is taken as in its state since `now_ms`.
    pub fn run(
        &mut self,
        snapshot: &Snapshot,
        mut identities: Option<&mut Identities>,
        now_ms: u64,
    ) {
        self.reset(snapshot.processes.len());
        for socket in &snapshot.sockets {
            if socket.state == TcpState::Listen {
                self.add_listener(snapshot, socket);
            }
        }
        for socket in &snapshot.sockets {
            let since_ms = match identities.as_deref_mut() {
                Some(identities) => identities.observe(socket, now_ms).state_since_ms,
                None => now_ms,
            };
            self.add(snapshot, socket, since_ms);
        }
    }

    fn reset(&mut self, processes: usize) {
        self.counts = StateCounts::default();
        self.unowned = StateCounts::default();
        self.processes.clear();
        self.processes.resize(processes, ProcessTally::default());
        self.peers.clear();
        self.listeners.clear();
        self.close_wait_peers.clear();
        self.close_wait_ports.clear();
        self.time_wait_destinations.clear();
        self.fin_wait2 = AgedCount::default();
        self.listener_index.clear();
        self.listener_ports.clear();
        self.listener_ports.resize(1024, 0);
        self.syn_sources.clear();
    }

    fn add_listener(&mut self, snapshot: &Snapshot, socket: &Socket) {
        let local = canonical(&socket.local.get());
        let next = self.listeners.len() as u32;
        let index = *self.listener_index.entry(local).or_insert(next);
        if index == next {
            self.listeners.push(ListenerTally {
                local,
                sockets: 0,
                accept_queue: 0,
                backlog: 0,
                counts: StateCounts::default(),
                distinct_sources: 0,
                owners: Vec::new(),
            });
            let port = usize::from(local.port());
            self.listener_ports[port / 64] |= 1 << (port % 64);
        }
        let listener = &mut self.listeners[index as usize];
        listener.sockets += 1;
        listener.accept_queue += u64::from(socket.recv_q);
        listener.backlog += u64::from(socket.send_q);
        for &owner in snapshot.owner_indices(socket) {
            if !listener.owners.contains(&owner) {
                listener.owners.push(owner);
            }
        }
    }

    /// The listener a connection on `local` belongs to: the exact address, else a wildcard
    /// listener on the same port (an IPv6 wildcard also takes IPv4, as a dual-stack socket does).
    fn listener_for(&self, local: &SocketAddr) -> Option<u32> {
        let port = local.port();
        let word = self.listener_ports[usize::from(port) / 64];
        if word & (1 << (port % 64)) == 0 {
            return None;
        }
        let ip = local.ip().to_canonical();
        let candidates = [
            SocketAddr::new(ip, port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ];
        let skip_v4_wildcard = ip.is_ipv6();
        candidates
            .iter()
            .enumerate()
            .filter(|(i, _)| !(skip_v4_wildcard && *i == 1))
            .find_map(|(_, addr)| self.listener_index.get(addr).copied())
    }

    fn add(&mut self, snapshot: &Snapshot, socket: &Socket, since_ms: u64) {
        let state = socket.state;
        self.counts.add(state);
        let owners = snapshot.owner_indices(socket);
        let mut owned = false;
        for &owner in owners {
            if let Some(process) = self.processes.get_mut(owner as usize) {
                owned = true;
                process.counts.add(state);
                match state {
                    TcpState::CloseWait => process.close_wait.add(since_ms),
                    TcpState::FinWait2 => process.fin_wait2.add(since_ms),
                    _ => {}
                }
            }
        }
        if !owned {
            self.unowned.add(state);
        }
        if state == TcpState::Listen {
            return;
        }
        let remote = canonical(&socket.remote.get());
        if !remote.ip().is_unspecified() {
            self.peers.add(remote);
        }
        if let Some(index) = self.listener_for(&socket.local.get()) {
            let listener = &mut self.listeners[index as usize];
            listener.counts.add(state);
            if state == TcpState::SynRecv && self.syn_sources.insert((index, remote.ip())) {
                listener.distinct_sources += 1;
            }
        }
        match state {
            TcpState::CloseWait if owned => {
                let known = self.processes.len();
                for &owner in owners.iter().filter(|&&o| (o as usize) < known) {
                    *self
                        .close_wait_peers
                        .entry((CloseWaitHolder::Process(owner), remote))
                        .or_default() += 1;
                }
            }
            TcpState::CloseWait => {
                let port = socket.local.port();
                self.close_wait_ports.entry(port).or_default().add(since_ms);
                *self
                    .close_wait_peers
                    .entry((CloseWaitHolder::Port(port), remote))
                    .or_default() += 1;
            }
            TcpState::TimeWait => {
                *self.time_wait_destinations.entry(remote).or_default() += 1;
            }
            TcpState::FinWait2 => self.fin_wait2.add(since_ms),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;
    use crate::hash::tests::fx_colliding_sources;

    #[test]
    fn sources_and_destinations_a_flood_chooses_get_hashes_of_their_own() {
        let tally = Tally::default();
        let sources = fx_colliding_sources(1000);
        let distinct = |hashes: Vec<u64>| hashes.into_iter().collect::<HashSet<_>>().len();
        let syn = sources
            .iter()
            .map(|&ip| tally.syn_sources.hasher().hash_one((7u32, ip)));
        assert_eq!(distinct(syn.collect()), 1000, "SYN sources");
        let tw = sources.iter().map(|&ip| {
            let to = SocketAddr::new(ip, 443);
            tally.time_wait_destinations.hasher().hash_one(to)
        });
        assert_eq!(distinct(tw.collect()), 1000, "TIME_WAIT destinations");
        let cw = sources.iter().map(|&ip| {
            let peer = (CloseWaitHolder::Process(3), SocketAddr::new(ip, 40_000));
            tally.close_wait_peers.hasher().hash_one(peer)
        });
        assert_eq!(distinct(cw.collect()), 1000, "CLOSE_WAIT peers");
    }
}
