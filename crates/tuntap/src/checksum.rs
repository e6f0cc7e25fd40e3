//! The Internet checksum (RFC 1071), as one's-complement sums that can be chained.

/// Add `data` to a running one's-complement sum (big-endian 16-bit words; an odd last byte is
/// padded with zero). The result is not folded.
pub(crate) fn add(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let rest = words.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        sum += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

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

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(fold(add(0, &[0x12])), 0x1200);
        assert_eq!(fold(add(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }
}
