//! Remote hosts and endpoints, counted by sorting instead of hashing.
//!
//! At load-balancer scale nearly every connection has a remote endpoint of its own (the
//! client's ephemeral port), so a count map would hold a million keys: one random memory
//! access per socket and tens of megabytes. Here each remote endpoint is appended as one
//! packed integer, the list is sorted once per poll, and runs of equal endpoints — and of
//! equal hosts, which sit next to each other in that order — are counted in one pass.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::group::{Grouping, top_of};

/// The remote endpoints of one poll.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    /// IPv4 endpoints as `address << 16 | port`.
    v4: Vec<u64>,
    /// IPv6 endpoints.
    v6: Vec<(u128, u16)>,
}

impl Peers {
    /// Forget the previous poll (keeping the memory).
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Count one socket toward `remote` (already canonical: IPv4-mapped addresses as IPv4).
    pub fn add(&mut self, remote: SocketAddr) {
        match remote.ip() {
            IpAddr::V4(ip) => self
                .v4
                .push(u64::from(u32::from(ip)) << 16 | u64::from(remote.port())),
            IpAddr::V6(ip) => self.v6.push((u128::from(ip), remote.port())),
        }
    }

    /// The `limit` busiest remote hosts and endpoints, ranked as [`super::group::rank`] does.
    pub fn top(&mut self, limit: usize) -> (Grouping<IpAddr>, Grouping<SocketAddr>) {
        self.v4.sort_unstable();
        self.v6.sort_unstable();
        let v4 = self.v4.iter().map(|&k| {
            let ip = IpAddr::V4(Ipv4Addr::from((k >> 16) as u32));
            (ip, k as u16)
        });
        let v6 = self
            .v6
            .iter()
            .map(|&(ip, port)| (IpAddr::V6(Ipv6Addr::from(ip)), port));
        let endpoints = top_of(
            runs(
                v4.clone()
                    .chain(v6.clone())
                    .map(|(ip, port)| SocketAddr::new(ip, port)),
            ),
            limit,
        );
        let hosts = top_of(runs(v4.chain(v6).map(|(ip, _)| ip)), limit);
        (hosts, endpoints)
    }
}

/// Runs of equal items of a sorted sequence, as `(item, how many)`.
fn runs<K: PartialEq + Copy>(sorted: impl Iterator<Item = K>) -> impl Iterator<Item = (K, u64)> {
    let mut sorted = sorted.peekable();
    std::iter::from_fn(move || {
        let first = sorted.next()?;
        let mut count = 1;
        while sorted.next_if_eq(&first).is_some() {
            count += 1;
        }
        Some((first, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_endpoints_are_counted_and_ranked_like_the_maps_were() {
        let mut peers = Peers::default();
        for (text, times) in [
            ("10.0.0.2:80", 3),
            ("10.0.0.1:80", 3),
            ("10.0.0.1:81", 1),
            ("[2001:db8::1]:443", 2),
            ("[2001:db8::1]:444", 2),
            ("9.9.9.9:1", 1),
        ] {
            for _ in 0..times {
                peers.add(text.parse().unwrap());
            }
        }
        let (hosts, endpoints) = peers.top(3);
        let hosts: Vec<(String, u64)> = hosts
            .entries
            .iter()
            .map(|g| (g.key.to_string(), g.count))
            .collect();
        assert_eq!(
            hosts,
            vec![
                ("10.0.0.1".into(), 4),
                ("2001:db8::1".into(), 4),
                ("10.0.0.2".into(), 3)
            ]
        );
        assert_eq!(
            endpoints
                .entries
                .iter()
                .map(|g| (g.key.to_string(), g.count))
                .collect::<Vec<_>>(),
            vec![
                ("10.0.0.1:80".into(), 3),
                ("10.0.0.2:80".into(), 3),
                ("[2001:db8::1]:443".into(), 2)
            ]
        );
        assert_eq!(
            (endpoints.distinct, endpoints.total, endpoints.rest()),
            (6, 12, 4)
        );
        peers.clear();
        let (hosts, endpoints) = peers.top(3);
        assert_eq!((hosts.distinct, endpoints.total), (0, 0));
    }
}
