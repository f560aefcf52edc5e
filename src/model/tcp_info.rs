//! `tcp_info`: the fields sockscope keeps of the kernel's `struct tcp_info`, and a
//! snapshot's, slot by slot beside its sockets.

use super::Socket;

/// The `struct tcp_info` fields sockscope keeps; present only for full sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TcpInfo {
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Round-trip time variance, microseconds.
    pub rttvar_us: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Retransmissions of the current unacknowledged segment.
    pub retransmits: u8,
    /// Retransmitted segments over the socket's life.
    pub total_retrans: u32,
    /// Segments presumed lost.
    pub lost: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Milliseconds since data was last sent.
    pub last_data_sent_ms: u32,
    /// Milliseconds since data was last received.
    pub last_data_recv_ms: u32,
    /// Bytes the peer acknowledged over the socket's life (`tcpi_bytes_acked`). Counted in
    /// sequence numbers: the socket's FIN counts one, and so does a connecting side's SYN
    /// (an accepted socket's SYN-ACK was acknowledged before it existed).
    pub bytes_acked: u64,
    /// Bytes received in order over the socket's life (`tcpi_bytes_received`), counted in
    /// sequence numbers: the peer's FIN counts one, its SYN none.
    pub bytes_received: u64,
    /// Segments sent over the socket's life, retransmissions and pure ACKs included
    /// (`tcpi_segs_out`).
    pub segs_out: u32,
    /// Segments received over the socket's life (`tcpi_segs_in`).
    pub segs_in: u32,
}

/// `tcp_info` of a snapshot's sockets, slot by slot beside [`Snapshot::sockets`]: slot `i`
/// belongs to `sockets[i]` when it holds that socket's cookie. It is kept beside the sockets
/// rather than in each one: it is asked for only by the outputs that show it, and in every
/// socket it would make the record half as large again. Slots in socket order rather than a
/// map by cookie: at a million sockets a map costs 100 MB and, while it grows, half as much
/// again; the slots cost 48 MB, and the outputs read them in order. Empty when tcp_info was
/// not asked for.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TcpInfos {
    /// Cookie (0: no tcp_info) and tcp_info, one per socket, in socket order.
    slots: Vec<(u64, TcpInfo)>,
}

impl TcpInfos {
    /// Append the slot of the next socket: its cookie and `tcp_info`, if it has one
    /// (cookie-less sockets have none).
    pub fn push(&mut self, cookie: u64, info: Option<TcpInfo>) {
        match info {
            Some(info) if cookie != 0 => self.slots.push((cookie, info)),
            _ => self.slots.push((0, TcpInfo::default())),
        }
    }

    /// The `tcp_info` of `socket`, the socket at `index` of the snapshot's sockets.
    pub fn at(&self, index: usize, socket: &Socket) -> Option<&TcpInfo> {
        match self.slots.get(index) {
            Some((cookie, info)) if *cookie != 0 && *cookie == socket.cookie => Some(info),
            _ => None,
        }
    }

    /// The `tcp_info` of the socket with `cookie`, wherever it is: a search through every
    /// slot, for one socket at a time (the dashboard's detail pane).
    pub fn find(&self, cookie: u64) -> Option<&TcpInfo> {
        if cookie == 0 {
            return None;
        }
        self.slots
            .iter()
            .find_map(|(c, info)| (*c == cookie).then_some(info))
    }

    /// The slots, in socket order, for moving them in step with the sockets.
    pub(crate) fn slots_mut(&mut self) -> &mut Vec<(u64, TcpInfo)> {
        &mut self.slots
    }

    /// Keep the slots of the sockets `keep` says yes to, by index (the same choice made of
    /// the sockets); nothing when there are no slots.
    #[must_use]
    pub fn retain_by_index(&self, mut keep: impl FnMut(usize) -> bool) -> TcpInfos {
        TcpInfos {
            slots: self
                .slots
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, slot)| *slot)
                .collect(),
        }
    }

    /// How many sockets have one.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|(cookie, _)| *cookie != 0).count()
    }

    /// Whether no socket has one (it stops at the first that has).
    pub fn is_empty(&self) -> bool {
        !self.slots.iter().any(|(cookie, _)| *cookie != 0)
    }
}
