//! The order every listing of sockets shows: the text report's table and the dashboard's
//! sockets view sorted by state.

use std::net::{IpAddr, Ipv6Addr};

use super::Filter;
use crate::hash::KeyedMap;
use crate::model::{Addr, Snapshot, Socket};

/// Bits of the sort key that hold the socket's index.
const INDEX_BITS: u32 = 26;

/// The indices of the sockets of `snapshot` that pass `filter`, in the order the report
/// lists them: by state in lifecycle order, then local, then remote address (the order of
/// `(lifecycle_index, local, remote)`), equal keys in snapshot order.
pub fn listing_order(snapshot: &Snapshot, filter: &Filter) -> Vec<u32> {
    let sockets = &snapshot.sockets;
    let everything = filter.is_empty();
    let selected =
        (0..sockets.len()).filter(|&i| everything || filter.matches(snapshot, &sockets[i]));
    if sockets.len() >= 1 << INDEX_BITS {
        let mut order: Vec<u32> = selected.map(|i| i as u32).collect();
        order.sort_by_key(|&i| {
            let s = &sockets[i as usize];
            (s.state.lifecycle_index(), s.local, s.remote)
        });
        return order;
    }
    let ranks = v6_ranks(sockets);
    let mut keys: Vec<u128> = selected.map(|i| sort_key(&sockets[i], i, &ranks)).collect();
    keys.sort_unstable();
    let mask = (1u128 << INDEX_BITS) - 1;
    keys.into_iter().map(|k| (k & mask) as u32).collect()
}

/// `lifecycle (4 bits) | local (33+16) | remote (33+16) | index (26)`: an address is its
/// IPv4 value, or 2³² plus the rank of its IPv6 value, which orders addresses exactly as
/// `SocketAddr` does (every IPv4 address before every IPv6 one).
fn sort_key(socket: &Socket, index: usize, ranks: &KeyedMap<Ipv6Addr, u32>) -> u128 {
    let addr = |a: &Addr| -> u128 {
        let ip = match a.ip() {
            IpAddr::V4(v4) => u64::from(u32::from(v4)),
            IpAddr::V6(v6) => (1 << 32) + u64::from(ranks.get(&v6).copied().unwrap_or(0)),
        };
        (u128::from(ip) << 16) | u128::from(a.port())
    };
    (socket.state.lifecycle_index() as u128) << 124
        | addr(&socket.local) << 75
        | addr(&socket.remote) << 26
        | index as u128
}

/// The rank of every IPv6 address among the distinct IPv6 addresses of `sockets`.
fn v6_ranks(sockets: &[Socket]) -> KeyedMap<Ipv6Addr, u32> {
    let mut ranks = KeyedMap::default();
    for s in sockets {
        for a in [s.local, s.remote] {
            if let IpAddr::V6(v6) = a.ip() {
                ranks.insert(v6, 0);
            }
        }
    }
    if ranks.is_empty() {
        return ranks;
    }
    let mut distinct: Vec<Ipv6Addr> = ranks.keys().copied().collect();
    distinct.sort_unstable();
    for (rank, ip) in distinct.into_iter().enumerate() {
        ranks.insert(ip, rank as u32);
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::model::fixture::socket;

    #[test]
    fn listing_order_is_lifecycle_then_local_then_remote_with_ipv4_first() {
        let snapshot = Snapshot {
            sockets: vec![
                socket(TcpState::Established)
                    .local("[2001:db8::1]:80")
                    .remote("[2001:db8::9]:1"),
                socket(TcpState::Established)
                    .local("[::ffff:10.0.0.1]:80")
                    .remote("[::ffff:10.0.0.2]:7"),
                socket(TcpState::TimeWait)
                    .local("10.0.0.1:80")
                    .remote("10.0.0.2:5"),
                socket(TcpState::Established)
                    .local("10.0.0.1:80")
                    .remote("10.0.0.3:1"),
                socket(TcpState::Established)
                    .local("10.0.0.1:80")
                    .remote("10.0.0.2:9"),
                socket(TcpState::Listen).local("[::]:80").remote("[::]:0"),
                socket(TcpState::Established)
                    .local("10.0.0.1:79")
                    .remote("10.0.0.9:1"),
                socket(TcpState::Established)
                    .local("[::1]:80")
                    .remote("[::1]:1"),
            ],
            ..Snapshot::default()
        };
        let order = listing_order(&snapshot, &Filter::default());
        let mut expected: Vec<u32> = (0..snapshot.sockets.len() as u32).collect();
        expected.sort_by_key(|&i| {
            let s = &snapshot.sockets[i as usize];
            (s.state.lifecycle_index(), s.local, s.remote)
        });
        assert_eq!(order, expected);
        assert_eq!(order, vec![5, 6, 4, 3, 7, 1, 0, 2]);
    }
}
