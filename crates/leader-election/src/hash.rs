//! The stable key hash of sharding: FNV-1a, 64 bits.
//!
//! The mapping from key to shard must be the same in every replica, every build and every Rust
//! version, so it cannot use std's `DefaultHasher` (whose algorithm is unspecified and may
//! change). FNV-1a is tiny, specified (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and
//! spreads short keys well enough for a modulo.

/// FNV-1a offset basis, 64 bits.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV prime, 64 bits.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// The 64-bit FNV-1a hash of `bytes`.
///
/// # Examples
///
/// ```
/// use leader_election::fnv1a_64;
///
/// assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
/// assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(PRIME)
    })
}

/// The shard of `key` among `shards`: `fnv1a_64(key) % shards`; `0` when `shards` is 0.
///
/// # Examples
///
/// ```
/// use leader_election::shard_of;
///
/// let s = shard_of("default/web-0", 6);
/// assert!(s < 6);
/// assert_eq!(s, shard_of("default/web-0", 6)); // stable
/// ```
pub fn shard_of(key: &str, shards: usize) -> usize {
    let n = u64::try_from(shards).unwrap_or(u64::MAX);
    if n == 0 {
        return 0;
    }
    // The remainder is below `shards`, so it fits a usize.
    usize::try_from(fnv1a_64(key.as_bytes()) % n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_test_vectors() {
        // Vectors from the FNV reference test suite.
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn keys_spread_over_shards() {
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[shard_of(&format!("default/pod-{i}"), 3)] += 1;
        }
        for c in counts {
            assert!((700..1300).contains(&c), "{counts:?}");
        }
    }
}
