//! What the responders and forwarders look at in a packet: IPv4 UDP to the echo port and
//! ICMP echo requests are answered, IPv4 UDP to the stop port ends the loop, everything else
//! is ignored (echo) or passed on (forward).

/// The UDP port the echo responders answer on.
pub(crate) const ECHO_PORT: u16 = 7;
/// A UDP datagram to this port tells a responder or forwarder loop to return.
pub(crate) const STOP_PORT: u16 = 9;

/// What a responder does with a packet it read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The packet was turned into its reply in place: write it back.
    Reply,
    /// The load is over: return.
    Stop,
    /// Not ours (or malformed): drop it.
    Other,
}

/// The IPv4 header length and UDP destination port of `p`, if it is a whole IPv4 UDP packet.
fn udp4(p: &[u8]) -> Option<(usize, u16)> {
    let first = *p.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < 20 || p.len() < ihl + 8 || p[9] != 17 {
        return None;
    }
    Some((ihl, u16::from_be_bytes([p[ihl + 2], p[ihl + 3]])))
}

/// Whether `p` is the stop datagram.
pub(crate) fn is_stop(p: &[u8]) -> bool {
    udp4(p).is_some_and(|(_, port)| port == STOP_PORT)
}

/// Turn an echo request into its reply in place.
///
/// UDP to [`ECHO_PORT`]: swap the IPv4 addresses and the UDP ports; both checksums stay valid,
/// as a one's-complement sum does not depend on the order of its words. ICMP echo request:
/// swap the addresses, make it an echo reply (type 8 -> 0) and update the ICMP checksum
/// incrementally (RFC 1624).
pub(crate) fn echo(p: &mut [u8]) -> Verdict {
    if let Some(ihl) = icmp4_echo_request(p) {
        swap_addresses(p);
        p[ihl] = 0;
        // The first word went down by 0x0800, so the complemented sum goes up by as much.
        let sum = u32::from(u16::from_be_bytes([p[ihl + 2], p[ihl + 3]])) + 0x0800;
        let sum = ((sum & 0xffff) + (sum >> 16)) as u16;
        p[ihl + 2..ihl + 4].copy_from_slice(&sum.to_be_bytes());
        return Verdict::Reply;
    }
    match udp4(p) {
        Some((ihl, ECHO_PORT)) => {
            swap_addresses(p);
            for i in 0..2 {
                p.swap(ihl + i, ihl + 2 + i);
            }
            Verdict::Reply
        }
        Some((_, STOP_PORT)) => Verdict::Stop,
        _ => Verdict::Other,
    }
}

/// The IPv4 header length of `p` if it is an ICMP echo request with its whole ICMP header.
fn icmp4_echo_request(p: &[u8]) -> Option<usize> {
    let first = *p.first()?;
    let ihl = usize::from(first & 0x0f) * 4;
    (first >> 4 == 4 && ihl >= 20 && p.len() >= ihl + 8 && p[9] == 1 && p[ihl] == 8).then_some(ihl)
}

/// Swap the IPv4 source and destination addresses (the header checksum stays valid).
fn swap_addresses(p: &mut [u8]) {
    for i in 0..4 {
        p.swap(12 + i, 16 + i);
    }
}
