//! The kernel's TCP destroy events, one namespace at a time.
//!
//! sock_diag sends a message to the multicast groups `SKNLGRP_INET_TCP_DESTROY` and
//! `SKNLGRP_INET6_TCP_DESTROY` of a network namespace for every full TCP socket of that
//! namespace as the kernel frees it (what `ss -E` shows): an ordinary `inet_diag_msg` in
//! state CLOSE, with its addresses, cookie and `tcp_info` at the end of its life, and no
//! cgroup id. TIME_WAIT and request mini-sockets send nothing when they go.
//!
//! A subscriber that does not keep up loses events: the kernel drops each one that finds
//! the receive buffer full. `recv`'s ENOBUFS says only that some were dropped; the kernel
//! counts each drop in the socket's `sk_drops`, which `/proc/net/netlink` shows (`Drops`,
//! on the line of the socket's inode), and [`DestroyEvents::lost`] reads it there: the
//! count is exact (`events/tests.rs` checks it against the sockets destroyed).

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use netlink_sys::Socket as NlSocket;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::net::sockopt;

use super::CollectError;
use super::netlink::{self, DumpError};
use super::netns::{self, NetnsTarget};
use super::parse::{self, ParseError};
use super::procfile::read_whole;
use crate::model::{Socket, TcpInfo};

/// `SKNLGRP_INET_TCP_DESTROY`: the group of destroyed AF_INET TCP sockets.
const SKNLGRP_INET_TCP_DESTROY: u32 = 1;
/// `SKNLGRP_INET6_TCP_DESTROY`: the group of destroyed AF_INET6 TCP sockets.
const SKNLGRP_INET6_TCP_DESTROY: u32 = 3;
/// The file that lists the namespace's netlink sockets with their drops, opened inside it.
const NETLINK_TABLE: &str = "/proc/thread-self/net/netlink";
/// How `/proc/net/netlink` is named in messages.
const NETLINK_TABLE_NAME: &str = "/proc/net/netlink";

/// One TCP socket the kernel destroyed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DestroyEvent {
    /// The socket as the kernel last saw it: state CLOSE, its addresses and cookie (no
    /// inode: nothing holds it any more).
    pub socket: Socket,
    /// Its `tcp_info` at the end of its life: what it sent and received, its RTT.
    pub tcp_info: Option<TcpInfo>,
    /// When sockscope received the event (the kernel sends no time of its own).
    pub at: SystemTime,
}

/// Why a subscription to destroy events could not be made, or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The netlink socket could not be opened, or receiving from it failed.
    #[error("TCP destroy events: {0}")]
    Socket(DumpError),
    /// The kernel refused to add the socket to a multicast group.
    #[error(
        "TCP destroy events: joining sock_diag multicast group {group} ({name}): {source} (joining needs CAP_NET_ADMIN in the namespace: run sockscope as root)"
    )]
    Join {
        /// The group's number.
        group: u32,
        /// Its name in the kernel's headers.
        name: &'static str,
        /// What the kernel said.
        source: io::Error,
    },
    /// The receive buffer could not be set or read back.
    #[error("TCP destroy events: setting a receive buffer of {asked} bytes: {source}")]
    Buffer {
        /// The bytes asked for.
        asked: usize,
        /// What the kernel said.
        source: io::Error,
    },
    /// The drops could not be read: the events lost could not be counted.
    #[error(
        "TCP destroy events: {NETLINK_TABLE_NAME}: {problem}; it counts the events the kernel drops, which cannot be counted without it"
    )]
    DropCount {
        /// What went wrong, with the value at fault.
        problem: String,
    },
    /// A datagram could not be parsed.
    #[error("TCP destroy events: {0}")]
    Parse(#[from] ParseError),
}

/// A subscription to one namespace's destroy events.
pub struct DestroyEvents {
    socket: NlSocket,
    /// `/proc/net/netlink` of the socket's namespace, opened inside it.
    netlink_table: File,
    /// The socket's inode: its line in `netlink_table`.
    inode: u64,
    /// The receive buffer granted, bytes.
    buffer: usize,
    /// The kernel's drops of this socket, as far as read.
    drops: DropCount,
    /// One datagram.
    datagram: Vec<u8>,
    /// `netlink_table`'s text.
    table: Vec<u8>,
}

impl fmt::Debug for DestroyEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestroyEvents")
            .field("inode", &self.inode)
            .field("buffer", &self.buffer)
            .field("drops", &self.drops)
            .finish_non_exhaustive()
    }
}

impl DestroyEvents {
    /// Subscribe inside the namespace `target` names ([`NetnsTarget::Own`]: this one), with
    /// a receive buffer of `buffer` bytes: `SO_RCVBUFFORCE` as root, else `SO_RCVBUF`, which
    /// the kernel caps at `net.core.rmem_max`; [`DestroyEvents::buffer`] says what was
    /// granted.
    pub fn open(target: &NetnsTarget, buffer: usize) -> Result<DestroyEvents, CollectError> {
        let subscribed = netns::run_in(target, move || DestroyEvents::subscribe_here(buffer))?;
        Ok(subscribed?)
    }

    /// The same through an nsfs handle (an open `/run/netns/NAME` or `/proc/PID/ns/net`,
    /// named `path` in errors), as `Collector::open_in` does for `-A`.
    pub fn open_in(
        handle: &File,
        path: &Path,
        buffer: usize,
    ) -> Result<DestroyEvents, CollectError> {
        let (subscribed, _) =
            netns::run_in_handle(handle, path, move || DestroyEvents::subscribe_here(buffer))?;
        Ok(subscribed?)
    }

    /// Receive what has arrived, waiting at most `wait` for the first datagram; append the
    /// events to `out`; returns how many. Never blocks longer than `wait`, and takes at
    /// most about a buffer's worth of datagrams, so that it returns under a flood too.
    /// When the kernel said it dropped some (ENOBUFS), receiving goes on:
    /// [`DestroyEvents::lost`] counts them. On an error, the events received before it are
    /// in `out`.
    pub fn receive(
        &mut self,
        wait: Duration,
        out: &mut Vec<DestroyEvent>,
    ) -> Result<usize, CollectError> {
        let before = out.len();
        let deadline = Instant::now().checked_add(wait);
        let mut received = 0;
        while received < self.buffer {
            match netlink::recv_one(&self.socket, &mut self.datagram) {
                Ok(n) => {
                    received += n.max(1);
                    let at = SystemTime::now();
                    parse::parse_datagram(&self.datagram[..n], 0, &mut |socket, tcp_info, _| {
                        out.push(DestroyEvent {
                            socket,
                            tcp_info,
                            at,
                        });
                    })
                    .map_err(SubscriptionError::Parse)?;
                }
                // Dropped events: counted by `lost`; what fit is still queued.
                Err(DumpError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(DumpError::Io { source, .. }) if source.kind() == io::ErrorKind::WouldBlock => {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if received > 0 || left == Some(Duration::ZERO) {
                        break;
                    }
                    self.wait_readable(left)?;
                }
                Err(e) => return Err(SubscriptionError::Socket(e).into()),
            }
        }
        Ok(out.len() - before)
    }

    /// Events the kernel dropped because the receive buffer was full, since the
    /// subscription opened — exact, not estimated: the socket's `sk_drops`, read from its
    /// line of the namespace's `/proc/net/netlink` (one `pread`). Should a read ever fail,
    /// the count of the last read that did not.
    pub fn lost(&mut self) -> u64 {
        if read_whole(&self.netlink_table, &mut self.table).is_ok()
            && let Some(drops) = drops_of(&self.table, self.inode)
        {
            self.drops.advance(drops);
        }
        self.drops.total
    }

    /// The receive buffer granted, bytes: the kernel's limit on what is queued for the
    /// subscription (`sk_rcvbuf`, as `SO_RCVBUF` reads it), where each datagram counts with
    /// its whole allocation.
    pub fn buffer(&self) -> usize {
        self.buffer
    }

    /// Open the socket, join both groups and open `/proc/net/netlink`, in the calling
    /// thread's namespace.
    fn subscribe_here(buffer: usize) -> Result<DestroyEvents, SubscriptionError> {
        let socket = netlink::open_socket().map_err(SubscriptionError::Socket)?;
        for (group, name) in [
            (SKNLGRP_INET_TCP_DESTROY, "SKNLGRP_INET_TCP_DESTROY"),
            (SKNLGRP_INET6_TCP_DESTROY, "SKNLGRP_INET6_TCP_DESTROY"),
        ] {
            socket
                .add_membership(group)
                .map_err(|source| SubscriptionError::Join {
                    group,
                    name,
                    source,
                })?;
        }
        let buffer = grant_buffer(&socket, buffer)?;
        socket
            .set_non_blocking(true)
            .map_err(|source| SubscriptionError::Socket(DumpError::Open(source)))?;
        let inode = rustix::fs::fstat(&socket)
            .map_err(|e| SubscriptionError::Socket(DumpError::Open(e.into())))?
            .st_ino;
        let unreadable = |e: io::Error| SubscriptionError::DropCount {
            problem: e.to_string(),
        };
        let netlink_table = File::open(NETLINK_TABLE).map_err(unreadable)?;
        let mut table = Vec::new();
        read_whole(&netlink_table, &mut table).map_err(unreadable)?;
        let drops = drops_of(&table, inode).ok_or_else(|| SubscriptionError::DropCount {
            problem: format!("no line for the subscription's socket, inode {inode}"),
        })?;
        Ok(DestroyEvents {
            socket,
            netlink_table,
            inode,
            buffer,
            drops: DropCount {
                last: drops,
                total: 0,
            },
            datagram: vec![0; netlink::RECV_BUFFER],
            table,
        })
    }

    /// Wait until a datagram (or an error) is there, at most `left` (`None`: no limit).
    fn wait_readable(&self, left: Option<Duration>) -> Result<(), SubscriptionError> {
        let timeout = left.and_then(|left| Timespec::try_from(left).ok());
        let mut fds = [PollFd::new(&self.socket, PollFlags::IN)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(errno) => Err(SubscriptionError::Socket(DumpError::Io {
                op: "poll",
                source: errno.into(),
            })),
        }
    }
}

/// Set the receive buffer as close to `buffer` bytes as allowed; the bytes granted.
///
/// The kernel doubles what it is asked for (the other half for its bookkeeping) and
/// reads back the doubled value, so half is asked for; `SO_RCVBUF`, the fallback without
/// CAP_NET_ADMIN, caps the request at `net.core.rmem_max`.
fn grant_buffer(socket: &NlSocket, buffer: usize) -> Result<usize, SubscriptionError> {
    let asked = buffer.div_ceil(2).min(i32::MAX as usize / 2);
    let failed = |source: rustix::io::Errno| SubscriptionError::Buffer {
        asked: buffer,
        source: source.into(),
    };
    match sockopt::set_socket_recv_buffer_size_force(socket, asked) {
        Err(rustix::io::Errno::PERM) => {
            sockopt::set_socket_recv_buffer_size(socket, asked).map_err(failed)?;
        }
        other => other.map_err(failed)?,
    }
    sockopt::socket_recv_buffer_size(socket).map_err(failed)
}

/// The `Drops` of the socket with `inode` in the text of `/proc/net/netlink`, `None` when
/// it has no line there (or the file has no such columns). Columns are found by the
/// header's names.
fn drops_of(table: &[u8], inode: u64) -> Option<u32> {
    let text = std::str::from_utf8(table).ok()?;
    let mut lines = text.lines();
    let header = lines.next()?;
    let column = |name: &str| header.split_whitespace().position(|c| c == name);
    let (drops_at, inode_at) = (column("Drops")?, column("Inode")?);
    lines.find_map(|line| {
        let field = |at: usize| line.split_whitespace().nth(at);
        if field(inode_at)?.parse::<u64>().ok()? != inode {
            return None;
        }
        field(drops_at)?.parse().ok()
    })
}

/// A socket's drops as the kernel counts them (a 32-bit counter that wraps), totalled
/// since a first reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct DropCount {
    /// The counter at the last reading.
    last: u32,
    /// The drops since the first reading.
    total: u64,
}

impl DropCount {
    /// Take a new reading of the counter (read at least once every 2³² drops).
    fn advance(&mut self, counter: u32) {
        self.total += u64::from(counter.wrapping_sub(self.last));
        self.last = counter;
    }
}

#[cfg(test)]
mod tests;
