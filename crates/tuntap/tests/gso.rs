//! GSO split against a reference: segments reassemble to the original payload, every header
//! is rewritten consistently and every checksum verifies. Needs no privilege.

use proptest::prelude::*;
use tuntap::gso::{self, GsoError};
use tuntap::vnet::{GsoType, VnetHdr};

/// Reference one's-complement sum over 16-bit words, kept deliberately naive.
fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

fn folds_to_ffff(mut s: u32) -> bool {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

#[derive(Clone, Copy, Debug)]
enum Proto {
    Tcp4,
    Tcp6,
    Udp4,
    Udp6,
}

/// A super-packet: IP header, TCP (with `opts` option bytes) or UDP header, payload.
fn super_packet(proto: Proto, opts: usize, payload: &[u8], flags: u8) -> (VnetHdr, Vec<u8>, usize) {
    let (v4, tcp) = match proto {
        Proto::Tcp4 => (true, true),
        Proto::Tcp6 => (false, true),
        Proto::Udp4 => (true, false),
        Proto::Udp6 => (false, false),
    };
    let ip_len = if v4 { 20 } else { 40 };
    let l4_len = if tcp { 20 + opts } else { 8 };
    let mut p = vec![0u8; ip_len + l4_len];
    if v4 {
        p[0] = 0x45;
        p[4..6].copy_from_slice(&0xfff0u16.to_be_bytes()); // id close to wrapping
        p[8] = 64;
        p[9] = if tcp { 6 } else { 17 };
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    } else {
        p[0] = 0x60;
        p[6] = if tcp { 6 } else { 17 };
        p[7] = 64;
        p[8] = 0xfd;
        p[23] = 1;
        p[24] = 0xfd;
        p[39] = 2;
    }
    let l4 = ip_len;
    p[l4..l4 + 2].copy_from_slice(&1234u16.to_be_bytes());
    p[l4 + 2..l4 + 4].copy_from_slice(&80u16.to_be_bytes());
    if tcp {
        p[l4 + 4..l4 + 8].copy_from_slice(&0xffff_ff00u32.to_be_bytes()); // seq wraps
        p[l4 + 12] = ((l4_len / 4) as u8) << 4;
        p[l4 + 13] = flags;
        for b in &mut p[l4 + 20..l4 + l4_len] {
            *b = 1; // NOP options
        }
    }
    p.extend_from_slice(payload);
    let hdr = VnetHdr::parse(&{
        let gso: u8 = match proto {
            Proto::Tcp4 => 1,
            Proto::Tcp6 => 4,
            _ => 5,
        };
        let mut b = [0u8; 10];
        b[0] = 1;
        b[1] = gso;
        b[2..4].copy_from_slice(&((ip_len + l4_len) as u16).to_le_bytes());
        b[6..8].copy_from_slice(&(l4 as u16).to_le_bytes());
        b[8..10].copy_from_slice(&(if tcp { 16u16 } else { 6 }).to_le_bytes());
        b
    })
    .unwrap();
    (hdr, p, ip_len + l4_len)
}

fn with_mss(mut hdr: VnetHdr, mss: u16) -> VnetHdr {
    hdr.gso_size = mss;
    hdr
}

fn check(
    proto: Proto,
    opts: usize,
    payload: &[u8],
    mss: u16,
    flags: u8,
) -> Result<(), TestCaseError> {
    let (hdr, packet, headers) = super_packet(proto, opts, payload, flags);
    let hdr = with_mss(hdr, mss);
    let segments: Vec<_> = gso::split(&hdr, &packet).unwrap().collect();
    let mss = usize::from(mss);
    prop_assert_eq!(segments.len(), payload.len().div_ceil(mss).max(1));
    let mut joined = Vec::new();
    let v4 = matches!(proto, Proto::Tcp4 | Proto::Udp4);
    let tcp = matches!(proto, Proto::Tcp4 | Proto::Tcp6);
    let ip_len = if v4 { 20 } else { 40 };
    for (i, seg) in segments.iter().enumerate() {
        let bytes = seg.to_vec();
        prop_assert!(seg.payload().len() <= mss);
        prop_assert_eq!(seg.headers().len(), headers);
        joined.extend_from_slice(seg.payload());
        let (src, dst) = if v4 {
            (&bytes[12..20], 8)
        } else {
            (&bytes[8..40], 32)
        };
        let _ = dst;
        if v4 {
            prop_assert_eq!(
                usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
                bytes.len()
            );
            prop_assert_eq!(
                u16::from_be_bytes([bytes[4], bytes[5]]),
                0xfff0u16.wrapping_add(i as u16)
            );
            prop_assert!(folds_to_ffff(sum16(&bytes[..20])), "IPv4 header checksum");
        } else {
            prop_assert_eq!(
                usize::from(u16::from_be_bytes([bytes[4], bytes[5]])),
                bytes.len() - 40
            );
        }
        let l4 = &bytes[ip_len..];
        let pseudo = sum16(src) + if tcp { 6 } else { 17 } + l4.len() as u32;
        prop_assert!(
            folds_to_ffff(pseudo + sum16(l4)),
            "transport checksum of segment {}",
            i
        );
        if tcp {
            let seq = u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]);
            prop_assert_eq!(seq, 0xffff_ff00u32.wrapping_add((i * mss) as u32));
            let last = i + 1 == segments.len();
            prop_assert_eq!(
                l4[13] & 0x09 != 0,
                last && flags & 0x09 != 0,
                "FIN/PSH on the last only"
            );
            prop_assert_eq!(
                l4[13] & 0x80 != 0,
                i == 0 && flags & 0x80 != 0,
                "CWR on the first only"
            );
        } else {
            prop_assert_eq!(usize::from(u16::from_be_bytes([l4[4], l4[5]])), l4.len());
        }
    }
    prop_assert_eq!(joined.as_slice(), payload);
    Ok(())
}

fn proto() -> impl Strategy<Value = Proto> {
    prop_oneof![
        Just(Proto::Tcp4),
        Just(Proto::Tcp6),
        Just(Proto::Udp4),
        Just(Proto::Udp6)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn segments_reassemble_and_verify(
        proto in proto(),
        opts in prop::sample::select(vec![0usize, 4, 12, 40]),
        payload in prop::collection::vec(any::<u8>(), 0..9000),
        mss in 1u16..2000,
        flags in any::<u8>(),
    ) {
        check(proto, opts, &payload, mss, flags)?;
    }

    #[test]
    fn split_never_panics(
        raw_hdr in prop::array::uniform10(any::<u8>()),
        packet in prop::collection::vec(any::<u8>(), 0..400),
        ip_offset in 0usize..20,
    ) {
        if let Ok(hdr) = VnetHdr::parse(&raw_hdr)
            && let Ok(segments) = gso::split_at(&hdr, &packet, ip_offset)
        {
            for seg in segments.take(512) {
                let _ = seg.to_vec();
            }
        }
    }

    #[test]
    fn ipv4_options_and_a_link_header_in_front(
        proto in prop_oneof![Just(Proto::Tcp4), Just(Proto::Udp4)],
        ip_opts in prop::sample::select(vec![0usize, 4, 8, 40]),
        link in prop::sample::select(vec![0usize, 14, 18]),
        payload in prop::collection::vec(any::<u8>(), 1..5000),
        mss in 1u16..1500,
        id in any::<u16>(),
    ) {
        // What a TAP device hands over: a link header, then IPv4 (here with options), then
        // the transport header. Every checksum is checked from the bytes, with IHL read back.
        let (mut hdr, mut packet, _) = super_packet(proto, 4, &payload, 0x18);
        packet.splice(20..20, std::iter::repeat_n(1u8, ip_opts));
        packet[0] = 0x40 | (5 + ip_opts / 4) as u8;
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        packet.splice(0..0, (0..link).map(|b| b as u8));
        hdr.csum_start += (link + ip_opts) as u16;
        hdr.hdr_len += (link + ip_opts) as u16;
        hdr.gso_size = mss;
        let segments: Vec<Vec<u8>> = gso::split_at(&hdr, &packet, link)
            .unwrap()
            .map(|s| s.to_vec())
            .collect();
        prop_assert_eq!(segments.len(), payload.len().div_ceil(usize::from(mss)));
        let tcp = matches!(proto, Proto::Tcp4);
        let mut joined = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            prop_assert_eq!(&seg[..link], &packet[..link], "link header kept");
            let ip = &seg[link..];
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            prop_assert_eq!(ihl, 20 + ip_opts);
            prop_assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
            prop_assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), id.wrapping_add(i as u16));
            prop_assert!(folds_to_ffff(sum16(&ip[..ihl])), "IPv4 header checksum of {}", i);
            let l4 = &ip[ihl..];
            let pseudo = sum16(&ip[12..20]) + if tcp { 6 } else { 17 } + l4.len() as u32;
            prop_assert!(folds_to_ffff(pseudo + sum16(l4)), "transport checksum of {}", i);
            joined.extend_from_slice(&l4[if tcp { 24 } else { 8 }..]);
        }
        prop_assert_eq!(joined, payload);
    }

    #[test]
    fn completing_a_partial_checksum(payload in prop::collection::vec(any::<u8>(), 0..1500)) {
        // What the kernel sends with NEEDS_CSUM and no GSO: the field holds the pseudo-header
        // sum, uncomplemented.
        let (mut hdr, mut packet, _) = super_packet(Proto::Udp4, 0, &payload, 0);
        hdr.gso_type = GsoType::None;
        let l4_len = packet.len() - 20;
        packet[24..26].copy_from_slice(&(l4_len as u16).to_be_bytes());
        let mut pseudo = sum16(&packet[12..20]) + 17 + l4_len as u32;
        while pseudo > 0xffff { pseudo = (pseudo & 0xffff) + (pseudo >> 16); }
        packet[26..28].copy_from_slice(&(pseudo as u16).to_be_bytes());
        let seg = gso::split(&hdr, &packet).unwrap().next().unwrap().to_vec();
        let pseudo = sum16(&seg[12..20]) + 17 + l4_len as u32;
        prop_assert!(folds_to_ffff(pseudo + sum16(&seg[20..])));
        prop_assert_eq!(&seg[28..], payload.as_slice());
    }
}

#[test]
fn malformed_packets_are_typed_errors() {
    let (hdr, packet, _) = super_packet(Proto::Tcp4, 0, &[0; 100], 0);
    let hdr = with_mss(hdr, 10);
    assert_eq!(
        gso::split(&hdr, &packet[..30]).unwrap_err(),
        GsoError::Truncated
    );
    assert_eq!(
        gso::split(&with_mss(hdr, 0), &packet).unwrap_err(),
        GsoError::ZeroGsoSize
    );
    let mut v6_hdr = hdr;
    v6_hdr.gso_type = GsoType::TcpV6;
    assert_eq!(
        gso::split(&v6_hdr, &packet).unwrap_err(),
        GsoError::ProtocolMismatch(6)
    );
    let mut bad = packet.clone();
    bad[0] = 0x55;
    assert_eq!(gso::split(&hdr, &bad).unwrap_err(), GsoError::NotIp);
    let mut early = hdr;
    early.csum_start = 4;
    assert_eq!(
        gso::split(&early, &packet).unwrap_err(),
        GsoError::BadChecksumOffsets
    );
    let mut ufo = hdr;
    ufo.gso_type = GsoType::Udp;
    assert!(gso::split(&ufo, &packet).is_err());
}

#[test]
fn exact_multiple_of_mss() {
    check(Proto::Tcp4, 0, &[7u8; 3000], 1000, 0x19).unwrap();
    check(Proto::Udp6, 0, &[7u8; 1], 1000, 0).unwrap();
}
