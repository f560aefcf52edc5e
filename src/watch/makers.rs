//! Who made a socket the kernel destroyed. The destroy event has no pid and no cgroup, so
//! what the polls saw answers, in order: the owners a poll saw for that cookie; the listener
//! whose local address the socket has (it accepted it); the namespace's container; else
//! nobody. The answer says which it was ([`OwnerFrom`]).
//!
//! Bounded: the last two polls of each namespace are kept (a socket born and closed
//! between two polls was in neither; one closed just after a poll is in the last), with a
//! map by cookie each, and the first-seen time of the sockets they hold.

use std::sync::Arc;
use std::time::SystemTime;

use crate::collect::events::DestroyEvent;
use crate::hash::FastMap;
use crate::model::{ClosedSocket, NetnsLabel, OwnerFrom, Snapshot, Socket, TcpState};

use super::round::Round;

/// One poll of a namespace, indexed for the lookups of a destroy event.
#[derive(Debug)]
struct Indexed {
    snapshot: Arc<Snapshot>,
    /// Socket index by cookie.
    by_cookie: FastMap<u64, u32>,
    /// LISTEN sockets' indices by local port.
    listeners: FastMap<u16, Vec<u32>>,
}

impl Indexed {
    fn of(snapshot: Arc<Snapshot>) -> Indexed {
        let mut by_cookie = FastMap::default();
        let mut listeners: FastMap<u16, Vec<u32>> = FastMap::default();
        for (i, socket) in snapshot.sockets.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            if socket.cookie != 0 {
                by_cookie.insert(socket.cookie, i);
            }
            if socket.state == TcpState::Listen {
                listeners.entry(socket.local.port()).or_default().push(i);
            }
        }
        Indexed {
            snapshot,
            by_cookie,
            listeners,
        }
    }

    /// The full socket with `cookie` in this poll. A TIME_WAIT socket is left out: the
    /// kernel gives it the cookie of the full socket it replaced, which is destroyed as it
    /// enters TIME_WAIT, so a poll after that holds the cookie with no owner and a state
    /// the destroyed socket never had.
    fn socket(&self, cookie: u64) -> Option<&Socket> {
        let i = *self.by_cookie.get(&cookie)?;
        self.snapshot
            .sockets
            .get(i as usize)
            .filter(|s| s.state != TcpState::TimeWait)
    }

    /// Give `closed` the owners and container of `socket` of this poll, found `from` there;
    /// false (and `closed` as it was) when the poll knows no owner of it.
    fn owned(&self, socket: &Socket, from: OwnerFrom, closed: &mut ClosedSocket) -> bool {
        let owners: Vec<_> = self.snapshot.owners(socket).cloned().collect();
        if owners.is_empty() {
            return false;
        }
        closed.owners = owners;
        closed.owner_from = from;
        closed.container = self
            .snapshot
            .container(socket)
            .map(crate::model::Container::label);
        true
    }

    /// The listener that accepted `socket`: a LISTEN socket on its local port, bound to its
    /// local address or to the wildcard of its family.
    fn listener_of(&self, socket: &Socket) -> Option<&Socket> {
        self.listeners
            .get(&socket.local.port())?
            .iter()
            .filter_map(|&i| self.snapshot.sockets.get(i as usize))
            .find(|l| l.local.ip().is_unspecified() || l.local.ip() == socket.local.ip())
    }
}

/// What the polls of one namespace saw.
#[derive(Debug)]
struct PollsOfNamespace {
    label: NetnsLabel,
    last: Option<Indexed>,
    before: Option<Indexed>,
    /// When a poll first saw each socket of `last` and `before` that the namespace's first
    /// poll did not hold (a socket there at the first poll was not seen born).
    born: FastMap<u64, SystemTime>,
}

/// What the polls saw of every namespace, to attribute and date destroyed sockets.
#[derive(Debug, Default)]
pub struct Makers {
    namespaces: FastMap<u64, PollsOfNamespace>,
}

impl Makers {
    /// Learn from a round: each namespace it dumped replaces its older poll; namespaces no
    /// longer watched are forgotten (unless the round polled nothing).
    pub fn learn(&mut self, round: &Round) {
        if !round.namespaces.is_empty() {
            self.namespaces
                .retain(|key, _| round.namespaces.iter().any(|n| n.key == *key));
        }
        for namespace in &round.namespaces {
            let seen = self
                .namespaces
                .entry(namespace.key)
                .or_insert_with(|| PollsOfNamespace {
                    label: namespace.label.clone(),
                    last: None,
                    before: None,
                    born: FastMap::default(),
                });
            seen.label.clone_from(&namespace.label);
            let Some(snapshot) = namespace.fresh_snapshot() else {
                continue;
            };
            let at = snapshot.taken_at.unwrap_or(round.taken_at);
            let first_poll = seen.last.is_none();
            let mut first_seen = FastMap::default();
            for socket in snapshot.sockets.iter().filter(|s| s.cookie != 0) {
                if let Some(&t) = seen.born.get(&socket.cookie) {
                    first_seen.insert(socket.cookie, t);
                } else if !first_poll
                    && !seen
                        .last
                        .as_ref()
                        .is_some_and(|l| l.by_cookie.contains_key(&socket.cookie))
                {
                    first_seen.insert(socket.cookie, at);
                }
            }
            // The sockets of the poll now `before` keep their dates one more poll.
            if let Some(last) = &seen.last {
                for cookie in last.by_cookie.keys() {
                    if let Some(&t) = seen.born.get(cookie) {
                        first_seen.entry(*cookie).or_insert(t);
                    }
                }
            }
            seen.born = first_seen;
            seen.before = seen.last.take();
            seen.last = Some(Indexed::of(Arc::clone(snapshot)));
        }
    }

    /// `event`, destroyed in namespace `key`, with what the polls knew of it.
    pub fn attribute(&self, key: u64, event: &DestroyEvent) -> ClosedSocket {
        let mut closed = ClosedSocket {
            at: event.at,
            netns: String::new(),
            socket: event.socket,
            tcp_info: event.tcp_info,
            last_state: None,
            first_seen: None,
            owners: Vec::new(),
            owner_from: OwnerFrom::Unknown,
            container: None,
            accepted: false,
        };
        let Some(seen) = self.namespaces.get(&key) else {
            return closed;
        };
        closed.netns.clone_from(&seen.label.name);
        let polls = || {
            [seen.last.as_ref(), seen.before.as_ref()]
                .into_iter()
                .flatten()
        };
        let listener = polls().find_map(|p| Some((p, p.listener_of(&event.socket)?)));
        closed.accepted = listener.is_some();
        let cookie = event.socket.cookie;
        if cookie != 0 {
            closed.first_seen = seen.born.get(&cookie).copied();
            if let Some((poll, socket)) = polls().find_map(|p| Some((p, p.socket(cookie)?))) {
                closed.last_state = Some(socket.state);
                if poll.owned(socket, OwnerFrom::Poll, &mut closed) {
                    return closed;
                }
            }
        }
        if let Some((poll, listener)) = listener
            && poll.owned(listener, OwnerFrom::Listener, &mut closed)
        {
            return closed;
        }
        if let Some(container) = &seen.label.container {
            closed.owner_from = OwnerFrom::Namespace;
            closed.container = Some(container.clone());
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::fixture::socket;
    use crate::model::{Owners, Process};
    use crate::watch::round::{NamespaceRound, Round};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + secs)
    }

    /// Namespace 7 (`web`, in a container) polled at `secs`: nginx[10] listening on
    /// 10.0.0.1:80 and holding the connections with the given cookies.
    fn round(secs: u64, cookies: &[u64]) -> Round {
        let nginx = Owners { start: 0, len: 1 };
        let mut sockets = vec![
            socket(TcpState::Listen)
                .local("10.0.0.1:80")
                .remote("0.0.0.0:0")
                .cookie(1)
                .owners(nginx),
        ];
        sockets.extend(cookies.iter().map(|&c| {
            socket(TcpState::Established)
                .local("10.0.0.1:80")
                .cookie(c)
                .owners(nginx)
        }));
        let snapshot = Snapshot {
            taken_at: Some(at(secs)),
            sockets,
            processes: vec![Process {
                pid: 10,
                comm: "nginx".into(),
                ..Process::default()
            }],
            owner_index: vec![0],
            ..Snapshot::default()
        };
        let label = NetnsLabel {
            name: "web".into(),
            inode: 7,
            container: Some("docker:3f2a1c9e0b7d (web-1)".into()),
        };
        Round {
            namespaces: vec![NamespaceRound::polled(7, label, Ok(Arc::new(snapshot)))],
            ..Round::empty(at(secs), true)
        }
    }

    fn destroyed(cookie: u64, local: &str) -> DestroyEvent {
        DestroyEvent {
            socket: socket(TcpState::Close).local(local).cookie(cookie),
            tcp_info: None,
            at: at(10),
        }
    }

    #[test]
    fn a_destroyed_socket_is_attributed_by_poll_then_listener_then_namespace_and_says_which() {
        let mut makers = Makers::default();
        makers.learn(&round(0, &[5]));
        makers.learn(&round(2, &[5, 6]));

        let born = makers.attribute(7, &destroyed(6, "10.0.0.1:80"));
        assert_eq!(born.owner_from, OwnerFrom::Poll);
        assert_eq!(born.owners[0].pid, 10);
        assert_eq!(born.last_state, Some(TcpState::Established));
        assert_eq!(born.first_seen, Some(at(2)), "born between the two polls");
        assert_eq!(born.lifetime(), Some(Duration::from_secs(8)));
        assert_eq!(born.netns, "web");

        let old = makers.attribute(7, &destroyed(5, "10.0.0.1:80"));
        assert_eq!(old.owner_from, OwnerFrom::Poll);
        assert_eq!(
            old.first_seen, None,
            "there at the first poll: not seen born"
        );

        let accepted = makers.attribute(7, &destroyed(99, "10.0.0.1:80"));
        assert_eq!(
            (
                accepted.owner_from,
                accepted.owners[0].pid,
                accepted.last_state
            ),
            (OwnerFrom::Listener, 10, None)
        );

        let outgoing = makers.attribute(7, &destroyed(98, "10.0.0.1:41000"));
        assert_eq!(outgoing.owner_from, OwnerFrom::Namespace);
        assert!(outgoing.owners.is_empty());
        assert_eq!(
            outgoing.container.as_deref(),
            Some("docker:3f2a1c9e0b7d (web-1)")
        );

        let elsewhere = makers.attribute(8, &destroyed(5, "10.0.0.1:80"));
        assert_eq!(elsewhere.owner_from, OwnerFrom::Unknown);
    }

    #[test]
    fn a_client_socket_is_attributed_from_the_poll_that_saw_it_open_not_its_time_wait_successor() {
        let mut makers = Makers::default();
        makers.learn(&round(0, &[]));
        makers.learn(&round(1, &[40]));
        // The next poll holds the TIME_WAIT socket that replaced it: the same cookie, no
        // owner.
        let mut after = round(2, &[]);
        let snapshot = Arc::get_mut(after.namespaces[0].snapshot.as_mut().unwrap()).unwrap();
        snapshot
            .sockets
            .push(socket(TcpState::TimeWait).local("10.0.0.1:80").cookie(40));
        makers.learn(&after);
        let closed = makers.attribute(7, &destroyed(40, "10.0.0.1:80"));
        assert_eq!(
            (closed.owner_from, closed.owners[0].pid, closed.last_state),
            (OwnerFrom::Poll, 10, Some(TcpState::Established))
        );
        assert_eq!(closed.first_seen, Some(at(1)));
    }

    #[test]
    fn only_the_last_two_polls_are_kept() {
        let mut makers = Makers::default();
        makers.learn(&round(0, &[5]));
        makers.learn(&round(1, &[6]));
        makers.learn(&round(2, &[7]));
        // Cookie 5 was in the poll three polls ago: forgotten, and its port is a listener's.
        let gone = makers.attribute(7, &destroyed(5, "10.0.0.1:80"));
        assert_eq!(gone.owner_from, OwnerFrom::Listener);
        // Cookie 6, in the poll before the last, is still known.
        let recent = makers.attribute(7, &destroyed(6, "10.0.0.1:80"));
        assert_eq!(recent.owner_from, OwnerFrom::Poll);
        assert_eq!(recent.first_seen, Some(at(1)));
    }
}
