//! Unit tests of the coalescing rules: each condition that must keep packets apart, and the
//! shape of the super-packets that do form.

use crate::test_packets::{Pkt, payload, run};

use super::*;
use crate::gso;

/// The members of each frame, after checking every frame splits back into its inputs.
fn plan(pkts: &[Pkt], config: &Config) -> Vec<Vec<usize>> {
    let bytes: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let mut batch = Batch::new();
    let plan = batch.coalesce(&refs, config);
    let mut out = Vec::new();
    for frame in plan.frames() {
        let members: Vec<usize> = frame.members().collect();
        let segments: Vec<Vec<u8>> = gso::split(&frame.vnet_hdr(), &frame.packet())
            .expect("split")
            .map(|s| s.to_vec())
            .collect();
        let expected: Vec<Vec<u8>> = members.iter().map(|&m| bytes[m].clone()).collect();
        assert_eq!(
            segments, expected,
            "frame {members:?} splits back into its inputs"
        );
        assert!(frame.packet().len() <= config.get_max_len().max(bytes[members[0]].len()));
        out.push(members);
    }
    out
}

fn plan_default(pkts: &[Pkt]) -> Vec<Vec<usize>> {
    plan(pkts, &Config::default())
}

#[test]
fn a_super_packet_is_its_headers_then_the_members_payloads_in_place() {
    for first in [Pkt::tcp4(Vec::new()), Pkt::udp6(Vec::new())] {
        let bytes: Vec<Vec<u8>> = run(&first, 4, 700, 300).iter().map(Pkt::build).collect();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let mut batch = Batch::new();
        let plan = batch.coalesce(&refs, &Config::default());
        let frame = plan.frames().next().unwrap();
        let hdr_len = usize::from(frame.vnet_hdr().hdr_len);
        let parts: Vec<&[u8]> = frame.parts().collect();
        assert_eq!(parts.len(), 1 + 4, "headers, then one part per member");
        assert_eq!(parts[0].len(), hdr_len);
        for (part, input) in parts[1..].iter().zip(&refs) {
            assert!(
                std::ptr::eq(*part, &input[hdr_len..]),
                "a payload part is the input's own bytes, not a copy"
            );
        }
        assert_eq!(parts.concat(), frame.packet().into_owned());
        assert_eq!(frame.len(), frame.packet().len());
    }
}

/// Two full segments, the second changed by `change`: must not merge.
fn apart(first: Pkt, change: impl FnOnce(&mut Pkt)) {
    let mut pkts = run(&first, 2, 100, 100);
    change(&mut pkts[1]);
    assert_eq!(plan_default(&pkts), vec![vec![0], vec![1]], "{:?}", pkts[1]);
}

#[test]
fn a_clean_run_merges_into_one_super_packet() {
    for first in [
        Pkt::tcp4(Vec::new()),
        Pkt::tcp6(Vec::new()),
        Pkt::udp4(Vec::new()),
        Pkt::udp6(Vec::new()),
    ] {
        let pkts = run(&first, 5, 1000, 300);
        assert_eq!(plan_default(&pkts), vec![vec![0, 1, 2, 3, 4]]);
        let bytes: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let mut batch = Batch::new();
        let plan = batch.coalesce(&refs, &Config::default());
        let frame = plan.frames().next().unwrap();
        let hdr = frame.vnet_hdr();
        let ip_len = if first.v6 { 40 } else { 20 };
        assert!(hdr.needs_csum);
        assert_eq!(usize::from(hdr.gso_size), 1000);
        assert_eq!(usize::from(hdr.csum_start), ip_len);
        assert_eq!(hdr.csum_offset, if first.tcp { 16 } else { 6 });
        assert_eq!(
            usize::from(hdr.hdr_len),
            ip_len + if first.tcp { 20 } else { 8 }
        );
        let expected = match (first.v6, first.tcp) {
            (false, true) => (GsoType::TcpV4, Protocols::TCP4),
            (true, true) => (GsoType::TcpV6, Protocols::TCP6),
            _ => (GsoType::UdpL4, Protocols::UDP),
        };
        assert_eq!((hdr.gso_type, frame.protocol()), expected);
        assert_eq!(
            frame.packet().len(),
            ip_len + hdr.hdr_len as usize - ip_len + 4300
        );
        // The checksum field holds the pseudo-header sum of the whole super-packet.
        let sp = frame.packet();
        let sp = &*sp;
        let (src, dst) = if first.v6 {
            (&sp[8..24], &sp[24..40])
        } else {
            (&sp[12..16], &sp[16..20])
        };
        let proto = if first.tcp { 6 } else { 17 };
        let want = checksum::fold(checksum::pseudo_header(src, dst, proto, sp.len() - ip_len));
        let field = ip_len + usize::from(hdr.csum_offset);
        assert_eq!(be16(sp, field), want);
    }
}

#[test]
fn single_packets_pass_through_unchanged_with_a_plain_header() {
    let pkts = [Pkt::tcp4(payload(0, 10))];
    let bytes = pkts[0].build();
    let refs = [bytes.as_slice(), &[0x45, 1, 2][..], &[][..]];
    let mut batch = Batch::new();
    let plan = batch.coalesce(&refs, &Config::default());
    assert_eq!(plan.len(), 3);
    assert_eq!(plan.coalesced(), 0);
    for (i, frame) in plan.frames().enumerate() {
        assert_eq!(frame.packet(), refs[i]);
        assert_eq!(frame.vnet_hdr(), VnetHdr::NONE);
        assert_eq!(frame.protocol(), Protocols::NONE);
        assert_eq!(frame.members().collect::<Vec<_>>(), vec![i]);
    }
}

#[test]
fn ip_fields_that_must_match() {
    for first in [Pkt::tcp4(Vec::new()), Pkt::udp4(Vec::new())] {
        apart(first.clone(), |p| p.ttl = 63);
        apart(first.clone(), |p| p.tos = 4);
        apart(first.clone(), |p| p.tos = 3); // ECN CE
        apart(first.clone(), |p| p.df = false);
        apart(first.clone(), |p| p.id = p.id.wrapping_add(1)); // not consecutive
        apart(first.clone(), |p| p.src[3] = 9);
        apart(first.clone(), |p| p.dport = 5001);
        apart(first.clone(), |p| p.sport = 1);
    }
    for first in [Pkt::tcp6(Vec::new()), Pkt::udp6(Vec::new())] {
        apart(first.clone(), |p| p.ttl = 63);
        apart(first.clone(), |p| p.tos = 4);
        apart(first.clone(), |p| p.flow_label = 7);
        apart(first.clone(), |p| p.dst[15] = 9);
    }
    // An IPv6 packet does not care about the IPv4 ID.
    let mut pkts = run(&Pkt::tcp6(Vec::new()), 2, 100, 100);
    pkts[1].id = 999;
    assert_eq!(plan_default(&pkts), vec![vec![0, 1]]);
}

#[test]
fn tcp_fields_that_must_match() {
    let first = Pkt::tcp4(Vec::new());
    apart(first.clone(), |p| p.seq = p.seq.wrapping_add(1)); // gap
    apart(first.clone(), |p| p.seq = p.seq.wrapping_sub(100)); // retransmission
    apart(first.clone(), |p| p.ack += 1);
    apart(first.clone(), |p| p.window += 1);
    apart(first.clone(), |p| p.flags |= 0x40); // ECE on one only
    apart(first.clone(), |p| p.options = vec![1, 1, 1, 1]);
    let mut with_ts = first.clone();
    with_ts.options = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];
    apart(with_ts.clone(), |p| p.options[7] = 2); // a later timestamp
    let same_ts = run(&with_ts, 3, 100, 100);
    assert_eq!(plan_default(&same_ts), vec![vec![0, 1, 2]]);
}

#[test]
fn tcp_flags_that_keep_a_segment_alone() {
    for flag in [0x01, 0x02, 0x04, 0x20, 0x80] {
        // FIN, SYN, RST, URG, CWR: on the first or on a later segment.
        let mut pkts = run(&Pkt::tcp4(Vec::new()), 3, 100, 100);
        pkts[0].flags |= flag;
        assert_eq!(
            plan_default(&pkts),
            vec![vec![0], vec![1, 2]],
            "flag {flag:#x}"
        );
        let mut pkts = run(&Pkt::tcp4(Vec::new()), 3, 100, 100);
        pkts[2].flags |= flag;
        assert_eq!(
            plan_default(&pkts),
            vec![vec![0, 1], vec![2]],
            "flag {flag:#x}"
        );
    }
}

#[test]
fn psh_only_on_the_last_segment() {
    // PSH ends a super-packet: it is kept on the last segment and the next one starts anew.
    let mut pkts = run(&Pkt::tcp4(Vec::new()), 4, 100, 100);
    pkts[1].flags |= 0x08;
    assert_eq!(plan_default(&pkts), vec![vec![0, 1], vec![2, 3]]);
    let mut pkts = run(&Pkt::tcp4(Vec::new()), 2, 100, 100);
    pkts[0].flags |= 0x08;
    assert_eq!(plan_default(&pkts), vec![vec![0], vec![1]]);
}

#[test]
fn segment_sizes() {
    let first = Pkt::tcp4(Vec::new());
    // A shorter segment closes the super-packet; a longer one cannot join.
    let mut pkts = run(&first, 2, 100, 50);
    pkts.push(pkts[1].next(payload(2, 50)));
    assert_eq!(plan_default(&pkts), vec![vec![0, 1], vec![2]]);
    let mut pkts = run(&first, 1, 100, 100);
    pkts.push(pkts[0].next(payload(1, 101)));
    assert_eq!(plan_default(&pkts), vec![vec![0], vec![1]]);
    // Empty segments (pure ACKs) never merge, and keep the flow in order.
    let mut pkts = run(&first, 2, 100, 100);
    pkts.push(pkts[1].next(Vec::new()));
    let next = pkts[2].next(payload(3, 100));
    pkts.push(next.clone());
    pkts.push(next.next(payload(4, 100)));
    assert_eq!(plan_default(&pkts), vec![vec![0, 1], vec![2], vec![3, 4]]);
}

#[test]
fn limits_on_segments_and_length() {
    let first = Pkt::tcp4(Vec::new());
    let pkts = run(&first, 10, 100, 100);
    let config = Config::default().max_segments(4);
    assert_eq!(
        plan(&pkts, &config),
        vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]
    );
    // 40 bytes of headers + 3 * 100 = 340 fits in 345, a fourth segment does not.
    let config = Config::default().max_len(345);
    assert_eq!(
        plan(&pkts, &config),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
    );
    assert_eq!(plan(&pkts, &Config::default().max_segments(1)).len(), 10);
    // The kernel limit: 64 KiB of IP packet.
    let big = run(&first, 60, 1400, 1400);
    let frames = plan_default(&big);
    assert_eq!(frames[0].len(), (MAX_LEN - 40) / 1400);
    assert_eq!(frames.concat(), (0..60).collect::<Vec<_>>());
    assert_eq!(Config::default().max_len(100_000).get_max_len(), MAX_LEN);
}

#[test]
fn protocols_can_be_turned_off() {
    let tcp = run(&Pkt::tcp4(Vec::new()), 2, 100, 100);
    let config = Config::default().protocols(Protocols::ALL.without(Protocols::TCP4));
    assert_eq!(plan(&tcp, &config), vec![vec![0], vec![1]]);
    let tcp6 = run(&Pkt::tcp6(Vec::new()), 2, 100, 100);
    assert_eq!(plan(&tcp6, &config), vec![vec![0, 1]]);
    let udp = run(&Pkt::udp6(Vec::new()), 2, 100, 100);
    let config = Config::default().protocols(Protocols::TCP4 | Protocols::TCP6);
    assert_eq!(plan(&udp, &config), vec![vec![0], vec![1]]);
}

#[test]
fn malformed_or_unusual_packets_stay_alone() {
    let first = Pkt::tcp4(Vec::new());
    let pkts = run(&first, 3, 100, 100);
    let mut bytes: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
    let check = |bytes: &[Vec<u8>], want: Vec<Vec<usize>>, what: &str| {
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let mut batch = Batch::new();
        let plan = batch.coalesce(&refs, &Config::default());
        let got: Vec<Vec<usize>> = plan.frames().map(|f| f.members().collect()).collect();
        assert_eq!(got, want, "{what}");
    };
    check(&bytes, vec![vec![0, 1, 2]], "clean");
    // A wrong TCP checksum on the first, middle or last segment.
    for bad in 0..3 {
        let mut b = bytes.clone();
        b[bad][36] ^= 1;
        let want = match bad {
            0 => vec![vec![0], vec![1, 2]],
            1 => vec![vec![0], vec![1], vec![2]],
            _ => vec![vec![0, 1], vec![2]],
        };
        check(&b, want, "bad TCP checksum");
    }
    // A wrong IPv4 header checksum.
    let mut b = bytes.clone();
    b[1][10] ^= 1;
    check(&b, vec![vec![0], vec![1], vec![2]], "bad IP checksum");
    // Trailing bytes after the IP total length.
    let mut b = bytes.clone();
    b[1].push(0);
    check(&b, vec![vec![0], vec![1], vec![2]], "trailing bytes");
    // A fragment (MF set, header checksum fixed up).
    let mut b = bytes.clone();
    b[1][6] |= 0x20;
    b[1][10..12].fill(0);
    let c = checksum::finish(checksum::add(0, &b[1][..20]));
    b[1][10..12].copy_from_slice(&c.to_be_bytes());
    check(&b, vec![vec![0], vec![1], vec![2]], "fragment");
    // IPv4 options (IHL 6) stay alone.
    let mut b = bytes.clone();
    let mut opt = b[1][..20].to_vec();
    opt[0] = 0x46;
    opt.extend_from_slice(&[1, 1, 1, 0]);
    opt.extend_from_slice(&b[1][20..]);
    let total = opt.len() as u16;
    opt[2..4].copy_from_slice(&total.to_be_bytes());
    opt[10..12].fill(0);
    let c = checksum::finish(checksum::add(0, &opt[..24]));
    opt[10..12].copy_from_slice(&c.to_be_bytes());
    b[1] = opt;
    check(&b, vec![vec![0], vec![1], vec![2]], "IPv4 options");
    // Not IP, truncated headers.
    bytes[1].truncate(30);
    check(&bytes, vec![vec![0], vec![1], vec![2]], "truncated");
    check(
        &[vec![0x60; 39], vec![0x12], vec![]],
        vec![vec![0], vec![1], vec![2]],
        "junk",
    );
}

#[test]
fn udp_without_checksum_or_with_a_bad_one_stays_alone() {
    let mut pkts = run(&Pkt::udp4(Vec::new()), 2, 100, 100);
    pkts[0].no_udp_checksum = true;
    pkts[1].no_udp_checksum = true;
    assert_eq!(plan_default(&pkts), vec![vec![0], vec![1]]);
    let pkts = run(&Pkt::udp6(Vec::new()), 2, 100, 100);
    let mut bytes: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
    bytes[1][46] ^= 0x80;
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let mut batch = Batch::new();
    assert_eq!(batch.coalesce(&refs, &Config::default()).len(), 2);
}

#[test]
fn interleaved_flows_merge_separately_and_keep_their_order() {
    let a = run(&Pkt::tcp4(Vec::new()), 3, 100, 100);
    let mut b_first = Pkt::tcp4(Vec::new());
    b_first.sport = 40001;
    let b = run(&b_first, 3, 200, 200);
    let c = run(&Pkt::udp6(Vec::new()), 2, 50, 50);
    let pkts = vec![
        a[0].clone(),
        b[0].clone(),
        c[0].clone(),
        a[1].clone(),
        b[1].clone(),
        c[1].clone(),
        a[2].clone(),
        b[2].clone(),
    ];
    assert_eq!(
        plan_default(&pkts),
        vec![vec![0, 3, 6], vec![1, 4, 7], vec![2, 5]]
    );
}

#[test]
fn the_batch_is_reused_without_growing() {
    let pkts = run(&Pkt::tcp4(Vec::new()), 20, 500, 500);
    let bytes: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
    let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    let mut batch = Batch::new();
    assert_eq!(batch.coalesce(&refs, &Config::default()).len(), 1);
    let caps = (
        batch.items.capacity(),
        batch.next.capacity(),
        batch.arena.capacity(),
    );
    for _ in 0..3 {
        assert_eq!(batch.coalesce(&refs, &Config::default()).len(), 1);
    }
    let after = (
        batch.items.capacity(),
        batch.next.capacity(),
        batch.arena.capacity(),
    );
    assert_eq!(caps, after);
}

#[test]
fn protocols_debug_and_bits() {
    assert_eq!(format!("{:?}", Protocols::ALL), "Protocols(TCP4|TCP6|UDP)");
    assert_eq!(format!("{:?}", Protocols::NONE), "Protocols(NONE)");
    assert_eq!(Protocols::from_bits(0xff), Protocols::ALL);
    let mut p = Protocols::TCP4;
    p |= Protocols::UDP;
    assert!(p.contains(Protocols::UDP) && !p.contains(Protocols::TCP6));
    assert!(p.without(p).is_empty());
}
