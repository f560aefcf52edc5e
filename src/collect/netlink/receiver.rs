//! The receiving half of a dump. The kernel does its share of a dump (walking its socket
//! tables, filling messages) inside `recv`, so one thread receives while the calling
//! thread parses the datagrams already in: on two cores the parsing costs no wall time.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use netlink_sys::Socket as NlSocket;

use super::{DumpError, RECV_BUFFER};
use crate::collect::parse;

/// Datagrams received and not yet parsed, at most (then the receiver waits).
pub(super) const IN_FLIGHT: usize = 8;

/// A received datagram: the buffer and how many of its bytes the datagram filled.
pub(super) type Received = Result<(Vec<u8>, usize), DumpError>;

/// Receive datagrams until the one that ends the dump, sending each — or the error that
/// stopped the reading — to `full`; spent buffers come back through `empty`. When the
/// parser stops early (a parse error), reading goes on to the end of the answer anyway, so
/// that the next dump on this socket does not start with stale datagrams.
pub(super) fn receive(socket: &NlSocket, full: &SyncSender<Received>, empty: &Receiver<Vec<u8>>) {
    let mut parser_gone = false;
    loop {
        let mut buf = empty.try_recv().unwrap_or_else(|_| vec![0; RECV_BUFFER]);
        let n = match socket.recv(&mut &mut buf[..], libc::MSG_TRUNC) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                let _ = full.send(Err(DumpError::Io { op: "recv", source }));
                return;
            }
        };
        if n > buf.len() {
            let _ = full.send(Err(DumpError::Truncated(n)));
            return;
        }
        let last = parse::ends_dump(&buf[..n]);
        if !parser_gone && full.send(Ok((buf, n))).is_err() {
            parser_gone = true;
        }
        if last {
            return;
        }
    }
}
