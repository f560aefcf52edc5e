//! A cheap hasher for the per-socket maps (cookies, addresses, ports), shared by the
//! collector, the aggregator and the reports (a leaf module: it imports nothing of theirs).
//!
//! The maps are touched a few times per socket per poll: SipHash would cost more than the
//! rest of the aggregation. This is the rustc-hash (Fx) scheme — add, multiply, and a final
//! xor-shift so the high bits hashbrown reads as tags are mixed too — started from a
//! per-process random seed, since a SYN flood chooses its (spoofed) source addresses and
//! must not be able to precompute colliding keys.
//!
//! It is kept rather than a maintained hasher (foldhash, already in the lock file through
//! hashbrown) because foldhash was slower on the aggregator's hot path. `cargo bench
//! --bench aggregate` (one ingest of a million sockets), run with each hasher in turn,
//! five pairs, on the 2-core test machine among other builds: 219, 144, 136, 166 and
//! 167 ms with this one; 280, 257, 234, 238 and 196 ms with foldhash 0.2 (slower in every
//! pair; most of the time goes to the identity map's bucket loads either way). The join
//! bench showed no difference beyond its noise (45–107 ms against 36–76 ms).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, FastState>;

/// Builds [`FastHasher`]s starting from the process's random seed.
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
mod tests {
    use super::*;

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
