//! A socket the kernel destroyed, with what sockscope knows of it: the destroy event says
//! the endpoints and `tcp_info` but not who held it, nor since when.

use std::time::{Duration, SystemTime};

use super::{Owners, Process, Snapshot, Socket, TcpInfo, TcpInfos, TcpState};

/// Where a closed socket's owner was found: never a guess presented as a fact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerFrom {
    /// A poll saw this socket (by its cookie) held by these processes.
    Poll,
    /// No poll saw it; its local address is a listener's, whose owners accepted it.
    Listener,
    /// Neither: the namespace's container is the most that is known.
    Namespace,
    /// Nothing is known of who held it.
    Unknown,
}

impl OwnerFrom {
    /// The word outputs use: `poll`, `listener`, `namespace`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerFrom::Poll => "poll",
            OwnerFrom::Listener => "listener",
            OwnerFrom::Namespace => "namespace",
            OwnerFrom::Unknown => "unknown",
        }
    }
}

/// One TCP socket the kernel destroyed.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedSocket {
    /// When the event was received.
    pub at: SystemTime,
    /// The namespace it was in, as outputs name it.
    pub netns: String,
    /// Its endpoints and cookie (state `CLOSE`, as the kernel reports a destroyed socket).
    pub socket: Socket,
    /// Its `tcp_info` at the end (bytes, segments, retransmits, RTT).
    pub tcp_info: Option<TcpInfo>,
    /// The state the last poll that saw it saw it in (`None`: no poll saw it).
    pub last_state: Option<TcpState>,
    /// When a poll first saw it (`None`: no poll saw it born, or saw it at all).
    pub first_seen: Option<SystemTime>,
    /// Who held it, as [`ClosedSocket::owner_from`] says.
    pub owners: Vec<Process>,
    /// Where the owners come from.
    pub owner_from: OwnerFrom,
    /// The container of its owner, listener or namespace, as `Container::label` prints it.
    pub container: Option<String>,
    /// Whether a listener a poll saw has its local address and port: a connection this
    /// side accepted (its remote end is the client); otherwise one this side opened (its
    /// remote end is the destination), or one whose listener no poll saw.
    pub accepted: bool,
}

impl ClosedSocket {
    /// A snapshot of this one socket, in the state a poll last saw it in (`CLOSE` if none
    /// did), with its owners and `tcp_info`: what a filter and the JSON read.
    pub fn as_snapshot(&self) -> Snapshot {
        let mut socket = self.socket;
        socket.state = self.last_state.unwrap_or(TcpState::Close);
        let owners = u32::try_from(self.owners.len()).unwrap_or(u32::MAX);
        socket.owners = Owners {
            start: 0,
            len: owners,
        };
        let mut tcp_infos = TcpInfos::default();
        tcp_infos.push(socket.cookie, self.tcp_info);
        Snapshot {
            taken_at: Some(self.at),
            netns: self.netns.clone(),
            sockets: vec![socket],
            tcp_infos,
            processes: self.owners.clone(),
            owner_index: (0..owners).collect(),
            ..Snapshot::default()
        }
    }

    /// How long it lived, at least: from the poll that first saw it to its end.
    pub fn lifetime(&self) -> Option<Duration> {
        self.at.duration_since(self.first_seen?).ok()
    }
}
