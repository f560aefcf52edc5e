//! Ready-made situations for the anomaly rules and the demo, each built on a fresh address
//! pair and counted in [`Lab::expected`] like any stage.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::net::Side;
use super::states::{accept_all, local_addr, read_eof, shutdown_all};
use super::{Lab, LabError, holder};
use crate::model::{Family, TcpState};

/// What [`Lab::syn_flood`] built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynFlood {
    /// The monitored listener the SYNs went to.
    pub listener: SocketAddr,
    /// The spoofed sources, one `SYN_RECV` request socket each.
    pub sources: Vec<SocketAddr>,
}

/// What [`Lab::time_wait_storm`] built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeWaitStorm {
    /// The one peer address and port every `TIME_WAIT` socket points at.
    pub destination: SocketAddr,
    /// The monitored local endpoint of each `TIME_WAIT` socket.
    pub local: Vec<SocketAddr>,
    /// When the kernel starts expiring them (60 s after they were made).
    pub expires_at: Instant,
}

/// What [`Lab::listener_never_accepting`] built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerNeverAccepting {
    /// The monitored listener; its recv-q is `queued`, its send-q `backlog`.
    pub listener: SocketAddr,
    /// The backlog it listens with.
    pub backlog: u32,
    /// Connections completed and waiting in the accept queue (ESTABLISHED, no descriptor):
    /// `backlog + 1` when there are enough clients.
    pub queued: usize,
    /// Clients whose SYNs the full listener drops: `SYN_SENT` in the peer namespace, nothing
    /// in the monitored one.
    pub stuck: usize,
    /// Every client's address, queued ones first.
    pub clients: Vec<SocketAddr>,
}

/// What [`Lab::close_wait_leak`] built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseWaitLeak {
    /// The monitored listener of the leaking server.
    pub listener: SocketAddr,
    /// The holder process (named as asked) holding the listener and every leaked socket.
    pub pid: u32,
    /// The remote endpoint of each `CLOSE_WAIT` socket.
    pub peers: Vec<SocketAddr>,
}

impl Lab {
    /// Make the holder of `leak` close `count` of its `CLOSE_WAIT` sockets (its highest
    /// descriptors; the listener is its lowest), as a server that finally closes them
    /// would. They are aborted (RST) and gone at once; returns once the kernel shows it.
    #[cfg(feature = "lab")]
    pub fn close_leaked(&mut self, leak: &CloseWaitLeak, count: usize) -> Result<(), LabError> {
        let family = if leak.listener.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        };
        let holder = self
            .holders
            .iter_mut()
            .find(|h| h.pid() == leak.pid)
            .ok_or_else(|| LabError::Holder {
                comm: String::new(),
                exe: format!("pid {}", leak.pid),
                detail: "no holder of this lab has that pid".to_owned(),
            })?;
        holder.close_sockets(count)?;
        if let Some(n) = self.expected.get_mut(&(family, TcpState::CloseWait)) {
            *n = n.saturating_sub(count as u64);
        }
        self.settle(family, TcpState::CloseWait, count)
    }

    /// One monitored listener on `port` (0: any) receiving one SYN from each of `sources`
    /// spoofed addresses: `sources` `SYN_RECV` request sockets that stay, plus one LISTEN.
    pub fn syn_flood(
        &mut self,
        family: Family,
        port: u16,
        sources: usize,
    ) -> Result<SynFlood, LabError> {
        let built = self.build(family, TcpState::SynRecv, sources, port)?;
        self.settle(family, TcpState::SynRecv, sources)?;
        let staged = self.keep(built, None)?;
        Ok(SynFlood {
            listener: staged
                .listener
                .unwrap_or_else(|| SocketAddr::new(staged.monitored_addr, port)),
            sources: staged.remote,
        })
    }

    /// `count` `TIME_WAIT` sockets toward one peer listener on `port` (0: any). They hold no
    /// descriptor, so any count fits; the kernel expires them after 60 s.
    pub fn time_wait_storm(
        &mut self,
        family: Family,
        port: u16,
        count: usize,
    ) -> Result<TimeWaitStorm, LabError> {
        let built = self.build(family, TcpState::TimeWait, count, port)?;
        self.settle(family, TcpState::TimeWait, count)?;
        let staged = self.keep(built, None)?;
        Ok(TimeWaitStorm {
            destination: staged
                .remote
                .first()
                .copied()
                .unwrap_or_else(|| SocketAddr::new(staged.peer_addr, port)),
            local: staged.local,
            expires_at: staged.expires_at.unwrap_or_else(Instant::now),
        })
    }

    /// A monitored listener with `backlog` that never accepts, and `clients` peer clients:
    /// the first `backlog + 1` complete and fill the accept queue (ESTABLISHED in the
    /// monitored namespace), the rest stay in `SYN_SENT` on the peer side.
    pub fn listener_never_accepting(
        &mut self,
        family: Family,
        backlog: u32,
        clients: usize,
    ) -> Result<ListenerNeverAccepting, LabError> {
        let pair = self.net.alloc(family)?;
        let (listener, addr) =
            self.listen_on(Side::Monitored, family, pair.monitored, 0, backlog as usize)?;
        let queued = clients.min(backlog as usize + 1);
        let peers = self.net.tcp_sockets(Side::Peer, family, clients)?;
        let mut addrs = Vec::with_capacity(clients);
        for (i, s) in peers.iter().enumerate() {
            // One at a time, each handshake completing before the next SYN: no request
            // socket is ever left half-way when the queue fills.
            let blocking = i < queued;
            let from = SocketAddr::new(pair.peer, 0);
            let connected = s
                .bind(&from.into())
                .and_then(|()| s.set_nonblocking(!blocking))
                .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(5))))
                .and_then(|()| s.connect(&addr.into()));
            match connected {
                Ok(()) if blocking => {}
                Err(e) if !blocking && e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                other => {
                    return Err(LabError::Socket {
                        what: format!(
                            "client {} of {clients} connecting {from} to {addr} (backlog {backlog})",
                            i + 1
                        ),
                        error: other
                            .err()
                            .unwrap_or_else(|| std::io::Error::other("connected at once")),
                    });
                }
            }
            addrs.push(local_addr(s)?);
        }
        self.add_expected(family, TcpState::Listen, 1);
        self.add_expected(family, TcpState::Established, queued);
        self.sockets.push(listener);
        self.sockets.extend(peers);
        self.settle(family, TcpState::Established, queued)?;
        Ok(ListenerNeverAccepting {
            listener: addr,
            backlog,
            queued,
            stuck: clients - queued,
            clients: addrs,
        })
    }

    /// A leaking server: a monitored listener whose `count` accepted connections the peer
    /// has closed and the server never closes (`CLOSE_WAIT`), all held by a holder process
    /// named `comm`.
    pub fn close_wait_leak(
        &mut self,
        family: Family,
        comm: &str,
        count: usize,
    ) -> Result<CloseWaitLeak, LabError> {
        holder::check_comm(comm)?;
        let pair = self.net.alloc(family)?;
        let (listener, addr) =
            self.listen_on(Side::Monitored, family, pair.monitored, 0, count.max(1))?;
        let clients = self.net.tcp_sockets(Side::Peer, family, count)?;
        let mut peers = Vec::with_capacity(count);
        for s in &clients {
            let from = SocketAddr::new(pair.peer, 0);
            s.bind(&from.into())
                .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(5))))
                .and_then(|()| s.connect(&addr.into()))
                .map_err(|source| LabError::Socket {
                    what: format!("connecting {from} to {addr}"),
                    error: source,
                })?;
            peers.push(local_addr(s)?);
        }
        let accepted = accept_all(&listener, addr, count)?;
        shutdown_all(&clients, "peer")?;
        for s in &accepted {
            read_eof(s)?;
        }
        self.sockets.extend(clients);
        self.add_expected(family, TcpState::Listen, 1);
        self.add_expected(family, TcpState::CloseWait, count);
        self.settle(family, TcpState::CloseWait, count)?;
        let fds: Vec<OwnedFd> = std::iter::once(listener)
            .chain(accepted)
            .map(OwnedFd::from)
            .collect();
        let holder = holder::Holder::spawn(&self.holder_exe, comm, self.net.monitored(), fds)?;
        let pid = holder.pid();
        self.holders.push(holder);
        Ok(CloseWaitLeak {
            listener: addr,
            pid,
            peers,
        })
    }
}
