//! Socket identity across polls: when each socket was first seen, and since when it is in
//! its current state.
//!
//! Identity is the kernel's socket cookie, which a socket keeps for life (also from
//! FIN_WAIT into TIME_WAIT). The `/proc/net/tcp` fallback has no cookies (cookie 0): such a
//! socket is keyed on its 4-tuple and state instead, so a socket that changes state counts
//! as new, and a 4-tuple reused within one poll interval inherits the old age. Ages are
//! lower bounds: a socket present at the first poll is taken to be born then.
//!
//! Memory stays bounded by the live socket count: an identity not seen in a poll is
//! forgotten at the end of that poll.

use std::hash::BuildHasher;

use std::sync::OnceLock;

use crate::hash::{FastMap, KeyedState};
use crate::model::{Socket, TcpState};

/// What the tracker knows of one socket; times are milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sighting {
    /// First poll that saw the socket.
    pub first_seen_ms: u64,
    /// First poll that saw it in its current state.
    pub state_since_ms: u64,
}

/// A [`Sighting`] as the map holds it, in 16 bytes instead of 24 (a million sockets are
/// a million entries): the state change as a delta from the first sighting.
#[derive(Clone, Copy, Debug)]
struct Seen {
    first_seen_ms: u64,
    /// `state_since_ms - first_seen_ms`, see [`encode_delta`].
    state_delta: u32,
    state: TcpState,
    /// Only "this poll or not" matters, so a wrapping byte is enough.
    epoch: u8,
}

impl Seen {
    fn sighting(self) -> Sighting {
        Sighting {
            first_seen_ms: self.first_seen_ms,
            state_since_ms: self.first_seen_ms + decode_delta(self.state_delta),
        }
    }
}

/// Milliseconds below 2^31 (24 days) as they are; longer ones as seconds, top bit set.
fn encode_delta(ms: u64) -> u32 {
    const MS_LIMIT: u64 = 1 << 31;
    if ms < MS_LIMIT {
        ms as u32
    } else {
        (1 << 31) | (ms / 1000).min(MS_LIMIT - 1) as u32
    }
}

fn decode_delta(delta: u32) -> u64 {
    if delta & (1 << 31) == 0 {
        u64::from(delta)
    } else {
        u64::from(delta & !(1 << 31)) * 1000
    }
}

/// Cookie (or 4-tuple) → sighting, for the sockets of the last poll.
#[derive(Debug, Default)]
pub(crate) struct Identities {
    seen: FastMap<u64, Seen>,
    epoch: u8,
}

impl Identities {
    /// Start a poll of `sockets` sockets: room for all of them is made at once, so a
    /// first poll of a million does not grow the map twenty times.
    pub fn begin(&mut self, sockets: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        self.seen.reserve(sockets.saturating_sub(self.seen.len()));
    }

    /// Record that `socket` is present at `now_ms`; returns what is known of it.
    pub fn observe(&mut self, socket: &Socket, now_ms: u64) -> Sighting {
        let epoch = self.epoch;
        let seen = self
            .seen
            .entry(identity(socket))
            .and_modify(|s| {
                if s.state != socket.state {
                    s.state = socket.state;
                    s.state_delta = encode_delta(now_ms.saturating_sub(s.first_seen_ms));
                }
                s.epoch = epoch;
            })
            .or_insert(Seen {
                first_seen_ms: now_ms,
                state_delta: 0,
                state: socket.state,
                epoch,
            });
        seen.sighting()
    }

    /// End a poll: forget every socket it did not see.
    pub fn end(&mut self) {
        let epoch = self.epoch;
        self.seen.retain(|_, s| s.epoch == epoch);
        if self.seen.capacity() > 4 * self.seen.len().max(1024) {
            self.seen.shrink_to_fit();
        }
    }

    /// What is known of `socket`, if the last poll saw it.
    pub fn get(&self, socket: &Socket) -> Option<Sighting> {
        self.seen.get(&identity(socket)).map(|s| s.sighting())
    }

    /// How many sockets are tracked.
    pub fn len(&self) -> usize {
        self.seen.len()
    }
}

/// The cookie, or for cookie-less sockets a keyed hash of the 4-tuple and state (the remote
/// end is chosen by someone else: an unkeyed hash would let two peers share one age). One
/// snapshot comes from one source, so the two kinds of key never meet in one map.
fn identity(socket: &Socket) -> u64 {
    static TUPLES: OnceLock<KeyedState> = OnceLock::new();
    if socket.cookie != 0 {
        return socket.cookie;
    }
    TUPLES.get_or_init(KeyedState::default).hash_one((
        socket.local,
        socket.remote,
        socket.state.kernel_number(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fixture::socket;

    #[test]
    fn gone_sockets_are_forgotten_at_end_of_poll() {
        let mut ids = Identities::default();
        ids.begin(2);
        ids.observe(&socket(TcpState::Established).cookie(1), 1000);
        ids.observe(&socket(TcpState::Established).cookie(2), 1000);
        ids.end();
        ids.begin(2);
        ids.observe(&socket(TcpState::Established).cookie(2), 2000);
        ids.end();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.get(&socket(TcpState::Established).cookie(1)), None);
    }

    #[test]
    fn a_state_change_weeks_after_the_first_sighting_is_kept_to_the_second() {
        assert!(std::mem::size_of::<(u64, Seen)>() <= 24);
        let mut ids = Identities::default();
        ids.begin(1);
        ids.observe(&socket(TcpState::Established).cookie(1), 1_000);
        ids.end();
        let later = 1_000 + 30 * 86_400_000 + 1_234;
        ids.begin(1);
        let s = ids.observe(&socket(TcpState::CloseWait).cookie(1), later);
        assert_eq!((s.first_seen_ms, s.state_since_ms), (1_000, later - 234));
        let soon = 1_000 + 86_400_000 + 1_234;
        assert_eq!(
            decode_delta(encode_delta(soon)),
            soon,
            "a day is kept to the ms"
        );
    }

    #[test]
    fn state_change_restarts_state_age_but_keeps_first_seen() {
        let mut ids = Identities::default();
        ids.begin(2);
        ids.observe(&socket(TcpState::Established).cookie(7), 1000);
        ids.end();
        ids.begin(2);
        let s = ids.observe(&socket(TcpState::CloseWait).cookie(7), 3000);
        assert_eq!((s.first_seen_ms, s.state_since_ms), (1000, 3000));
    }

    #[test]
    fn cookieless_socket_is_keyed_on_tuple_and_state() {
        let mut ids = Identities::default();
        ids.begin(2);
        ids.observe(&socket(TcpState::CloseWait).cookie(0), 1000);
        ids.end();
        ids.begin(2);
        let same = ids.observe(&socket(TcpState::CloseWait).cookie(0), 2000);
        let other_state = ids.observe(&socket(TcpState::LastAck).cookie(0), 2000);
        assert_eq!(same.first_seen_ms, 1000);
        assert_eq!(other_state.first_seen_ms, 2000);
    }

    #[test]
    fn a_delta_of_exactly_2_pow_31_ms_is_kept_in_seconds() {
        let limit = 1u64 << 31;
        assert_eq!(decode_delta(encode_delta(limit - 1)), limit - 1);
        assert_eq!(decode_delta(encode_delta(limit)), limit / 1000 * 1000);
        assert_eq!(
            decode_delta(encode_delta(limit + 1_999)),
            (limit + 1_999) / 1000 * 1000
        );
    }

    #[test]
    fn a_delta_beyond_68_years_of_seconds_saturates_instead_of_wrapping() {
        assert_eq!(
            decode_delta(encode_delta(u64::MAX)),
            ((1u64 << 31) - 1) * 1000
        );
    }

    fn poll(ids: &mut Identities, cookies: std::ops::Range<u64>, now_ms: u64) {
        ids.begin(cookies.clone().count());
        for cookie in cookies {
            ids.observe(&socket(TcpState::Established).cookie(cookie), now_ms);
        }
        ids.end();
    }

    #[test]
    fn the_map_shrinks_once_it_is_four_times_larger_than_its_sockets() {
        let mut ids = Identities::default();
        poll(&mut ids, 1..100_001, 1000);
        assert!(ids.seen.capacity() >= 100_000);
        poll(&mut ids, 1..11, 2000);
        assert_eq!(ids.len(), 10);
        assert!(
            ids.seen.capacity() < 4096,
            "capacity {} after 100,000 sockets fell to 10",
            ids.seen.capacity()
        );
    }

    #[test]
    fn the_map_keeps_its_room_while_it_is_less_than_four_times_too_large() {
        let mut ids = Identities::default();
        poll(&mut ids, 1..3001, 1000);
        assert!(ids.seen.capacity() >= 3000);
        poll(&mut ids, 1..1501, 2000);
        assert_eq!(ids.len(), 1500);
        // Shrunk to fit, 1,500 entries would leave room for 1,792. Kept, the table has
        // room for 3,584 less the slots the removals left as tombstones (1,500 at most).
        assert!(
            ids.seen.capacity() >= 2084,
            "1,500 of 3,000 is no reason to shrink: capacity {}",
            ids.seen.capacity()
        );
        assert_eq!(
            ids.get(&socket(TcpState::Established).cookie(1500))
                .map(|s| s.first_seen_ms),
            Some(1000)
        );
    }
}
