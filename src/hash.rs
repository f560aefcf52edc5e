//! The hashers of the per-socket maps, shared by the collector, the aggregator and the
//! reports (a leaf module: it imports nothing of theirs).
//!
//! Two kinds of key, two hashers:
//!
//! - **Keys the kernel chooses** (socket cookies, netns inodes, pids, process indices) go in
//!   a [`FastMap`]: the rustc-hash (Fx) scheme — add, multiply, and a final xor-shift so the
//!   high bits hashbrown reads as tags are mixed too. Nobody outside can steer a cookie, and
//!   these maps are touched a few times per socket per poll, where SipHash would cost more
//!   than the rest of the aggregation.
//! - **Keys someone else chooses** (remote addresses and SYN sources, which a flood spoofs;
//!   destinations; peers) go in a [`KeyedMap`]: foldhash's keyed hasher, seeded per map.
//!   A seed does not protect the Fx scheme, whatever it is: the seed only shifts the first
//!   word, and every later word is added linearly, so the keys `(w1 + d, w2 - d·K)` (K the
//!   multiplier) hash alike for every `d` and every seed. An IPv6 address is two such
//!   words, so a SYN flood could send every spoofed source into one bucket. foldhash folds
//!   each word through a multiply with the seed, which breaks that construction.
//!
//! Measured (`cargo bench --bench aggregate`, one ingest of a million sockets, 2 cores, the
//! other core busy with builds), the two binaries run in alternation: see BENCHMARKS.md.
//! Before this split, foldhash everywhere was slower than Fx on the identity map (the
//! cookie map, the hot one), which is why cookies keep Fx.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, FastState>;

/// Builds keyed hashers (foldhash, a seed of its own per map) for keys another party can
/// choose: remote addresses, SYN sources, destinations.
pub(crate) type KeyedState = foldhash::fast::RandomState;

/// A `HashMap` for keys another party chooses (see [`KeyedState`]).
pub(crate) type KeyedMap<K, V> = HashMap<K, V, KeyedState>;

/// A `HashSet` for keys another party chooses (see [`KeyedState`]).
pub(crate) type KeyedSet<K> = HashSet<K, KeyedState>;

/// Builds [`FastHasher`]s starting from the process's random seed (which keeps a map's
/// layout from being the same in every run, but is no defence against chosen keys: see the
/// module's doc).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastState {
    seed: u64,
}

impl Default for FastState {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        FastState {
            seed: *SEED.get_or_init(|| RandomState::new().hash_one(0x736f_636b_7363_6f70_u64)),
        }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

/// Fx-style hasher: one add and one multiply per word.
#[derive(Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = self.0.wrapping_add(word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // One xor-shift-multiply round so both ends of the hash depend on every input bit:
        // hashbrown picks buckets from the low bits and tags from the top seven.
        let x = (self.0 ^ (self.0 >> 32)).wrapping_mul(MULTIPLIER);
        x ^ (x >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv6Addr};

    /// `n` IPv6 addresses built to collide under the Fx scheme whatever its seed: the
    /// address's two 64-bit halves (as `Hash` writes them) are `(w1 + d, w2 - d·K)`.
    pub(crate) fn fx_colliding_sources(n: u64) -> Vec<IpAddr> {
        let (w1, w2) = (0x0db8_0120_u64, 0x0001_u64);
        (0..n)
            .map(|d| {
                let hi = w1.wrapping_add(d);
                let lo = w2.wrapping_sub(d.wrapping_mul(MULTIPLIER));
                let mut octets = [0u8; 16];
                octets[..8].copy_from_slice(&hi.to_le_bytes());
                octets[8..].copy_from_slice(&lo.to_le_bytes());
                IpAddr::V6(Ipv6Addr::from(octets))
            })
            .collect()
    }

    #[test]
    fn chosen_ipv6_sources_collide_under_every_fx_seed_but_not_keyed() {
        let sources = fx_colliding_sources(1000);
        for seed in [0, 1, 0xdead_beef, u64::MAX] {
            let fx = FastState { seed };
            let hashes: FastSet<u64> = sources.iter().map(|s| fx.hash_one(s)).collect();
            assert_eq!(
                hashes.len(),
                1,
                "the construction collides for seed {seed:#x}"
            );
        }
        let keyed = KeyedState::default();
        let hashes: FastSet<u64> = sources.iter().map(|s| keyed.hash_one(s)).collect();
        assert_eq!(hashes.len(), 1000);
    }

    #[test]
    fn sequential_cookies_spread_over_high_and_low_bits() {
        let build = FastState::default();
        // 4,000 draws into 128 buckets: a good hash leaves one empty with odds of about 1e-11
        // (with 1,000 draws it was 1 in 20, and the test flaked with the random seed).
        let hashes: FastSet<u64> = (1..=4000u64).map(|c| build.hash_one(c) >> 57).collect();
        assert_eq!(hashes.len(), 128, "top 7 bits should take every value");
        let low: FastSet<u64> = (1..=1000u64).map(|c| build.hash_one(c) & 0xff).collect();
        assert!(low.len() > 200, "{}", low.len());
    }
}
