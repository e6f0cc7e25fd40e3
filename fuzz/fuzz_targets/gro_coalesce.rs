//! `gro::Batch::coalesce` on batches built from the fuzz input: runs of well-formed TCP and
//! UDP segments over IPv4 and IPv6 (so merges happen), with mutations that must keep packets
//! apart (flags, TTL, sequence gaps, IP IDs, sizes, corrupted bytes, truncation) and raw
//! garbage packets mixed in. Whatever the input, the plan never panics and:
//!
//! - every input packet is in exactly one frame, members of a frame in input order;
//! - a single frame is its packet unchanged with a plain header;
//! - a super-packet split with `gso::split` gives back exactly its members' bytes;
//! - packets of one flow are written in their input order.
#![no_main]

#[path = "../../crates/tuntap/tests/common/packets.rs"]
mod packets;

use libfuzzer_sys::fuzz_target;
use packets::Pkt;
use tuntap::gro::{Batch, Config, Protocols};
use tuntap::gso;
use tuntap::vnet::VnetHdr;

/// Reads the input a byte at a time; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// The flow a packet belongs to as far as ordering goes (version, protocol, addresses,
/// ports), by the same rules as the coalescer: IPv4 fragments and packets too short for their
/// ports belong to no flow.
fn flow(p: &[u8]) -> Option<Vec<u8>> {
    let (hdr, proto, addrs) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) & 0x3fff;
            if ihl < 20 || p.len() < ihl || frag != 0 {
                return None;
            }
            (ihl, p[9], &p[12..20])
        }
        6 if p.len() >= 40 => (40, p[6], &p[8..40]),
        _ => return None,
    };
    if proto != 6 && proto != 17 {
        return None;
    }
    let ports = p.get(hdr..hdr + 4)?;
    Some([&[p[0] >> 4, proto], addrs, ports].concat())
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let config = Config::default()
        .protocols(Protocols::from_bits(input.byte()))
        .max_segments(usize::from(input.byte() % 70))
        .max_len(usize::from(input.u16()).max(1_000));
    // Four flows, each continuing from its last segment.
    let mut last: Vec<Pkt> = vec![
        Pkt::tcp4(Vec::new()),
        Pkt::tcp6(Vec::new()),
        Pkt::udp4(Vec::new()),
        Pkt::udp6(Vec::new()),
    ];
    let mut packets: Vec<Vec<u8>> = Vec::new();
    while !input.done() && packets.len() < 256 {
        let op = input.byte();
        let f = usize::from(op & 3);
        if op >> 2 == 63 {
            // Raw garbage.
            let len = usize::from(input.byte());
            packets.push((0..len).map(|_| input.byte()).collect());
            continue;
        }
        let len = usize::from(input.u16() % 1_500);
        let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ op).collect();
        let mut p = last[f].next(payload);
        let mutation = input.byte();
        match mutation % 16 {
            0 => p.flags = input.byte(),
            1 => p.ttl = p.ttl.wrapping_add(1),
            2 => p.seq = p.seq.wrapping_add(u32::from(input.u16())),
            3 => p.id = p.id.wrapping_add(input.u16()),
            4 => p.tos ^= 1,
            5 => p.options = vec![1; usize::from(input.byte() % 12)],
            6 => p.no_udp_checksum = true,
            7 => p.sport ^= 1,
            8 => p.df = !p.df,
            9 => p.ack = p.ack.wrapping_add(1),
            10 => p.window ^= 1,
            _ => {}
        }
        let mut bytes = p.build();
        match mutation >> 4 {
            0 if !bytes.is_empty() => {
                let at = usize::from(input.u16()) % bytes.len();
                bytes[at] ^= input.byte() | 1;
            }
            1 => bytes.truncate(usize::from(input.u16()) % (bytes.len() + 1)),
            2 => bytes.extend_from_slice(&[0, 1, 2]),
            _ => {}
        }
        last[f] = p;
        packets.push(bytes);
    }

    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let mut batch = Batch::new();
    let plan = batch.coalesce(&refs, &config);
    let mut seen = vec![false; packets.len()];
    let mut order = Vec::with_capacity(packets.len());
    for frame in plan.frames() {
        let members: Vec<usize> = frame.members().collect();
        assert!(!members.is_empty(), "a frame without packets");
        assert!(
            members.windows(2).all(|w| w[0] < w[1]),
            "members out of order"
        );
        for &m in &members {
            assert!(!std::mem::replace(&mut seen[m], true), "packet {m} twice");
        }
        assert_eq!(frame.segments(), members.len());
        if frame.is_coalesced() {
            assert!(members.len() > 1);
            assert!(frame.packet().len() <= tuntap::gro::MAX_LEN);
            let segments: Vec<Vec<u8>> = gso::split(&frame.vnet_hdr(), &frame.packet())
                .expect("a planned super-packet splits")
                .map(|s| s.to_vec())
                .collect();
            let expected: Vec<Vec<u8>> = members.iter().map(|&m| packets[m].clone()).collect();
            assert_eq!(segments, expected, "super-packet {members:?} splits back");
        } else {
            assert_eq!(members.len(), 1);
            assert_eq!(frame.vnet_hdr(), VnetHdr::NONE);
            assert_eq!(frame.packet(), packets[members[0]].as_slice());
        }
        order.extend(members);
    }
    assert!(seen.iter().all(|&s| s), "a packet in no frame");
    // Per flow, the write order is the input order.
    for (i, &a) in order.iter().enumerate() {
        let Some(fa) = flow(&packets[a]) else {
            continue;
        };
        for &b in &order[i + 1..] {
            if flow(&packets[b]).as_ref() == Some(&fa) {
                assert!(a < b, "flow reordered: {a} written before {b}");
            }
        }
    }
});
