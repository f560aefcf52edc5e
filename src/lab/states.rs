//! Building sockets in each TCP state (the techniques are listed in the
//! [module documentation](super)).

use std::io::Read as _;
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use socket2::Socket;

use super::net::{Pair, Side};
use super::{Lab, LabError, Staged, TIME_WAIT_LEN, syn};
use crate::model::{Family, TcpState};

/// How long a blocking connect, accept or read may take inside the lab.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// `TIME_WAIT` sockets are made at most this many at a time: they hold no descriptor once
/// made, so any count fits under the descriptor limit (see [`time_wait_batch`]).
const TIME_WAIT_BATCH: usize = 4096;
/// Descriptors a `TIME_WAIT` batch leaves free for everything else in the process.
const SPARE_DESCRIPTORS: usize = 128;
/// The port `SYN_SENT` sockets connect to when none is asked for (nothing answers anyway).
const SYN_SENT_PORT: u16 = 9;

/// A stage's sockets before they are handed to their owner.
pub(crate) struct Built {
    /// What the stage reports.
    pub(crate) staged: Staged,
    /// Monitored-side descriptors (they move to a holder when one is asked for).
    pub(crate) monitored: Vec<Socket>,
    /// Peer-side descriptors (always held by the lab).
    pub(crate) peer: Vec<Socket>,
}

/// Connections between the two namespaces, before any close.
struct Connected {
    monitored: Vec<Socket>,
    accepted: Vec<Socket>,
}

impl Lab {
    /// Build `count` sockets of `state`, on a fresh address pair, and count them in
    /// [`Lab::expected`]. `port` is the server's port (0: any): the peer listener's, or
    /// the monitored listener's for `SYN_RECV`.
    pub(super) fn build(
        &mut self,
        family: Family,
        state: TcpState,
        count: usize,
        port: u16,
    ) -> Result<Built, LabError> {
        let pair = self.net.alloc(family)?;
        let mut built = Built {
            staged: Staged {
                family,
                state,
                count,
                holder: None,
                local: Vec::with_capacity(count),
                remote: Vec::with_capacity(count),
                listener: None,
                monitored_addr: pair.monitored,
                peer_addr: pair.peer,
                expires_at: None,
            },
            monitored: Vec::new(),
            peer: Vec::new(),
        };
        match state {
            TcpState::Established => {
                let c = self.connected(family, pair, port, count, &mut built)?;
                built.monitored = c.monitored;
                built.peer.extend(c.accepted);
            }
            TcpState::SynSent => self.syn_sent(family, pair, port, count, &mut built)?,
            TcpState::SynRecv => {
                let (listener, addr, sources) = self.spoofed_syns(family, pair, port, count)?;
                built.staged.listener = Some(addr);
                built.staged.local = vec![addr; count];
                built.staged.remote = sources;
                built.monitored.push(listener);
                self.add_expected(family, TcpState::Listen, 1);
            }
            TcpState::FinWait1 | TcpState::FinWait2 => {
                let c = self.connected(family, pair, port, count, &mut built)?;
                if state == TcpState::FinWait1 {
                    self.net.cut(Side::Monitored, pair.peer)?;
                }
                shutdown_all(&c.monitored, "monitored")?;
                built.monitored = c.monitored;
                built.peer.extend(c.accepted);
            }
            TcpState::TimeWait => self.time_wait(family, pair, port, count, &mut built)?,
            TcpState::Close => {
                built.monitored = self.net.tcp_sockets(Side::Monitored, family, count)?;
                for s in &built.monitored {
                    bind_to(s, pair.monitored)?;
                    built.staged.local.push(local_addr(s)?);
                }
            }
            TcpState::CloseWait | TcpState::LastAck => {
                let c = self.connected(family, pair, port, count, &mut built)?;
                shutdown_all(&c.accepted, "peer")?;
                for s in &c.monitored {
                    read_eof(s)?;
                }
                if state == TcpState::LastAck {
                    self.net.cut(Side::Monitored, pair.peer)?;
                    shutdown_all(&c.monitored, "monitored")?;
                }
                built.monitored = c.monitored;
                built.peer.extend(c.accepted);
            }
            TcpState::Listen => {
                for _ in 0..count {
                    let (listener, addr) =
                        self.listen_on(Side::Monitored, family, pair.monitored, port, 16)?;
                    built.staged.local.push(addr);
                    built.monitored.push(listener);
                }
            }
            TcpState::Closing => {
                let c = self.connected(family, pair, port, count, &mut built)?;
                self.net.cut(Side::Monitored, pair.peer)?;
                self.net.cut(Side::Peer, pair.monitored)?;
                shutdown_all(&c.monitored, "monitored")?;
                shutdown_all(&c.accepted, "peer")?;
                // The peer's retransmitted FIN now arrives; the monitored side's ACK and
                // its own FIN still vanish, so it stays in CLOSING.
                self.net.mend(Side::Peer, pair.monitored)?;
                built.monitored = c.monitored;
                built.peer.extend(c.accepted);
            }
        }
        self.add_expected(family, state, count);
        Ok(built)
    }

    /// A peer listener on `pair.peer:port` and `count` monitored clients connected to it.
    /// The listener goes to `built.peer`; the endpoints to `built.staged`.
    fn connected(
        &self,
        family: Family,
        pair: Pair,
        port: u16,
        count: usize,
        built: &mut Built,
    ) -> Result<Connected, LabError> {
        let (listener, server) =
            self.listen_on(Side::Peer, family, pair.peer, port, count.max(1))?;
        let c = self.connect_to(family, pair.monitored, &listener, server, count)?;
        built.peer.push(listener);
        for s in &c.monitored {
            built.staged.local.push(local_addr(s)?);
            built.staged.remote.push(server);
        }
        Ok(c)
    }

    /// `count` monitored clients from `from` connected to `server`, and their accepted
    /// ends taken off `listener`.
    fn connect_to(
        &self,
        family: Family,
        from: IpAddr,
        listener: &Socket,
        server: SocketAddr,
        count: usize,
    ) -> Result<Connected, LabError> {
        let monitored = self.net.tcp_sockets(Side::Monitored, family, count)?;
        for s in &monitored {
            self.go_on()?;
            bind_to(s, from)?;
            s.set_write_timeout(Some(IO_TIMEOUT))
                .and_then(|()| s.connect(&server.into()))
                .map_err(|source| LabError::Socket {
                    what: format!("connecting {from} to {server}"),
                    error: source,
                })?;
        }
        let accepted = accept_all(listener, server, count)?;
        Ok(Connected {
            monitored,
            accepted,
        })
    }

    /// A listener on `ip:port` in `side`'s namespace, and its address.
    pub(super) fn listen_on(
        &self,
        side: Side,
        family: Family,
        ip: IpAddr,
        port: u16,
        backlog: usize,
    ) -> Result<(Socket, SocketAddr), LabError> {
        let mut sockets = self.net.tcp_sockets(side, family, 1)?;
        let listener = sockets.pop().ok_or_else(|| LabError::Socket {
            what: format!("creating a listener on {ip}"),
            error: std::io::ErrorKind::Other.into(),
        })?;
        let wanted = SocketAddr::new(ip, port);
        listener
            .set_reuse_address(true)
            .and_then(|()| listener.bind(&wanted.into()))
            .and_then(|()| listener.listen(i32::try_from(backlog).unwrap_or(i32::MAX)))
            .map_err(|source| LabError::Socket {
                what: format!("listening on {wanted} with backlog {backlog}"),
                error: source,
            })?;
        let addr = local_addr(&listener)?;
        Ok((listener, addr))
    }

    fn syn_sent(
        &self,
        family: Family,
        pair: Pair,
        port: u16,
        count: usize,
        built: &mut Built,
    ) -> Result<(), LabError> {
        self.net.cut(Side::Monitored, pair.peer)?;
        let server = SocketAddr::new(pair.peer, if port == 0 { SYN_SENT_PORT } else { port });
        built.monitored = self.net.tcp_sockets(Side::Monitored, family, count)?;
        for s in &built.monitored {
            bind_to(s, pair.monitored)?;
            let connecting = s
                .set_nonblocking(true)
                .and_then(|()| s.connect(&server.into()));
            match connecting {
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                other => {
                    return Err(LabError::Socket {
                        what: format!(
                            "connecting {} to {server} across a cut wire (expected EINPROGRESS)",
                            pair.monitored
                        ),
                        error: other
                            .err()
                            .unwrap_or_else(|| std::io::Error::other("connect succeeded at once")),
                    });
                }
            }
            built.staged.local.push(local_addr(s)?);
            built.staged.remote.push(server);
        }
        Ok(())
    }

    /// A monitored listener on `pair.monitored:port` whose request queue holds one request
    /// socket per spoofed SYN; returns it, its address and the spoofed sources.
    pub(super) fn spoofed_syns(
        &mut self,
        family: Family,
        pair: Pair,
        port: u16,
        count: usize,
    ) -> Result<(Socket, SocketAddr, Vec<SocketAddr>), LabError> {
        // Twice the count: past half full, the kernel cuts SYN-ACK retries to 2 and the
        // request sockets expire within seconds.
        let (listener, addr) = self.listen_on(
            Side::Monitored,
            family,
            pair.monitored,
            port,
            2 * count + 16,
        )?;
        let sources: Vec<SocketAddr> = self
            .net
            .spoofed_sources(family, count)
            .into_iter()
            .enumerate()
            .map(|(i, ip)| SocketAddr::new(ip, 1024 + (i % 60_000) as u16))
            .collect();
        let raw = self.net.raw_socket(Side::Peer, family)?;
        syn::send_syns(&raw, &sources, addr)?;
        Ok((listener, addr, sources))
    }

    fn time_wait(
        &self,
        family: Family,
        pair: Pair,
        port: u16,
        count: usize,
        built: &mut Built,
    ) -> Result<(), LabError> {
        let batch = time_wait_batch();
        let (listener, server) =
            self.listen_on(Side::Peer, family, pair.peer, port, count.clamp(1, batch))?;
        built.staged.expires_at = Some(Instant::now() + TIME_WAIT_LEN);
        let mut left = count;
        while left > 0 {
            let n = left.min(batch);
            let c = self.connect_to(family, pair.monitored, &listener, server, n)?;
            for s in &c.monitored {
                built.staged.local.push(local_addr(s)?);
                built.staged.remote.push(server);
            }
            // Active close: our FIN, the peer sees EOF and closes, we see its FIN.
            shutdown_all(&c.monitored, "monitored")?;
            for s in &c.accepted {
                self.go_on()?;
                read_eof(s)?;
            }
            drop(c.accepted);
            for s in &c.monitored {
                self.go_on()?;
                read_eof(s)?;
            }
            left -= n;
        }
        built.peer.push(listener);
        Ok(())
    }
}

/// Connections per `TIME_WAIT` batch: each holds two descriptors until it is closed, so a
/// batch fits in what the soft open-file limit leaves free (a shell's default is often
/// 1024), and is at most [`TIME_WAIT_BATCH`] and at least 16.
fn time_wait_batch() -> usize {
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| {
            usize::try_from(soft).unwrap_or(usize::MAX)
        });
    let open = procfs::process::Process::myself()
        .and_then(|me| me.fd_count())
        .unwrap_or(SPARE_DESCRIPTORS);
    (limit.saturating_sub(open + SPARE_DESCRIPTORS) / 2).clamp(16, TIME_WAIT_BATCH)
}

fn bind_to(s: &Socket, ip: IpAddr) -> Result<(), LabError> {
    let addr = SocketAddr::new(ip, 0);
    s.bind(&addr.into()).map_err(|source| LabError::Socket {
        what: format!("binding {addr}"),
        error: source,
    })
}

pub(super) fn local_addr(s: &Socket) -> Result<SocketAddr, LabError> {
    s.local_addr()
        .and_then(|a| {
            a.as_socket()
                .ok_or_else(|| std::io::Error::other(format!("{a:?} is not an IP address")))
        })
        .map_err(|source| LabError::Socket {
            what: "reading a socket's local address".to_owned(),
            error: source,
        })
}

pub(super) fn shutdown_all(sockets: &[Socket], side: &str) -> Result<(), LabError> {
    for s in sockets {
        s.shutdown(Shutdown::Write)
            .map_err(|source| LabError::Socket {
                what: format!("half-closing a {side} socket {:?}", s.local_addr().ok()),
                error: source,
            })?;
    }
    Ok(())
}

/// `op` again while a signal interrupts it. A socket with a timeout (`SO_RCVTIMEO`) is not
/// restarted after a signal handler, even one installed with `SA_RESTART`: the demo's
/// Ctrl-C handler would otherwise turn into `Interrupted system call`, and the demo
/// checks its stop flag between steps anyway.
fn again_if_interrupted<T>(mut op: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Block until the peer's FIN arrives (read returns 0).
pub(super) fn read_eof(s: &Socket) -> Result<(), LabError> {
    let mut byte = [0u8; 1];
    let what = || {
        format!(
            "waiting for EOF on {:?}",
            s.local_addr().ok().and_then(|a| a.as_socket())
        )
    };
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|()| again_if_interrupted(|| (&*s).read(&mut byte)))
        .map_err(|source| LabError::Socket {
            what: what(),
            error: source,
        })
        .and_then(|n| match n {
            0 => Ok(()),
            n => Err(LabError::Socket {
                what: what(),
                error: std::io::Error::other(format!("read {n} unexpected byte(s)")),
            }),
        })
}

/// Accept `count` connections off `listener` (at `addr`).
pub(super) fn accept_all(
    listener: &Socket,
    addr: SocketAddr,
    count: usize,
) -> Result<Vec<Socket>, LabError> {
    listener
        .set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|source| LabError::Socket {
            what: format!("setting a timeout on listener {addr}"),
            error: source,
        })?;
    (0..count)
        .map(|i| {
            again_if_interrupted(|| listener.accept())
                .map(|(s, _)| s)
                .map_err(|source| LabError::Socket {
                    what: format!("accepting connection {} of {count} on {addr}", i + 1),
                    error: source,
                })
        })
        .collect()
}
