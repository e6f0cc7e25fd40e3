//! GRO-style coalescing for the write path: merge consecutive segments of one flow into a
//! super-packet the kernel segments (or delivers whole) itself.
//!
//! This is the inverse of [`crate::gso`]. Given a batch of IP packets (as a TUN device takes
//! them, without `tun_pi` or `virtio_net_hdr`), [`Batch::coalesce`] plans the frames to write:
//! runs of segments of one TCP or UDP flow become one super-packet with a [`VnetHdr`] asking
//! for segmentation (`TCPV4`, `TCPV6` or `UDP_L4`) and a partial checksum (`NEEDS_CSUM`);
//! every other packet is a frame of its own, to be written unchanged with [`VnetHdr::NONE`].
//! [`Queue::send_batch_coalesced`](crate::Queue::send_batch_coalesced) writes such a plan.
//!
//! # What merges
//!
//! A packet joins the open super-packet of its flow (same IP version, protocol, addresses and
//! ports) only when [`gso::split`](crate::gso::split) of the result gives back exactly the
//! packets that went in, which takes:
//!
//! - IPv4 without options or fragmentation (`IHL` 5, no `MF`, offset 0), total length equal
//!   to the packet length, a correct header checksum; TOS, flags (`DF`), TTL equal to the first
//!   segment's and an IP ID one more than the previous segment's. IPv6 with TCP or UDP as the
//!   first next header (no extension headers), payload length matching; traffic class, flow
//!   label and hop limit equal.
//! - TCP: the same ports, acknowledgment number, data offset, window, urgent pointer and option
//!   bytes; a sequence number right after the previous segment's data; flags equal, except that
//!   `PSH` may be set on the last segment; never `SYN`, `FIN`, `RST`, `URG` or `CWR`; a
//!   non-empty payload.
//! - UDP: the same ports, a length field matching the packet, a non-empty payload and a
//!   non-zero checksum (an IPv4 datagram without checksum stays alone).
//! - Every segment's transport checksum is verified before it is merged (and must be exactly
//!   the value a sender computes), so a corrupt packet is never laundered into a valid-looking
//!   super-packet: it goes out alone and the kernel drops it as it would have.
//! - Sizes: every segment has the payload size of the first (`gso_size`) except a shorter
//!   last one, which closes the super-packet, as a `PSH` does; at most
//!   [`Config::max_segments`] segments and [`Config::max_len`] bytes of IP packet (the kernel's
//!   limit is [`MAX_LEN`], 64 KiB).
//!
//! Packets of one flow keep their order: any packet of the flow that cannot join (a pure ACK,
//! a `FIN`, a change of TTL) closes the flow's super-packet and is written after it. Frames
//! are written in the order of their first packet, so packets of *different* flows may be
//! reordered against each other, as the kernel's own GRO does.
//!
//! # Memory
//!
//! A [`Batch`] keeps its buffers between calls: after the first few batches, coalescing
//! allocates nothing. Payload is never copied: a single frame is the caller's packet, and a
//! super-packet is its rewritten headers (in the batch's arena) followed by the payloads of its
//! members, still in the caller's packets; [`Frame::parts`] lists the pieces for a gathered
//! write (`writev(2)`), which the kernel copies once, as it would a contiguous packet.
//!
//! # Examples
//!
//! ```
//! use tuntap::gro::{Batch, Config, Protocols};
//! use tuntap::internet_checksum;
//! use tuntap::vnet::GsoType;
//!
//! /// One segment of a TCP stream from 10.0.0.1:1000 to 10.0.0.2:2000, checksums filled in.
//! fn segment(seq: u32, id: u16, payload: &[u8]) -> Vec<u8> {
//!     let len = 40 + payload.len();
//!     let mut p = vec![0u8; len];
//!     p[0] = 0x45;
//!     p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
//!     p[4..6].copy_from_slice(&id.to_be_bytes());
//!     p[8] = 64;
//!     p[9] = 6;
//!     p[12..16].copy_from_slice(&[10, 0, 0, 1]);
//!     p[16..20].copy_from_slice(&[10, 0, 0, 2]);
//!     let ip_sum = internet_checksum(&p[..20]);
//!     p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
//!     p[20..22].copy_from_slice(&1000u16.to_be_bytes());
//!     p[22..24].copy_from_slice(&2000u16.to_be_bytes());
//!     p[24..28].copy_from_slice(&seq.to_be_bytes());
//!     p[32] = 5 << 4; // data offset: 20 bytes
//!     p[33] = 0x10; // ACK
//!     p[34..36].copy_from_slice(&512u16.to_be_bytes()); // window
//!     p[40..].copy_from_slice(payload);
//!     // The transport checksum covers a pseudo-header: addresses, protocol, length.
//!     let mut summed = p[12..20].to_vec();
//!     summed.extend_from_slice(&[0, 6]);
//!     summed.extend_from_slice(&((len - 20) as u16).to_be_bytes());
//!     summed.extend_from_slice(&p[20..]);
//!     let tcp_sum = internet_checksum(&summed);
//!     p[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
//!     p
//! }
//!
//! // Three consecutive 1000-byte segments of one flow, e.g. decrypted from a tunnel.
//! let segments: Vec<Vec<u8>> = (0..3u16)
//!     .map(|i| segment(7000 + 1000 * u32::from(i), 40 + i, &[i as u8; 1000]))
//!     .collect();
//! let packets: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
//!
//! let mut batch = Batch::new();
//! let plan = batch.coalesce(&packets, &Config::default());
//! assert_eq!(plan.len(), 1, "one write instead of three");
//! let frame = plan.frames().next().unwrap();
//! assert_eq!(frame.protocol(), Protocols::TCP4);
//! assert_eq!(frame.vnet_hdr().gso_type, GsoType::TcpV4);
//! assert_eq!(frame.vnet_hdr().gso_size, 1000);
//! assert_eq!(frame.len(), 40 + 3000);
//!
//! // Gather the header and the parts into one writev(2) on a vnet_hdr device: the rewritten
//! // headers, then each segment's payload where it lies.
//! let header = frame.vnet_hdr().to_bytes();
//! let mut iov = vec![std::io::IoSlice::new(&header)];
//! iov.extend(frame.parts().map(std::io::IoSlice::new));
//! assert_eq!(iov.len(), 1 + 1 + 3);
//! //! ```

use std::borrow::Cow;
use std::fmt;

use crate::checksum;
use crate::vnet::{GsoType, VnetHdr};

/// The largest IP packet (header included) a super-packet may be: the 16-bit IPv4 total length,
/// which is also the kernel's GSO limit.
pub const MAX_LEN: usize = 65_535;

/// Default for [`Config::max_segments`]: what the kernel's UDP GRO allows per super-packet.
pub const DEFAULT_MAX_SEGMENTS: usize = 64;

/// At most this many flows are open at once; the oldest is closed (written as it is) to make
/// room, which bounds the flow lookup.
const MAX_OPEN: usize = 64;

const TCP: u8 = 6;
const UDP: u8 = 17;
const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;
/// Flags that keep a segment out of any super-packet.
const TCP_NEVER: u8 = TCP_FIN | TCP_SYN | TCP_RST | TCP_URG | TCP_CWR;
const NIL: u32 = u32::MAX;

/// A set of protocols to coalesce: TCP over IPv4, TCP over IPv6, UDP over either.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Protocols(u8);

impl Protocols {
    /// No protocol.
    pub const NONE: Protocols = Protocols(0);
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`).
    pub const TCP4: Protocols = Protocols(1);
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`).
    pub const TCP6: Protocols = Protocols(2);
    /// UDP over IPv4 and IPv6 (`VIRTIO_NET_HDR_GSO_UDP_L4`, Linux 6.2+).
    pub const UDP: Protocols = Protocols(4);
    /// All three.
    pub const ALL: Protocols = Protocols(7);

    /// From raw bits; unknown bits are dropped.
    pub const fn from_bits(bits: u8) -> Self {
        Protocols(bits & Self::ALL.0)
    }

    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every protocol of `other` is in this set.
    pub const fn contains(self, other: Protocols) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// This set less `other`.
    pub const fn without(self, other: Protocols) -> Protocols {
        Protocols(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Protocols {
    type Output = Protocols;

    fn bitor(self, rhs: Protocols) -> Protocols {
        Protocols(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Protocols {
    fn bitor_assign(&mut self, rhs: Protocols) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Protocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Protocols::TCP4, "TCP4"),
            (Protocols::TCP6, "TCP6"),
            (Protocols::UDP, "UDP"),
        ];
        let mut first = true;
        f.write_str("Protocols(")?;
        for (p, name) in names {
            if self.contains(p) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("NONE")?;
        }
        f.write_str(")")
    }
}

/// What to coalesce and how far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    protocols: Protocols,
    max_segments: usize,
    max_len: usize,
}

impl Default for Config {
    /// Every protocol, [`DEFAULT_MAX_SEGMENTS`], [`MAX_LEN`].
    fn default() -> Self {
        Config {
            protocols: Protocols::ALL,
            max_segments: DEFAULT_MAX_SEGMENTS,
            max_len: MAX_LEN,
        }
    }
}

impl Config {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Coalesce only these protocols (packets of the others are written alone).
    pub fn protocols(mut self, protocols: Protocols) -> Self {
        self.protocols = protocols;
        self
    }

    /// At most `n` segments per super-packet (at least 1; 1 turns coalescing off).
    pub fn max_segments(mut self, n: usize) -> Self {
        self.max_segments = n.max(1);
        self
    }

    /// At most `len` bytes per super-packet, IP header included; capped at [`MAX_LEN`].
    pub fn max_len(mut self, len: usize) -> Self {
        self.max_len = len.min(MAX_LEN);
        self
    }

    /// The protocols coalesced.
    pub fn get_protocols(&self) -> Protocols {
        self.protocols
    }

    /// The segment limit.
    pub fn get_max_segments(&self) -> usize {
        self.max_segments
    }

    /// The length limit.
    pub fn get_max_len(&self) -> usize {
        self.max_len
    }
}

/// The transport and IP version of a coalescible segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
}

impl Kind {
    fn tcp(self) -> bool {
        matches!(self, Kind::Tcp4 | Kind::Tcp6)
    }

    fn v4(self) -> bool {
        matches!(self, Kind::Tcp4 | Kind::Udp4)
    }

    fn protocols(self) -> Protocols {
        match self {
            Kind::Tcp4 => Protocols::TCP4,
            Kind::Tcp6 => Protocols::TCP6,
            Kind::Udp4 | Kind::Udp6 => Protocols::UDP,
        }
    }

    fn gso_type(self) -> GsoType {
        match self {
            Kind::Tcp4 => GsoType::TcpV4,
            Kind::Tcp6 => GsoType::TcpV6,
            Kind::Udp4 | Kind::Udp6 => GsoType::UdpL4,
        }
    }

    fn ip_proto(self) -> u8 {
        if self.tcp() { TCP } else { UDP }
    }

    /// Offset of the checksum field in the transport header.
    fn csum_offset(self) -> usize {
        if self.tcp() { 16 } else { 6 }
    }
}

/// A flow: IP version and protocol, addresses, ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FlowKey {
    kind: Kind,
    addrs: [u8; 32],
    ports: [u8; 4],
}

/// A segment that may start or join a super-packet.
#[derive(Clone, Copy, Debug)]
struct Seg {
    kind: Kind,
    /// Length of the IP header (where the transport header starts).
    ip_len: usize,
    /// Length of all headers (where the payload starts).
    hdr_len: usize,
    payload: usize,
    seq: u32,
    flags: u8,
    id: u16,
}

enum Parsed {
    /// Not TCP/UDP over IP as far as can be told: written alone, part of no flow.
    Opaque,
    /// A packet of a flow, and whether it may be coalesced.
    Flow(FlowKey, Option<Seg>),
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Classify one packet. Only header checks happen here; the transport checksum is verified
/// when the packet is about to be merged.
fn parse(p: &[u8], config: &Config) -> Parsed {
    let Some(&first) = p.first() else {
        return Parsed::Opaque;
    };
    let (v4, ip_len, proto, addrs) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f) * 4;
            if ihl < 20 || p.len() < ihl {
                return Parsed::Opaque;
            }
            // A fragment has no transport header (or only part of a datagram): not a segment.
            if be16(p, 6) & 0x3fff != 0 {
                return Parsed::Opaque;
            }
            (true, ihl, p[9], &p[12..20])
        }
        6 if p.len() >= 40 => (false, 40, p[6], &p[8..40]),
        _ => return Parsed::Opaque,
    };
    let kind = match (v4, proto) {
        (true, TCP) => Kind::Tcp4,
        (false, TCP) => Kind::Tcp6,
        (true, UDP) => Kind::Udp4,
        (false, UDP) => Kind::Udp6,
        _ => return Parsed::Opaque,
    };
    if p.len() < ip_len + 4 {
        return Parsed::Opaque;
    }
    let mut key = FlowKey {
        kind,
        addrs: [0; 32],
        ports: [0; 4],
    };
    key.addrs[..addrs.len()].copy_from_slice(addrs);
    key.ports.copy_from_slice(&p[ip_len..ip_len + 4]);
    Parsed::Flow(key, segment(p, kind, ip_len, config))
}

/// The segment view of a packet of a flow, if it may be coalesced at all.
fn segment(p: &[u8], kind: Kind, ip_len: usize, config: &Config) -> Option<Seg> {
    if !config.protocols.contains(kind.protocols()) || p.len() > config.max_len {
        return None;
    }
    let mut seg = Seg {
        kind,
        ip_len,
        hdr_len: 0,
        payload: 0,
        seq: 0,
        flags: 0,
        id: 0,
    };
    if kind.v4() {
        if ip_len != 20 || usize::from(be16(p, 2)) != p.len() {
            return None;
        }
        let sum = checksum::add(checksum::add(0, &p[..10]), &p[12..20]);
        if checksum::finish(sum) != be16(p, 10) {
            return None;
        }
        seg.id = be16(p, 4);
    } else if usize::from(be16(p, 4)) + 40 != p.len() {
        return None;
    }
    let l4 = ip_len;
    if kind.tcp() {
        let doff = usize::from(*p.get(l4 + 12)? >> 4) * 4;
        if doff < 20 || p.len() < l4 + doff {
            return None;
        }
        seg.flags = p[l4 + 13];
        if seg.flags & TCP_NEVER != 0 {
            return None;
        }
        seg.seq = be32(p, l4 + 4);
        seg.hdr_len = l4 + doff;
    } else {
        if p.len() < l4 + 8 || usize::from(be16(p, l4 + 4)) != p.len() - l4 {
            return None;
        }
        if be16(p, l4 + 6) == 0 {
            return None; // no checksum: gso::split would invent one
        }
        seg.hdr_len = l4 + 8;
    }
    seg.payload = p.len() - seg.hdr_len;
    (seg.payload > 0).then_some(seg)
}

/// Whether the transport checksum of `p` is exactly what a sender computes.
fn transport_checksum_ok(p: &[u8], seg: &Seg) -> bool {
    let l4 = seg.ip_len;
    let field = l4 + seg.kind.csum_offset();
    let (src, dst) = if seg.kind.v4() {
        (&p[12..16], &p[16..20])
    } else {
        (&p[8..24], &p[24..40])
    };
    let mut sum = checksum::pseudo_header(src, dst, seg.kind.ip_proto(), p.len() - l4);
    sum = checksum::add(sum, &p[l4..field]);
    sum = checksum::add(sum, &p[field + 2..]);
    let mut expected = checksum::finish(sum);
    if !seg.kind.tcp() && expected == 0 {
        expected = 0xffff;
    }
    expected == be16(p, field)
}

/// Whether the headers of `p` match those of the head `h` in every field that
/// [`gso::split`](crate::gso::split) copies from the super-packet unchanged.
fn same_headers(seg: &Seg, h: &[u8], p: &[u8]) -> bool {
    let ip_same = if seg.kind.v4() {
        // Version/IHL, TOS; flags, fragment offset, TTL, protocol; addresses.
        h[0..2] == p[0..2] && h[6..10] == p[6..10] && h[12..20] == p[12..20]
    } else {
        // Version, traffic class, flow label; next header, hop limit, addresses.
        h[0..4] == p[0..4] && h[6..40] == p[6..40]
    };
    if !ip_same {
        return false;
    }
    let l4 = seg.ip_len;
    if !seg.kind.tcp() {
        return h[l4..l4 + 4] == p[l4..l4 + 4];
    }
    // Ports; acknowledgment and data offset; flags (PSH may be new on the joining segment);
    // window; urgent pointer and options.
    h[l4..l4 + 4] == p[l4..l4 + 4]
        && h[l4 + 8..l4 + 13] == p[l4 + 8..l4 + 13]
        && h[l4 + 13] == p[l4 + 13] & !TCP_PSH
        && h[l4 + 14..l4 + 16] == p[l4 + 14..l4 + 16]
        && h[l4 + 18..seg.hdr_len] == p[l4 + 18..seg.hdr_len]
}

/// One output frame while planning: a run of input packets.
#[derive(Clone, Copy, Debug)]
struct Item {
    head: u32,
    tail: u32,
    count: u32,
    /// The head's segment view, `None` when this frame can only be written alone.
    seg: Option<Seg>,
    head_verified: bool,
    /// IP length of the (super-)packet.
    len: usize,
    next_seq: u32,
    /// Where the super-packet's rewritten headers start in the arena (when `count > 1`).
    start: usize,
}

/// Reusable buffers for [`coalesce`](Batch::coalesce): keep one per sender to avoid
/// allocating per batch.
#[derive(Debug, Default)]
pub struct Batch {
    items: Vec<Item>,
    /// For each input packet, the next member of its frame (`NIL` at the end).
    next: Vec<u32>,
    open: Vec<(FlowKey, u32)>,
    arena: Vec<u8>,
}

/// How a packet fits the open super-packet of its flow.
enum Join {
    /// Merged.
    Joined,
    /// Not mergeable here; it may start a super-packet of its own.
    Start,
    /// Its checksum is wrong: it is written alone, as it is.
    Alone,
}

impl Batch {
    /// Empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plan the frames for `packets` (IP packets, in the order they should be written).
    ///
    /// Every packet ends up in exactly one frame; see the [module docs](self) for what merges.
    /// Never panics, whatever the bytes.
    pub fn coalesce<'b>(&'b mut self, packets: &'b [&'b [u8]], config: &Config) -> Plan<'b> {
        self.items.clear();
        self.open.clear();
        self.arena.clear();
        self.next.clear();
        self.next.resize(packets.len(), NIL);
        for (i, p) in packets.iter().enumerate() {
            let (key, seg) = match parse(p, config) {
                Parsed::Opaque => {
                    self.push(i, None);
                    continue;
                }
                Parsed::Flow(key, seg) => (key, seg),
            };
            let open = self.open.iter().position(|(k, _)| *k == key);
            let Some(seg) = seg else {
                // Keep the flow in order: whatever is open is written before this packet.
                if let Some(o) = open {
                    self.open.swap_remove(o);
                }
                self.push(i, None);
                continue;
            };
            let mut alone = false;
            if let Some(o) = open {
                let item = self.open[o].1 as usize;
                match self.join(item, i, &seg, packets, config) {
                    Join::Joined => {
                        if self.full(item, &seg, config) {
                            self.open.swap_remove(o);
                        }
                        continue;
                    }
                    Join::Start => {}
                    Join::Alone => alone = true,
                }
                self.open.swap_remove(o);
            }
            if alone {
                self.push(i, None);
                continue;
            }
            let item = self.push(i, Some(seg));
            if !self.full(item, &seg, config) {
                if self.open.len() == MAX_OPEN {
                    self.open.swap_remove(0);
                }
                self.open.push((key, item as u32));
            }
        }
        self.build(packets);
        Plan {
            batch: self,
            packets,
        }
    }

    fn push(&mut self, i: usize, seg: Option<Seg>) -> usize {
        self.items.push(Item {
            head: i as u32,
            tail: i as u32,
            count: 1,
            seg,
            head_verified: false,
            len: seg.map_or(0, |s| s.hdr_len + s.payload),
            next_seq: seg.map_or(0, |s| s.seq.wrapping_add(s.payload as u32)),
            start: 0,
        });
        self.items.len() - 1
    }

    /// Whether the super-packet `item`, whose last segment is `last`, can take no more.
    fn full(&self, item: usize, last: &Seg, config: &Config) -> bool {
        let it = &self.items[item];
        let Some(head) = it.seg else {
            return true;
        };
        last.payload < head.payload
            || last.flags & TCP_PSH != 0
            || it.count as usize >= config.max_segments
            || it.len + head.payload > config.max_len
    }

    fn join(
        &mut self,
        item: usize,
        i: usize,
        seg: &Seg,
        packets: &[&[u8]],
        config: &Config,
    ) -> Join {
        let it = self.items[item];
        let Some(head) = it.seg else {
            return Join::Start;
        };
        let (h, p) = (packets[it.head as usize], packets[i]);
        let fits = (it.count as usize) < config.max_segments
            && it.len + seg.payload <= config.max_len
            && seg.payload <= head.payload
            && seg.hdr_len == head.hdr_len
            && seg.ip_len == head.ip_len
            && same_headers(&head, h, p)
            && (!head.kind.v4() || seg.id == head.id.wrapping_add(it.count as u16))
            && (!head.kind.tcp() || seg.seq == it.next_seq);
        if !fits {
            return Join::Start;
        }
        if !it.head_verified {
            if !transport_checksum_ok(h, &head) {
                // The head goes out alone, as it is; this packet may start afresh.
                self.items[item].seg = None;
                return Join::Start;
            }
            self.items[item].head_verified = true;
        }
        if !transport_checksum_ok(p, seg) {
            return Join::Alone;
        }
        let it = &mut self.items[item];
        self.next[it.tail as usize] = i as u32;
        it.tail = i as u32;
        it.count += 1;
        it.len += seg.payload;
        it.next_seq = it.next_seq.wrapping_add(seg.payload as u32);
        Join::Joined
    }

    /// Write the rewritten headers of every super-packet into the arena; the payloads stay
    /// where they are and are gathered when the frame is written ([`Frame::parts`]).
    fn build(&mut self, packets: &[&[u8]]) {
        let Batch { items, arena, .. } = self;
        for it in items.iter_mut().filter(|it| it.count > 1) {
            let Some(seg) = it.seg else { continue };
            let head = packets[it.head as usize];
            it.start = arena.len();
            arena.extend_from_slice(&head[..seg.hdr_len]);
            let last_flags = packets[it.tail as usize]
                .get(seg.ip_len + 13)
                .copied()
                .unwrap_or(0);
            finish_headers(&mut arena[it.start..], it.len, &seg, last_flags);
        }
    }
}

/// Rewrite the headers `h` of a super-packet `len` bytes long (IP header included): lengths,
/// IPv4 header checksum, the last segment's `PSH`, and the pseudo-header sum the kernel
/// completes (`NEEDS_CSUM`). None of them covers the payload, so the payload is not needed.
fn finish_headers(h: &mut [u8], len: usize, seg: &Seg, last_flags: u8) {
    let l4 = seg.ip_len;
    if seg.kind.v4() {
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        h[10..12].fill(0);
        let csum = checksum::finish(checksum::add(0, &h[..20]));
        h[10..12].copy_from_slice(&csum.to_be_bytes());
    } else {
        h[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    }
    if seg.kind.tcp() {
        h[l4 + 13] |= last_flags & TCP_PSH;
    } else {
        h[l4 + 4..l4 + 6].copy_from_slice(&((len - l4) as u16).to_be_bytes());
    }
    let (src, dst) = if seg.kind.v4() {
        (&h[12..16], &h[16..20])
    } else {
        (&h[8..24], &h[24..40])
    };
    let pseudo = checksum::fold(checksum::pseudo_header(
        src,
        dst,
        seg.kind.ip_proto(),
        len - l4,
    ));
    let field = l4 + seg.kind.csum_offset();
    h[field..field + 2].copy_from_slice(&pseudo.to_be_bytes());
}

/// The frames planned for one batch, borrowing the [`Batch`] and the input packets.
#[derive(Clone, Copy)]
pub struct Plan<'b> {
    batch: &'b Batch,
    packets: &'b [&'b [u8]],
}

impl<'b> Plan<'b> {
    /// The frames, in the order to write them.
    pub fn frames(&self) -> impl ExactSizeIterator<Item = Frame<'b>> + 'b {
        let (batch, packets) = (self.batch, self.packets);
        batch.items.iter().map(move |item| Frame {
            item,
            batch,
            packets,
        })
    }

    /// How many frames (writes) the batch takes.
    pub fn len(&self) -> usize {
        self.batch.items.len()
    }

    /// Whether there is no frame (an empty batch).
    pub fn is_empty(&self) -> bool {
        self.batch.items.is_empty()
    }

    /// How many frames are super-packets.
    pub fn coalesced(&self) -> usize {
        self.batch.items.iter().filter(|it| it.count > 1).count()
    }
}

impl fmt::Debug for Plan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.frames()).finish()
    }
}

/// One frame of a [`Plan`]: a super-packet or a single packet, with its `virtio_net_hdr`.
#[derive(Clone, Copy)]
pub struct Frame<'b> {
    item: &'b Item,
    batch: &'b Batch,
    packets: &'b [&'b [u8]],
}

impl<'b> Frame<'b> {
    /// Whether this frame is a super-packet of several segments.
    pub fn is_coalesced(&self) -> bool {
        self.item.count > 1
    }

    /// How many input packets the frame carries.
    pub fn segments(&self) -> usize {
        self.item.count as usize
    }

    /// The protocol of a super-packet ([`Protocols::NONE`] for a single packet).
    pub fn protocol(&self) -> Protocols {
        match self.item.seg {
            Some(seg) if self.is_coalesced() => seg.kind.protocols(),
            _ => Protocols::NONE,
        }
    }

    /// The header to write before [`packet`](Self::packet): [`VnetHdr::NONE`] for a single
    /// packet; for a super-packet, its GSO type, `gso_size` (the first segment's payload),
    /// `hdr_len`, and `NEEDS_CSUM` from the transport header.
    pub fn vnet_hdr(&self) -> VnetHdr {
        match self.item.seg {
            Some(seg) if self.is_coalesced() => VnetHdr {
                needs_csum: true,
                gso_type: seg.kind.gso_type(),
                hdr_len: seg.hdr_len as u16,
                gso_size: seg.payload as u16,
                csum_start: seg.ip_len as u16,
                csum_offset: seg.kind.csum_offset() as u16,
                ..VnetHdr::NONE
            },
            _ => VnetHdr::NONE,
        }
    }

    /// The length of the IP packet this frame writes.
    pub fn len(&self) -> usize {
        if self.is_coalesced() {
            self.item.len
        } else {
            self.packets[self.item.head as usize].len()
        }
    }

    /// Whether the frame's packet is empty (only for an empty input packet).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IP packet in pieces, to be written gathered (`writev(2)`) without copying: for a
    /// super-packet, its rewritten headers, then the payload of each member in order (slices
    /// of the input packets); for a single packet, the input packet unchanged.
    pub fn parts(&self) -> Parts<'b> {
        match self.item.seg {
            Some(seg) if self.is_coalesced() => Parts {
                headers: Some(&self.batch.arena[self.item.start..self.item.start + seg.hdr_len]),
                members: self.members(),
                packets: self.packets,
                skip: seg.hdr_len,
            },
            _ => Parts {
                headers: None,
                members: self.members(),
                packets: self.packets,
                skip: 0,
            },
        }
    }

    /// The IP packet as one slice: the input packet unchanged, or a super-packet assembled
    /// from [`parts`](Self::parts), which allocates. A writer should gather the parts instead.
    pub fn packet(&self) -> Cow<'b, [u8]> {
        if self.is_coalesced() {
            let mut packet = Vec::with_capacity(self.len());
            for part in self.parts() {
                packet.extend_from_slice(part);
            }
            Cow::Owned(packet)
        } else {
            Cow::Borrowed(self.packets[self.item.head as usize])
        }
    }

    /// The indexes (into the input) of the packets in this frame, in order.
    pub fn members(&self) -> Members<'b> {
        Members {
            next: &self.batch.next,
            at: self.item.head,
        }
    }
}

impl fmt::Debug for Frame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frame")
            .field("members", &self.members().collect::<Vec<_>>())
            .field("len", &self.len())
            .field("protocol", &self.protocol())
            .finish()
    }
}

/// The pieces of one frame's IP packet ([`Frame::parts`]).
#[derive(Clone, Debug)]
pub struct Parts<'b> {
    /// The super-packet's rewritten headers, first; `None` for a single packet.
    headers: Option<&'b [u8]>,
    members: Members<'b>,
    packets: &'b [&'b [u8]],
    /// Bytes of each member before its payload (0 for a single packet).
    skip: usize,
}

impl<'b> Iterator for Parts<'b> {
    type Item = &'b [u8];

    fn next(&mut self) -> Option<&'b [u8]> {
        if let Some(headers) = self.headers.take() {
            return Some(headers);
        }
        let m = self.members.next()?;
        Some(&self.packets[m][self.skip..])
    }
}

/// The input indexes of one frame's packets ([`Frame::members`]).
#[derive(Clone, Debug)]
pub struct Members<'b> {
    next: &'b [u32],
    at: u32,
}

impl Iterator for Members<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.at == NIL {
            return None;
        }
        let i = self.at as usize;
        self.at = self.next[i];
        Some(i)
    }
}

#[cfg(test)]
mod tests;
