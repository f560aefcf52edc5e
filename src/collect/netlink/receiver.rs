//! The receiving half of a dump. The kernel does its share of a dump (walking its socket
//! tables, filling messages) inside `recv`, so one thread receives while the calling
//! thread parses the datagrams already in: on two cores the parsing costs no wall time.

use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use netlink_sys::Socket as NlSocket;

use super::{DumpError, RECV_BUFFER};
use crate::collect::parse;

/// Batches received and not yet parsed, at most (then the receiver waits).
pub(super) const IN_FLIGHT: usize = 4;

/// Bytes of one batch: datagrams are received one after the other into it while a whole
/// datagram still fits, about fourteen of the kernel's 32 KiB datagrams.
const BATCH_BYTES: usize = 8 * RECV_BUFFER;

/// Datagrams received one after the other into one buffer, handed to the parser together.
///
/// Handing over each datagram alone wakes the parsing thread 30 times for each megabyte,
/// and the scheduler tends to run a thread it wakes on the waker's core: the receiver, which
/// does the kernel's share of the dump, then waits while the parser runs beside it and the
/// other core idles (a fifth of the dump's time at a million sockets, seen with `perf`).
/// Batches wake it fourteen times less often.
#[derive(Debug, Default)]
pub(super) struct Batch {
    bytes: Vec<u8>,
    /// Where each datagram ends in `bytes`.
    ends: Vec<usize>,
}

impl Batch {
    /// The datagrams in the order they came.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let datagram = &self.bytes[start..end];
            start = end;
            datagram
        })
    }

    /// Receive one more datagram at the end; whether the dump ended with it.
    fn receive(&mut self, socket: &NlSocket) -> Result<bool, DumpError> {
        let start = self.ends.last().copied().unwrap_or(0);
        if self.bytes.len() < start + RECV_BUFFER {
            self.bytes.resize(start + RECV_BUFFER, 0);
        }
        let n = recv_one(socket, &mut self.bytes[start..start + RECV_BUFFER])?;
        self.ends.push(start + n);
        Ok(parse::ends_dump(&self.bytes[start..start + n]))
    }

    /// Whether another datagram still fits.
    fn has_room(&self) -> bool {
        self.ends.last().copied().unwrap_or(0) + RECV_BUFFER <= BATCH_BYTES
    }
}

/// A received batch, or the error that stopped the receiving.
pub(super) type Received = Result<Batch, DumpError>;

/// Receive datagrams until the one that ends the dump, sending them in batches — and the
/// error that stopped the reading, if one did — to `full`; spent batches come back through
/// `empty`. When the parser stops early (a parse error), reading goes on to the end of the
/// answer anyway, so that the next dump on this socket does not start with stale datagrams.
pub(super) fn receive(socket: &NlSocket, full: &SyncSender<Received>, empty: &Receiver<Batch>) {
    let mut parser_gone = false;
    loop {
        let mut batch = empty.try_recv().unwrap_or_default();
        batch.ends.clear();
        let mut last = false;
        let mut error = None;
        while !last && error.is_none() && batch.has_room() {
            match batch.receive(socket) {
                Ok(ended) => last = ended,
                Err(e) => error = Some(e),
            }
        }
        if !batch.ends.is_empty() && !parser_gone && full.send(Ok(batch)).is_err() {
            parser_gone = true;
        }
        if let Some(e) = error {
            let _ = full.send(Err(e));
            return;
        }
        if last {
            return;
        }
    }
}

/// Send `request` and receive its whole answer (a short one: the bound-inactive sockets)
/// into one batch, to parse later.
pub(super) fn receive_all(socket: &NlSocket, request: &[u8]) -> Result<Batch, DumpError> {
    socket
        .send(request, 0)
        .map_err(|source| DumpError::Io { op: "send", source })?;
    let mut batch = Batch::default();
    while !batch.receive(socket)? {}
    Ok(batch)
}

/// Receive one datagram into `buf`, again when interrupted; its length. (Also the
/// destroy events' receiver, `collect/events.rs`, on a non-blocking socket.)
pub(in crate::collect) fn recv_one(socket: &NlSocket, buf: &mut [u8]) -> Result<usize, DumpError> {
    loop {
        match socket.recv(&mut &mut buf[..], libc::MSG_TRUNC) {
            Ok(n) if n > buf.len() => return Err(DumpError::Truncated(n)),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(DumpError::Io { op: "recv", source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_back_its_datagrams_in_order_and_whole() {
        let batch = Batch {
            bytes: b"firstsecond-onethird".to_vec(),
            ends: vec![5, 15, 20],
        };
        let datagrams: Vec<&[u8]> = batch.datagrams().collect();
        assert_eq!(
            datagrams,
            [&b"first"[..], &b"second-one"[..], &b"third"[..]]
        );
        assert!(batch.has_room());
        let full = Batch {
            bytes: Vec::new(),
            ends: vec![BATCH_BYTES - RECV_BUFFER + 1],
        };
        assert!(!full.has_room());
        assert_eq!(Batch::default().datagrams().count(), 0);
    }
}
