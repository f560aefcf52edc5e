//! Sockets for unit tests, one expression each: [`socket`] gives a socket in a state
//! between two documentation addresses, and the setters named after its fields change one
//! each: `socket(TcpState::Listen).local("0.0.0.0:80").inode(7)`.
//!
//! Any module's tests may use it (`model` is the bottom layer). The integration tests
//! build whole snapshots with `tests/it/support/synthetic.rs` instead.

use std::net::SocketAddr;

use std::time::{Duration, SystemTime};

use super::{Addr, ClosedSocket, OwnerFrom, Owners, Process, Socket, TcpState};

/// The local address of a [`socket`] until `local` sets another.
const LOCAL: &str = "192.0.2.1:40000";
/// The remote address of an IPv4 [`socket`] until `remote` sets another.
const REMOTE_V4: &str = "192.0.2.9:443";
/// The remote address of an IPv6 [`socket`] until `remote` sets another.
const REMOTE_V6: &str = "[2001:db8::9]:443";

/// A socket in `state` from 192.0.2.1:40000 to 192.0.2.9:443, every other field zero
/// (no cookie, no inode, no owners).
pub(crate) fn socket(state: TcpState) -> Socket {
    Socket::new(state, parse(LOCAL), parse(REMOTE_V4))
}

fn parse(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} is no socket address: {e}"))
}

impl Socket {
    /// This socket with the kernel cookie `cookie`.
    pub(crate) fn cookie(mut self, cookie: u64) -> Socket {
        self.cookie = cookie;
        self
    }

    /// This socket with the inode `inode` (what the process attribution joins on).
    pub(crate) fn inode(mut self, inode: u32) -> Socket {
        self.inode = inode;
        self
    }

    /// This socket held by `owners` (an index range into a snapshot's owner index).
    pub(crate) fn owners(mut self, owners: Owners) -> Socket {
        self.owners = owners;
        self
    }

    /// This socket with the local address `local` ("10.0.0.1:80", "[::]:80"), whose family
    /// it takes; a remote address not set yet follows it into that family.
    pub(crate) fn local(self, local: &str) -> Socket {
        let local = parse(local);
        let default = [REMOTE_V4, REMOTE_V6].map(|r| Addr::new(parse(r)));
        let remote = if default.contains(&self.remote) {
            parse(if local.is_ipv4() {
                REMOTE_V4
            } else {
                REMOTE_V6
            })
        } else {
            self.remote.get()
        };
        let fresh = Socket::new(self.state, local, remote);
        Socket {
            family: fresh.family,
            local: fresh.local,
            remote: fresh.remote,
            ..self
        }
    }

    /// This socket with the remote address `remote` ("10.0.0.2:5000", "[::]:0").
    pub(crate) fn remote(mut self, remote: &str) -> Socket {
        self.remote = Addr::new(parse(remote));
        self
    }
}

/// A connection this side opened from 10.0.0.1:40000 toward `remote`, destroyed at `at`:
/// `lived` how long since a poll saw it born (`None`: no poll saw it), held by `client[pid]`
/// when `pid` is given (attributed by that poll); no `tcp_info`.
pub(crate) fn closed_opened(
    at: SystemTime,
    remote: &str,
    lived: Option<Duration>,
    pid: Option<u32>,
) -> ClosedSocket {
    ClosedSocket {
        at,
        netns: "lab".into(),
        socket: socket(TcpState::Close)
            .local("10.0.0.1:40000")
            .remote(remote),
        tcp_info: None,
        last_state: lived.map(|_| TcpState::Established),
        first_seen: lived.map(|l| at - l),
        owners: pid
            .map(|pid| Process {
                pid,
                comm: "client".into(),
                ..Process::default()
            })
            .into_iter()
            .collect(),
        owner_from: if pid.is_some() {
            OwnerFrom::Poll
        } else {
            OwnerFrom::Unknown
        },
        container: None,
        accepted: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    #[test]
    fn a_socket_is_zero_but_for_what_its_setters_set() {
        let plain = socket(TcpState::Established);
        assert_eq!(
            plain,
            Socket::new(
                TcpState::Established,
                "192.0.2.1:40000".parse().unwrap(),
                "192.0.2.9:443".parse().unwrap(),
            )
        );
        let owners = Owners { start: 2, len: 3 };
        let set = plain.cookie(9).inode(7).owners(owners);
        assert_eq!((set.cookie, set.inode, set.owners), (9, 7, owners));
        assert_eq!((set.local, set.remote), (plain.local, plain.remote));
    }

    #[test]
    fn a_remote_not_set_follows_the_local_address_into_its_family() {
        let v6 = socket(TcpState::Listen).local("[::]:80");
        assert_eq!(v6.family, Family::Inet6);
        assert_eq!(v6.remote.get(), "[2001:db8::9]:443".parse().unwrap());
        let back = v6.local("10.0.0.1:80");
        assert_eq!(back.family, Family::Inet);
        assert_eq!(back.remote.get(), "192.0.2.9:443".parse().unwrap());
        let set = socket(TcpState::Listen).remote("[::]:0").local("[::]:80");
        assert_eq!(set.remote.get(), "[::]:0".parse().unwrap());
    }
}
