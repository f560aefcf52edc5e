//! De-duplicating one dump by socket cookie, without a map of every cookie.
//!
//! The kernel walks its tables in batches, so a socket that changes state during the walk
//! (ESTABLISHED → TIME_WAIT, a bound socket that connects) can be reported twice with the
//! same cookie; the later sighting wins, in the place of the first. That is rare, so
//! sockets are appended as they come and each cookie only sets a bit in a filter; a
//! cookie whose bit is already set makes its socket a suspect. After the dump, only the
//! suspects' cookies are looked up among all sockets. A million sockets cost a filter of
//! 2–4 MiB and one pass matching a few percent of the cookies, instead of a 34 MB hash map.

use crate::hash::{FastMap, FastSet};

use crate::model::Socket;

/// Filter bits per socket: about 6 % of distinct cookies share a bit with an earlier one.
const BITS_PER_SOCKET: usize = 16;
/// The smallest filter, in bits.
const MIN_BITS: usize = 1 << 16;

/// De-duplicates one dump by socket cookie (see the module notes).
#[derive(Debug, Default)]
pub struct CookieDedup {
    filter: Vec<u64>,
    /// log2 of the filter's size in bits.
    shift_bits: u32,
    suspects: Vec<usize>,
}

impl CookieDedup {
    /// Forget the previous dump (keeping the filter's size for a dump as large).
    pub fn clear(&mut self) {
        self.filter.fill(0);
        self.suspects.clear();
    }

    /// Append `socket` to `sockets`; [`CookieDedup::finish`] then merges repeated cookies.
    pub fn push(&mut self, sockets: &mut Vec<Socket>, socket: Socket) {
        if (sockets.len() + 1) * BITS_PER_SOCKET > self.filter.len() * 64 {
            self.grow(sockets);
        }
        if self.mark(socket.cookie) {
            self.suspects.push(sockets.len());
        }
        sockets.push(socket);
    }

    /// Merge every repeated cookie into its first place, holding its last sighting, and
    /// move `beside` (what is kept beside the sockets, one slot each, or nothing) in step.
    pub fn finish<T: Copy>(&mut self, sockets: &mut Vec<Socket>, beside: &mut Vec<T>) {
        let in_step = beside.len() == sockets.len();
        if self.suspects.is_empty() {
            return;
        }
        let suspects: FastSet<u64> = self.suspects.iter().map(|&i| sockets[i].cookie).collect();
        let mut places: FastMap<u64, Vec<usize>> = FastMap::default();
        for (i, s) in sockets.iter().enumerate() {
            if suspects.contains(&s.cookie) {
                places.entry(s.cookie).or_default().push(i);
            }
        }
        let mut drop = vec![false; sockets.len()];
        let mut any = false;
        for indices in places.values() {
            if let (Some(&first), Some(&last)) = (indices.first(), indices.last())
                && first != last
            {
                sockets[first] = sockets[last];
                if in_step {
                    beside[first] = beside[last];
                }
                for &i in &indices[1..] {
                    drop[i] = true;
                }
                any = true;
            }
        }
        if any {
            let mut i = 0;
            sockets.retain(|_| {
                i += 1;
                !drop[i - 1]
            });
            if in_step {
                let mut i = 0;
                beside.retain(|_| {
                    i += 1;
                    !drop[i - 1]
                });
            }
        }
        self.suspects.clear();
    }

    /// Set the cookie's bit; whether it was set already.
    fn mark(&mut self, cookie: u64) -> bool {
        let bit = (cookie.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.shift_bits)) as usize;
        let word = &mut self.filter[bit / 64];
        let mask = 1 << (bit % 64);
        let was = *word & mask != 0;
        *word |= mask;
        was
    }

    /// Double the filter (or make the first one) and mark the sockets so far again.
    fn grow(&mut self, sockets: &[Socket]) {
        let bits = (self.filter.len() * 128).max(MIN_BITS);
        self.filter = vec![0; bits / 64];
        self.shift_bits = bits.trailing_zeros();
        self.suspects.clear();
        for (i, s) in sockets.iter().enumerate() {
            if self.mark(s.cookie) {
                self.suspects.push(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;
    use crate::model::fixture::socket;

    #[test]
    fn repeats_far_apart_in_a_large_dump_keep_the_first_place_and_the_last_state() {
        let mut dedup = CookieDedup::default();
        let mut sockets = Vec::new();
        // What is kept beside each socket (tcp_info in the collector): its sighting's
        // cookie and state, so that it can be checked against the socket in its place.
        let mut beside = Vec::new();
        let mut push = |sockets: &mut Vec<Socket>, s: Socket| {
            beside.push((s.cookie, s.state));
            dedup.push(sockets, s);
        };
        for cookie in 1..=300_000 {
            push(&mut sockets, socket(TcpState::Established).cookie(cookie));
        }
        push(&mut sockets, socket(TcpState::TimeWait).cookie(17));
        push(&mut sockets, socket(TcpState::FinWait1).cookie(250_000));
        push(&mut sockets, socket(TcpState::FinWait2).cookie(250_000));
        push(&mut sockets, socket(TcpState::Listen).cookie(300_001));
        dedup.finish(&mut sockets, &mut beside);
        assert_eq!(sockets.len(), 300_001);
        assert_eq!(
            beside.len(),
            300_001,
            "the slots of the repeats go with them"
        );
        for (s, slot) in sockets.iter().zip(&beside) {
            assert_eq!(*slot, (s.cookie, s.state), "a slot moved out of step");
        }
        assert_eq!(sockets[16].cookie, 17);
        assert_eq!(sockets[16].state, TcpState::TimeWait);
        assert_eq!(sockets[249_999].state, TcpState::FinWait2);
        assert_eq!(sockets[300_000].cookie, 300_001);
        let mut cookies: Vec<u64> = sockets.iter().map(|s| s.cookie).collect();
        cookies.sort_unstable();
        cookies.dedup();
        assert_eq!(cookies.len(), 300_001);
    }
}
