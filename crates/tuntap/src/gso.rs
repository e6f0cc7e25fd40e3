//! GSO split: cut a super-packet read from a `vnet_hdr` device into wire-sized segments.
//!
//! With TSO/USO offloads enabled ([`Offload`](crate::Offload)), the kernel hands the device
//! TCP or UDP super-packets of up to 64 KiB with a [`VnetHdr`] saying how to cut them. [`split`]
//! yields one [`Segment`] per wire packet without copying payload: a segment is a small owned
//! copy of the rewritten headers (lengths, IPv4 id and checksum, TCP sequence number and
//! flags, transport checksum) plus a borrowed slice of the original payload. Write it with
//! [`Segment::io_slices`] and a vectored send, or copy it with [`Segment::write_to`].
//!
//! A packet that needs no segmentation comes out as one segment; if it carries a partial
//! checksum (`NEEDS_CSUM`) the segment's headers complete it.
//!
//! # Examples
//!
//! ```
//! use tuntap::gso;
//! use tuntap::vnet::VnetHdr;
//!
//! // A complete packet (no GSO, no pending checksum) comes out unchanged.
//! let packet = [0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let segments: Vec<_> = gso::split(&VnetHdr::NONE, &packet)?.collect();
//! assert_eq!(segments.len(), 1);
//! assert_eq!(segments[0].to_vec(), packet);
//! # Ok::<(), gso::GsoError>(())
//! ```

use std::io::IoSlice;

use crate::checksum;
use crate::vnet::{GsoType, VnetHdr};

/// The largest headers (link + network + transport) a segment can carry: Ethernet with a VLAN
/// tag (18), IPv6 with extension headers, and TCP with options (60) fit with room to spare.
pub const MAX_HEADERS: usize = 256;

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Why a packet could not be split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GsoError {
    /// The packet ends inside a header the header says is there.
    #[error("packet truncated")]
    Truncated,
    /// The network header is neither IPv4 nor IPv6.
    #[error("not an IPv4 or IPv6 packet")]
    NotIp,
    /// The transport protocol does not match `gso_type` (or is not TCP/UDP).
    #[error("transport protocol {0} does not match the GSO type")]
    ProtocolMismatch(u8),
    /// `gso_type` is UFO (`VIRTIO_NET_HDR_GSO_UDP`), which nothing produces any more.
    #[error("UDP fragmentation offload is not supported")]
    Unsupported,
    /// `gso_size` is zero for a GSO packet.
    #[error("gso_size is zero")]
    ZeroGsoSize,
    /// `csum_start`/`csum_offset` point outside the packet or before the network header.
    #[error("checksum offsets out of range")]
    BadChecksumOffsets,
    /// The headers are longer than [`MAX_HEADERS`].
    #[error("headers longer than {MAX_HEADERS} bytes")]
    HeadersTooLong,
}

/// Split `packet` (starting with its IP header, as TUN devices deliver it) by `hdr`.
///
/// # Errors
///
/// [`GsoError`] for a malformed or unsupported packet; never panics on any input.
pub fn split<'a>(hdr: &VnetHdr, packet: &'a [u8]) -> Result<Segments<'a>, GsoError> {
    split_at(hdr, packet, 0)
}

/// Split `packet` whose IP header starts at `ip_offset` (14 for an untagged TAP frame).
///
/// # Errors
///
/// As [`split`].
pub fn split_at<'a>(
    hdr: &VnetHdr,
    packet: &'a [u8],
    ip_offset: usize,
) -> Result<Segments<'a>, GsoError> {
    let plan = Plan::new(hdr, packet, ip_offset)?;
    Ok(Segments {
        packet,
        plan,
        next: 0,
    })
}

/// One wire packet: rewritten headers (owned) and a payload slice of the super-packet.
#[derive(Clone)]
pub struct Segment<'a> {
    headers: [u8; MAX_HEADERS],
    headers_len: usize,
    payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// The rewritten headers.
    pub fn headers(&self) -> &[u8] {
        &self.headers[..self.headers_len]
    }

    /// The payload, borrowed from the super-packet.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The segment's length on the wire.
    pub fn len(&self) -> usize {
        self.headers_len + self.payload.len()
    }

    /// Whether the segment is empty (never, for a segment from [`split`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Headers and payload as two slices for a vectored write
    /// ([`Queue::send_vectored`](crate::Queue::send_vectored)).
    pub fn io_slices(&self) -> [IoSlice<'_>; 2] {
        [IoSlice::new(self.headers()), IoSlice::new(self.payload)]
    }

    /// Copy the segment into `out`; returns its length, or `None` if `out` is too small.
    pub fn write_to(&self, out: &mut [u8]) -> Option<usize> {
        let out = out.get_mut(..self.len())?;
        out[..self.headers_len].copy_from_slice(self.headers());
        out[self.headers_len..].copy_from_slice(self.payload);
        Some(self.len())
    }

    /// The segment as one owned buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        v.extend_from_slice(self.headers());
        v.extend_from_slice(self.payload);
        v
    }
}

impl std::fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("headers_len", &self.headers_len)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// The segments of one super-packet, in order.
#[derive(Clone, Debug)]
pub struct Segments<'a> {
    packet: &'a [u8],
    plan: Plan,
    next: usize,
}

impl<'a> Iterator for Segments<'a> {
    type Item = Segment<'a>;

    fn next(&mut self) -> Option<Segment<'a>> {
        let i = self.next;
        if i >= self.plan.count {
            return None;
        }
        self.next += 1;
        Some(self.plan.segment(self.packet, i))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.plan.count - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Segments<'_> {}

/// What to do to a packet, worked out once and checked against its length.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Pass through unchanged.
    Whole,
    /// One segment whose checksum at `field` is completed over `[start..]`.
    Checksum { start: usize, field: usize },
    /// TCP segmentation.
    Tcp,
    /// UDP segmentation.
    Udp,
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    kind: Kind,
    ip: usize,
    ipv4: bool,
    /// Offset of the transport header.
    l4: usize,
    /// Length of all headers (payload starts here).
    headers: usize,
    mss: usize,
    count: usize,
    /// Sum of the IPv4 header without the fields each segment rewrites (total length, id,
    /// checksum).
    ip_sum: u64,
    /// Pseudo-header sum without the length, plus the transport header without the fields
    /// each segment rewrites (TCP: sequence number, data offset and flags, checksum; UDP:
    /// length, checksum).
    l4_sum: u64,
}

impl Plan {
    fn new(hdr: &VnetHdr, packet: &[u8], ip: usize) -> Result<Plan, GsoError> {
        let mut plan = Plan {
            kind: Kind::Whole,
            ip,
            ipv4: false,
            l4: 0,
            headers: 0,
            mss: 0,
            count: 1,
            ip_sum: 0,
            l4_sum: 0,
        };
        if hdr.gso_type == GsoType::None {
            if hdr.needs_csum {
                let start = usize::from(hdr.csum_start);
                let field = start + usize::from(hdr.csum_offset);
                if field + 2 > packet.len() || start < ip {
                    return Err(GsoError::BadChecksumOffsets);
                }
                if field + 2 > MAX_HEADERS {
                    return Err(GsoError::HeadersTooLong);
                }
                plan.kind = Kind::Checksum { start, field };
                plan.headers = field + 2;
            }
            return Ok(plan);
        }
        let version = packet.get(ip).ok_or(GsoError::Truncated)? >> 4;
        let (ipv4, proto) = match version {
            4 => {
                let ihl = usize::from(packet[ip] & 0x0f) * 4;
                if ihl < 20 || packet.len() < ip + ihl {
                    return Err(GsoError::Truncated);
                }
                (true, packet[ip + 9])
            }
            6 => {
                if packet.len() < ip + 40 {
                    return Err(GsoError::Truncated);
                }
                (false, packet[ip + 6])
            }
            _ => return Err(GsoError::NotIp),
        };
        let kind = match (hdr.gso_type, proto) {
            (GsoType::TcpV4, TCP) if ipv4 => Kind::Tcp,
            (GsoType::TcpV6, TCP) if !ipv4 => Kind::Tcp,
            (GsoType::UdpL4, UDP) => Kind::Udp,
            (GsoType::Udp, _) => return Err(GsoError::Unsupported),
            _ => return Err(GsoError::ProtocolMismatch(proto)),
        };
        // IPv6 extension headers are skipped by trusting csum_start, which the kernel always
        // sets for GSO packets; it must lie past the fixed IP header.
        let l4 = usize::from(hdr.csum_start);
        let min_l4 = ip
            + if ipv4 {
                usize::from(packet[ip] & 0x0f) * 4
            } else {
                40
            };
        if l4 < min_l4 {
            return Err(GsoError::BadChecksumOffsets);
        }
        let l4_len = match kind {
            Kind::Tcp => {
                let off = *packet.get(l4 + 12).ok_or(GsoError::Truncated)?;
                let len = usize::from(off >> 4) * 4;
                if len < 20 {
                    return Err(GsoError::Truncated);
                }
                len
            }
            _ => 8,
        };
        let headers = l4 + l4_len;
        if headers > packet.len() {
            return Err(GsoError::Truncated);
        }
        if headers > MAX_HEADERS {
            return Err(GsoError::HeadersTooLong);
        }
        let mss = usize::from(hdr.gso_size);
        if mss == 0 {
            return Err(GsoError::ZeroGsoSize);
        }
        let payload = packet.len() - headers;
        plan.kind = kind;
        plan.ipv4 = ipv4;
        plan.l4 = l4;
        plan.headers = headers;
        plan.mss = mss;
        plan.count = payload.div_ceil(mss).max(1);
        plan.sum_shared_headers(packet);
        Ok(plan)
    }

    /// Sum, once per super-packet, what every segment's checksums share, so that each segment
    /// adds only the few fields it rewrites and its payload. Every slice starts at an even
    /// offset of its header, so the 16-bit words line up with the checksum's.
    fn sum_shared_headers(&mut self, packet: &[u8]) {
        let (ip, l4, headers) = (self.ip, self.l4, self.headers);
        if self.ipv4 {
            let ihl = usize::from(packet[ip] & 0x0f) * 4;
            let mut sum = checksum::add(0, &packet[ip..ip + 2]);
            sum = checksum::add(sum, &packet[ip + 6..ip + 10]);
            self.ip_sum = checksum::add(sum, &packet[ip + 12..ip + ihl]);
        }
        let (src, dst) = self.addresses();
        let tcp = matches!(self.kind, Kind::Tcp);
        let mut sum =
            checksum::pseudo_header(&packet[src], &packet[dst], if tcp { TCP } else { UDP }, 0);
        sum = checksum::add(sum, &packet[l4..l4 + 4]);
        if tcp {
            sum = checksum::add(sum, &packet[l4 + 8..l4 + 12]);
            sum = checksum::add(sum, &packet[l4 + 14..l4 + 16]);
            sum = checksum::add(sum, &packet[l4 + 18..headers]);
        }
        self.l4_sum = sum;
    }

    /// Where the source and destination addresses are.
    fn addresses(&self) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let ip = self.ip;
        if self.ipv4 {
            (ip + 12..ip + 16, ip + 16..ip + 20)
        } else {
            (ip + 8..ip + 24, ip + 24..ip + 40)
        }
    }

    fn segment<'a>(&self, packet: &'a [u8], i: usize) -> Segment<'a> {
        let mut seg = Segment {
            headers: [0; MAX_HEADERS],
            headers_len: self.headers,
            payload: &[],
        };
        match self.kind {
            Kind::Whole => {
                seg.headers_len = 0;
                seg.payload = packet;
            }
            Kind::Checksum { start, field } => {
                seg.headers[..self.headers].copy_from_slice(&packet[..self.headers]);
                seg.payload = &packet[self.headers..];
                // The field holds the pseudo-header sum; summing over it completes the checksum.
                let sum =
                    checksum::add(checksum::add(0, &packet[start..self.headers]), seg.payload);
                seg.headers[field..field + 2].copy_from_slice(&checksum::finish(sum).to_be_bytes());
            }
            Kind::Tcp | Kind::Udp => self.cut(packet, i, &mut seg),
        }
        seg
    }

    /// Segment `i` of a TCP/UDP super-packet.
    fn cut<'a>(&self, packet: &'a [u8], i: usize, seg: &mut Segment<'a>) {
        let body = &packet[self.headers..];
        let from = (i * self.mss).min(body.len());
        let to = (from + self.mss).min(body.len());
        seg.payload = &body[from..to];
        let last = i + 1 == self.count;
        let h = &mut seg.headers[..self.headers];
        h.copy_from_slice(&packet[..self.headers]);
        let (ip, l4) = (self.ip, self.l4);
        let l4_total = self.headers - l4 + seg.payload.len();
        if self.ipv4 {
            let total = (self.headers - ip + seg.payload.len()) as u16;
            h[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            let id = u16::from_be_bytes([h[ip + 4], h[ip + 5]]).wrapping_add(i as u16);
            h[ip + 4..ip + 6].copy_from_slice(&id.to_be_bytes());
            let sum = self.ip_sum + u64::from(total) + u64::from(id);
            h[ip + 10..ip + 12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        } else {
            let payload_len = (self.headers - ip - 40 + seg.payload.len()) as u16;
            h[ip + 4..ip + 6].copy_from_slice(&payload_len.to_be_bytes());
        }
        // The pseudo-header's length, then the rewritten fields, then the payload.
        let mut sum = self.l4_sum + l4_total as u64 + checksum::add(0, seg.payload);
        let field = match self.kind {
            Kind::Tcp => {
                let seq = u32::from_be_bytes([h[l4 + 4], h[l4 + 5], h[l4 + 6], h[l4 + 7]])
                    .wrapping_add(from as u32);
                h[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
                if !last {
                    h[l4 + 13] &= !(TCP_FIN | TCP_PSH);
                }
                if i > 0 {
                    h[l4 + 13] &= !TCP_CWR;
                }
                sum += u64::from(seq >> 16)
                    + u64::from(seq & 0xffff)
                    + u64::from(u16::from_be_bytes([h[l4 + 12], h[l4 + 13]]));
                l4 + 16
            }
            _ => {
                h[l4 + 4..l4 + 6].copy_from_slice(&(l4_total as u16).to_be_bytes());
                sum += l4_total as u64;
                l4 + 6
            }
        };
        let mut csum = checksum::finish(sum);
        if matches!(self.kind, Kind::Udp) && csum == 0 {
            csum = 0xffff; // zero means "no checksum" for UDP
        }
        h[field..field + 2].copy_from_slice(&csum.to_be_bytes());
    }
}
