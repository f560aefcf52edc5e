//! The last place an inode no table explains is looked for after the dump: the tables of
//! the processes that could hold it, read again although nothing says they changed.
//!
//! By then every table this poll's walk did not read has been read, and so has every
//! table whose process changed since the walk (new pid, start time, descriptor count).
//! What is left are sockets opened after the walk read their holder's table by a
//! process whose descriptor count is the same again: a server that closed one
//! connection and accepted another in the same descriptor slot, as an nginx worker
//! does all the time under keep-alive churn. Neither its start time nor its count
//! tells, so the processes that could hold such a socket are read again, in order:
//!
//! 1. the owners of the listeners the socket could have been accepted from — in its
//!    namespace, on its local port, of its family, at its address or the wildcard
//!    (a server's master and workers all hold the listener);
//! 2. then, for a socket no listener of its namespace explains (a client's), the other
//!    processes holding sockets in that namespace.
//!
//! Each group busiest first (most snapshot sockets held), each pid once, none whose table
//! was read after the dump already (it shows what the process holds since), until every
//! inode is found.
//!
//! # The bound
//!
//! At most [`LISTENER_OWNERS_MAX`] listener owners, then at most [`OTHER_HOLDERS_MAX`]
//! other holders whose tables hold [`OTHER_HOLDERS_DESCRIPTORS`] descriptors together
//! (a bigger table is passed over), each table read once more. Every one of them was read
//! by this poll's walk (the tables it did not read have been read after the dump before
//! this search starts), so this costs at most what the walk spent on the listener owners'
//! tables, plus a few milliseconds, and only in a poll that leaves a socket unexplained.
//! 64 listener owners are the workers of a server on a 64-core machine (the busiest, the
//! likeliest to have accepted, come first). The other holders are a guess with no
//! listener to go by, and most sockets left unexplained under churn are not held by
//! anyone any more (closed between the dump and the walk): reading the biggest tables
//! of the namespace for them added a second to each snapshot of 100,000 sockets held by
//! six processes (nginx under `ab -k` beside them), hence the descriptor budget.
//! An inode still unexplained after that (a socket closed during the dump, a kernel
//! socket, one held by a process past the bound) is remembered as before (see
//! [`super`]) and does not send the next poll looking for it again.

use crate::model::{Socket, TcpState};

use super::join::{InodeOwners, Matches};

/// Listener owners read again per poll, at most.
pub(super) const LISTENER_OWNERS_MAX: usize = 64;
/// Other holders of the namespace's sockets read again per poll, at most.
pub(super) const OTHER_HOLDERS_MAX: usize = 8;
/// Descriptors the other holders' tables may hold together (by their last reading): about
/// 15 ms of readlinks at the 3.2–3.8 µs a descriptor measured in `procs/scan.rs`.
pub(super) const OTHER_HOLDERS_DESCRIPTORS: u64 = 4_096;

/// The pids to read again for the `missing` inodes (sorted), most likely holders first:
/// see the module notes. `parts` are the lengths of the namespaces whose sockets follow
/// each other in `sockets`; `matches` is the last match of `sockets` against `owners`;
/// `reread` the pids whose tables were read after the dump; `table_size` the descriptors
/// a pid's table held when last read.
pub(super) fn suspects(
    sockets: &[Socket],
    parts: &[usize],
    missing: &[u32],
    matches: &Matches,
    owners: &InodeOwners,
    reread: &[u32],
    table_size: impl Fn(u32) -> u64,
) -> Vec<u32> {
    let mut listener_owners = Vec::new();
    let mut others = Vec::new();
    let mut start = 0;
    for &len in parts {
        let end = (start + len).min(sockets.len());
        let part = start..end;
        start = end;
        // Each lost socket, and whether a listener it may come from is known.
        let mut lost: Vec<(&Socket, bool)> = sockets[part.clone()]
            .iter()
            .filter(|s| s.inode != 0 && missing.binary_search(&s.inode).is_ok())
            .map(|s| (s, false))
            .collect();
        if lost.is_empty() {
            continue;
        }
        for i in part.clone() {
            let listener = &sockets[i];
            if listener.state != TcpState::Listen {
                continue;
            }
            let mut serves = false;
            for (socket, served) in &mut lost {
                if accepted_from(socket, listener) {
                    *served = true;
                    serves = true;
                }
            }
            if serves {
                listener_owners.extend(matches.holders_of(owners, i));
            }
        }
        if lost.iter().all(|(_, served)| *served) {
            continue;
        }
        if part.len() == sockets.len() {
            // One namespace: its holders are every holder.
            others.extend(matches.holders.iter().map(|&(pid, _)| pid));
        } else {
            for i in part {
                others.extend(matches.holders_of(owners, i));
            }
        }
    }
    let held = |pid: u32| {
        matches
            .holders
            .binary_search_by_key(&pid, |&(p, _)| p)
            .map_or(0, |i| matches.holders[i].1)
    };
    let mut reread = reread.to_vec();
    reread.sort_unstable();
    let by_need = |mut group: Vec<u32>| {
        group.sort_unstable();
        group.dedup();
        group.retain(|pid| reread.binary_search(pid).is_err());
        group.sort_by_key(|&pid| std::cmp::Reverse(held(pid)));
        group
    };
    let listener_owners = by_need(listener_owners);
    let mut chosen: Vec<u32> = listener_owners
        .iter()
        .copied()
        .take(LISTENER_OWNERS_MAX)
        .collect();
    // A listener owner past its bound is not read as one of the others either.
    let mut others = by_need(others);
    others.retain(|pid| !listener_owners.contains(pid));
    let mut budget = OTHER_HOLDERS_DESCRIPTORS;
    let mut taken = 0;
    for pid in others {
        if taken == OTHER_HOLDERS_MAX {
            break;
        }
        let size = table_size(pid);
        if size <= budget {
            budget -= size;
            taken += 1;
            chosen.push(pid);
        }
    }
    chosen
}

/// Whether `socket` may have been accepted from `listener`: the same family and local
/// port, at the listener's address or any (a wildcard listener).
fn accepted_from(socket: &Socket, listener: &Socket) -> bool {
    socket.state != TcpState::Listen
        && socket.family == listener.family
        && socket.local.port() == listener.local.port()
        && (listener.local.ip().is_unspecified() || listener.local.ip() == socket.local.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::socket;

    /// Every table one descriptor long.
    fn small(_: u32) -> u64 {
        1
    }

    #[test]
    fn listener_owners_come_first_busiest_first_then_the_namespace_s_other_holders() {
        let sockets = vec![
            socket(TcpState::Listen).local("0.0.0.0:80").inode(1),
            socket(TcpState::Listen).local("10.0.0.1:443").inode(2),
            socket(TcpState::Listen).local("10.0.0.2:8080").inode(3),
            socket(TcpState::Established).local("10.0.0.1:80").inode(10),
            socket(TcpState::Established).local("10.0.0.1:80").inode(11),
            socket(TcpState::Established)
                .local("10.0.0.1:5000")
                .inode(12),
            // Unexplained: on port 80 (the wildcard listener's) and 8080 at another address.
            socket(TcpState::Established).local("10.0.0.1:80").inode(20),
            socket(TcpState::Established)
                .local("10.0.0.1:8080")
                .inode(21),
        ];
        // Master 100 and workers 101, 102 hold listener 1; 102 holds two connections,
        // 101 one; 200 holds the 443 and 8080 listeners; 300 a client connection.
        let owners = InodeOwners::from_pairs(vec![
            (1, 100),
            (1, 101),
            (1, 102),
            (2, 200),
            (3, 200),
            (10, 102),
            (11, 101),
            (12, 300),
            (11, 102),
        ]);
        let mut matches = Matches::default();
        matches.find(&sockets, &owners);
        assert_eq!(matches.unexplained, [20, 21]);
        let all = [sockets.len()];
        let chosen = |missing: &[u32], reread: &[u32]| {
            suspects(&sockets, &all, missing, &matches, &owners, reread, small)
        };
        assert_eq!(chosen(&[20, 21], &[]), [102, 101, 100, 200, 300]);
        // Read after the dump already: not again.
        assert_eq!(chosen(&[20, 21], &[101, 300]), [102, 100, 200]);
        // Only a socket its listener explains: only the listener's owners.
        assert_eq!(chosen(&[20], &[]), [102, 101, 100]);
        // Nothing missing: nobody.
        assert!(chosen(&[], &[]).is_empty());
    }

    #[test]
    fn only_the_namespace_of_the_missing_socket_is_searched() {
        // Two namespaces, each with a listener on port 80 of its own server.
        let sockets = vec![
            socket(TcpState::Listen).local("0.0.0.0:80").inode(1),
            socket(TcpState::Established).local("10.0.0.1:9").inode(2),
            socket(TcpState::Listen).local("0.0.0.0:80").inode(3),
            socket(TcpState::Established).local("10.0.0.1:9").inode(4),
            socket(TcpState::Established).local("10.0.0.1:80").inode(30),
            socket(TcpState::Established)
                .local("10.0.0.1:40000")
                .inode(31),
        ];
        let owners = InodeOwners::from_pairs(vec![(1, 10), (2, 11), (3, 20), (4, 21)]);
        let mut matches = Matches::default();
        matches.find(&sockets, &owners);
        let chosen = suspects(&sockets, &[2, 4], &[30, 31], &matches, &owners, &[], small);
        assert_eq!(chosen, [20, 21]);
    }

    #[test]
    fn the_re_reads_are_bounded_in_processes_and_the_others_in_descriptors() {
        // 100 workers hold the listener, 20 clients one connection each; a client-side
        // socket and a server-side one are unexplained.
        let mut sockets = vec![socket(TcpState::Listen).local("0.0.0.0:80").inode(1)];
        let mut pairs: Vec<(u32, u32)> = (1000..1100).map(|pid| (1, pid)).collect();
        for i in 0..20 {
            sockets.push(
                socket(TcpState::Established)
                    .local("10.0.0.1:9")
                    .inode(100 + i),
            );
            pairs.push((100 + i, 2000 + i));
        }
        sockets.push(socket(TcpState::Established).local("10.0.0.1:80").inode(98));
        sockets.push(
            socket(TcpState::Established)
                .local("10.0.0.1:40000")
                .inode(99),
        );
        let owners = InodeOwners::from_pairs(pairs);
        let mut matches = Matches::default();
        matches.find(&sockets, &owners);
        let all = [sockets.len()];
        let chosen = suspects(&sockets, &all, &[98, 99], &matches, &owners, &[], small);
        assert_eq!(chosen.len(), LISTENER_OWNERS_MAX + OTHER_HOLDERS_MAX);
        assert_eq!(chosen[..3], [1000, 1001, 1002]);
        assert_eq!(
            chosen[LISTENER_OWNERS_MAX..],
            [2000, 2001, 2002, 2003, 2004, 2005, 2006, 2007]
        );
        // Clients 2000 and 2001 hold 3,000 descriptors each: the second does not fit the
        // budget and is passed over, and so is every client after it but the small ones.
        let size = |pid| match pid {
            2000 | 2001 => 3_000,
            2002 => 1_000,
            _ => 1,
        };
        let chosen = suspects(&sockets, &all, &[98, 99], &matches, &owners, &[], size);
        assert_eq!(
            chosen[LISTENER_OWNERS_MAX..],
            [2000, 2002, 2003, 2004, 2005, 2006, 2007, 2008]
        );
        const { assert!(3_000 + 1_000 + 5 <= OTHER_HOLDERS_DESCRIPTORS) };
        const { assert!(3_000 + 3_000 > OTHER_HOLDERS_DESCRIPTORS) };
    }

    #[test]
    fn a_connection_comes_from_a_listener_of_its_family_port_and_address() {
        let listener = socket(TcpState::Listen).local("10.0.0.1:80").inode(1);
        let wildcard6 = socket(TcpState::Listen).local("[::]:80").inode(2);
        let accepted = |local| socket(TcpState::Established).local(local).inode(3);
        assert!(accepted_from(&accepted("10.0.0.1:80"), &listener));
        assert!(!accepted_from(&accepted("10.0.0.2:80"), &listener));
        assert!(!accepted_from(&accepted("10.0.0.1:81"), &listener));
        assert!(!accepted_from(&accepted("[::1]:80"), &listener));
        assert!(accepted_from(&accepted("[::ffff:10.0.0.1]:80"), &wildcard6));
        assert!(!accepted_from(&listener, &listener));
    }
}
