//! The hasher of the per-socket maps (cookies, addresses, ports): foldhash's fast variant.
//!
//! The maps are touched a few times per socket per poll: SipHash would cost more than the
//! rest of the aggregation. foldhash costs about what a multiply-and-add (Fx) hash does
//! and mixes every input bit into the high bits hashbrown reads as tags, and it is seeded
//! at random per process and per map, so a SYN flood, which chooses its (spoofed) source
//! addresses, cannot precompute colliding keys.

/// A `HashMap` with foldhash, randomly seeded.
pub(crate) type FastMap<K, V> = foldhash::HashMap<K, V>;

/// A `HashSet` with foldhash, randomly seeded.
pub(crate) type FastSet<K> = foldhash::HashSet<K>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn sequential_cookies_spread_over_high_and_low_bits() {
        let build = foldhash::fast::RandomState::default();
        // 4,000 draws into 128 buckets: a good hash leaves one empty with odds of about 1e-11
        // (with 1,000 draws it was 1 in 20, and the test flaked with the random seed).
        let hashes: FastSet<u64> = (1..=4000u64).map(|c| build.hash_one(c) >> 57).collect();
        assert_eq!(hashes.len(), 128, "top 7 bits should take every value");
        let low: FastSet<u64> = (1..=1000u64).map(|c| build.hash_one(c) & 0xff).collect();
        assert!(low.len() > 200, "{}", low.len());
    }
}
