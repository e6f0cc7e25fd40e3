//! The Internet checksum (RFC 1071), as one's-complement sums that can be chained.

/// Add `data` to a running one's-complement sum (big-endian 16-bit words; an odd last byte is
/// padded with zero). The result is not folded.
///
/// # Implementation
///
/// A one's-complement sum does not depend on byte order (RFC 1071, section 2(B)): summing the
/// words in the machine's order and swapping the folded result gives the big-endian sum. So
/// the bulk is summed as native 64-bit loads split into 32-bit halves, a loop the compiler
/// vectorises without byte swaps; each block of [`BLOCK`] bytes is folded to 16 bits,
/// converted to big-endian order and added to `sum`. The tail (under 8 bytes, at an even
/// offset) is added word by word. The result is congruent to the plain word sum modulo
/// 0xffff and zero exactly when it is, so [`fold`] and [`finish`] give the same values.
pub(crate) fn add(mut sum: u64, data: &[u8]) -> u64 {
    let bulk = data.len() - data.len() % 8;
    for block in data[..bulk].chunks(BLOCK) {
        let mut native = 0u64;
        for w in block.chunks_exact(8) {
            let w = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            native += (w & 0xffff_ffff) + (w >> 32);
        }
        sum += u64::from(u16::from_be_bytes(fold(native).to_ne_bytes()));
    }
    let mut pairs = data[bulk..].chunks_exact(2);
    for p in &mut pairs {
        sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// Bytes summed before folding: each 8 bytes add less than 2^33, so a block's sum stays far
/// below 2^64 (2^20 bytes add less than 2^50).
const BLOCK: usize = 1 << 20;

/// Fold a running sum to 16 bits (not complemented).
pub(crate) fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The checksum field value for `data` summed onto `sum`: the folded sum, complemented.
pub(crate) fn finish(sum: u64) -> u16 {
    !fold(sum)
}

/// The Internet checksum (RFC 1071) of `data`: the value for an IPv4 header's or an ICMP
/// message's checksum field, computed with that field set to zero.
///
/// # Examples
///
/// ```
/// // An ICMP echo request (type 8), id 1, seq 1, no payload.
/// let mut icmp = [8, 0, 0, 0, 0, 1, 0, 1];
/// let sum = tuntap::internet_checksum(&icmp);
/// icmp[2..4].copy_from_slice(&sum.to_be_bytes());
/// assert_eq!(tuntap::internet_checksum(&icmp), 0, "a correct checksum sums to zero");
/// ```
pub fn internet_checksum(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// The pseudo-header sum of a transport segment: addresses, protocol and length.
pub(crate) fn pseudo_header(src: &[u8], dst: &[u8], protocol: u8, len: usize) -> u64 {
    let mut sum = add(0, src);
    sum = add(sum, dst);
    sum + u64::from(protocol) + len as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // The example of RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(add(0, &data)), 0xddf2);
        assert_eq!(finish(add(0, &data)), !0xddf2);
    }

    /// The plain definition: big-endian words summed one by one.
    fn reference(data: &[u8]) -> u64 {
        data.chunks(2)
            .map(|w| u64::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
            .sum()
    }

    proptest::proptest! {
        #[test]
        fn matches_the_word_by_word_sum(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3000),
            start in 0u64..0x1_0000_0000,
        ) {
            let ours = add(start, &data);
            let plain = start + reference(&data);
            proptest::prop_assert_eq!(fold(ours), fold(plain));
            proptest::prop_assert_eq!(ours % 0xffff, plain % 0xffff);
        }
    }

    #[test]
    fn all_ones_and_zeros() {
        for len in [0, 1, 2, 7, 8, 9, 64, 1500, 65_535] {
            let ones = vec![0xffu8; len];
            assert_eq!(fold(add(0, &ones)), fold(reference(&ones)), "ones, {len}");
            let zeros = vec![0u8; len];
            assert_eq!(fold(add(0, &zeros)), 0, "zeros, {len}");
        }
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(fold(add(0, &[0x12])), 0x1200);
        assert_eq!(fold(add(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }
}
