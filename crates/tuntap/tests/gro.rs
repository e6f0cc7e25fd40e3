//! GRO coalescing against `gso::split`: every super-packet splits back into exactly the packets
//! that went in, packets that cannot merge pass through unchanged, every packet lands in one
//! frame, each flow keeps its order, and no frame exceeds the limits. Needs no privilege.

mod common;

use common::packets::{Pkt, payload, run};
use proptest::prelude::*;
use tuntap::gro::{Batch, Config, MAX_LEN};
use tuntap::gso;
use tuntap::vnet::VnetHdr;

#[derive(Clone, Copy, Debug)]
enum Change {
    None,
    /// A pure ACK after this segment.
    AckAfter,
    Ttl,
    Psh,
    SeqGap,
    BadChecksum,
    Fin,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        10 => Just(Change::None),
        1 => Just(Change::AckAfter),
        1 => Just(Change::Ttl),
        1 => Just(Change::Psh),
        1 => Just(Change::SeqGap),
        1 => Just(Change::BadChecksum),
        1 => Just(Change::Fin),
    ]
}

#[derive(Clone, Debug)]
struct FlowSpec {
    kind: u8,
    options: usize,
    mss: usize,
    count: usize,
    last: usize,
    changes: Vec<Change>,
}

fn flow() -> impl Strategy<Value = FlowSpec> {
    (
        0u8..4,
        prop::sample::select(vec![0usize, 4, 12]),
        1usize..1500,
        1usize..40,
    )
        .prop_flat_map(|(kind, options, mss, count)| {
            (
                Just(kind),
                Just(options),
                Just(mss),
                Just(count),
                1..=mss,
                prop::collection::vec(change(), count),
            )
        })
        .prop_map(|(kind, options, mss, count, last, changes)| FlowSpec {
            kind,
            options,
            mss,
            count,
            last,
            changes,
        })
}

/// The packets of flow number `n`, with their changes applied (as bytes).
fn flow_bytes(n: usize, spec: &FlowSpec) -> Vec<Vec<u8>> {
    let mut first = match spec.kind {
        0 => Pkt::tcp4(Vec::new()),
        1 => Pkt::tcp6(Vec::new()),
        2 => Pkt::udp4(Vec::new()),
        _ => Pkt::udp6(Vec::new()),
    };
    first.sport = 20000 + n as u16;
    if first.tcp {
        first.options = vec![1; spec.options];
    }
    let mut out = Vec::new();
    let segs = run(&first, spec.count, spec.mss, spec.last);
    for (seg, change) in segs.iter().zip(&spec.changes) {
        let mut seg = seg.clone();
        match change {
            Change::Ttl => seg.ttl = 1,
            Change::Psh if seg.tcp => seg.flags |= 0x08,
            Change::Fin if seg.tcp => seg.flags |= 0x01,
            Change::SeqGap => seg.seq = seg.seq.wrapping_add(7),
            _ => {}
        }
        let mut bytes = seg.build();
        if let Change::BadChecksum = change {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x5a;
        }
        out.push(bytes);
        if let Change::AckAfter = change {
            out.push(seg.next(Vec::new()).build());
        }
    }
    out
}

/// Interleave the flows at random, keeping each flow's order; returns the packets and, for
/// each, its flow.
fn interleave(flows: &[Vec<Vec<u8>>], picks: &[usize]) -> (Vec<Vec<u8>>, Vec<usize>) {
    let mut at = vec![0; flows.len()];
    let mut packets = Vec::new();
    let mut owner = Vec::new();
    let mut pick = picks.iter().cycle();
    let total: usize = flows.iter().map(Vec::len).sum();
    while packets.len() < total {
        let mut f = pick.next().copied().unwrap_or(0) % flows.len();
        while at[f] == flows[f].len() {
            f = (f + 1) % flows.len();
        }
        packets.push(flows[f][at[f]].clone());
        owner.push(f);
        at[f] += 1;
    }
    (packets, owner)
}

fn check_plan(
    packets: &[Vec<u8>],
    owner: &[usize],
    config: &Config,
) -> Result<usize, TestCaseError> {
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    let mut batch = Batch::new();
    let plan = batch.coalesce(&refs, config);
    let mut order = Vec::new();
    for frame in plan.frames() {
        let members: Vec<usize> = frame.members().collect();
        prop_assert!(!members.is_empty());
        prop_assert_eq!(frame.segments(), members.len());
        if frame.is_coalesced() {
            prop_assert!(frame.packet().len() <= config.get_max_len());
            prop_assert!(frame.packet().len() <= MAX_LEN);
            prop_assert!(members.len() <= config.get_max_segments());
            let split: Vec<Vec<u8>> = gso::split(&frame.vnet_hdr(), &frame.packet())
                .expect("a super-packet splits")
                .map(|s| s.to_vec())
                .collect();
            let inputs: Vec<Vec<u8>> = members.iter().map(|&m| packets[m].clone()).collect();
            prop_assert_eq!(split, inputs, "round trip of {:?}", members);
            prop_assert!(members.iter().all(|&m| owner[m] == owner[members[0]]));
        } else {
            prop_assert_eq!(frame.vnet_hdr(), VnetHdr::NONE);
            prop_assert_eq!(frame.packet(), refs[members[0]], "passes through unchanged");
        }
        order.extend(members);
    }
    // Every packet exactly once, each flow in its order.
    let mut seen = order.clone();
    seen.sort_unstable();
    prop_assert_eq!(seen, (0..packets.len()).collect::<Vec<_>>());
    for f in 0..=owner.iter().copied().max().unwrap_or(0) {
        let of_flow: Vec<usize> = order.iter().copied().filter(|&i| owner[i] == f).collect();
        prop_assert!(
            of_flow.windows(2).all(|w| w[0] < w[1]),
            "flow {} reordered",
            f
        );
    }
    Ok(plan.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn coalesced_frames_split_back_into_their_inputs(
        flows in prop::collection::vec(flow(), 1..5),
        picks in prop::collection::vec(0usize..5, 1..64),
        junk in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..80), 0..3),
        max_segments in 1usize..80,
        max_len in prop_oneof![Just(MAX_LEN), 100usize..20_000],
    ) {
        let mut all: Vec<Vec<Vec<u8>>> =
            flows.iter().enumerate().map(|(n, f)| flow_bytes(n, f)).collect();
        if !junk.is_empty() {
            all.push(junk);
        }
        let (packets, owner) = interleave(&all, &picks);
        let config = Config::default().max_segments(max_segments).max_len(max_len);
        check_plan(&packets, &owner, &config)?;
    }

    #[test]
    fn a_clean_flow_needs_the_fewest_frames(
        kind in 0u8..4,
        mss in 1usize..1500,
        count in 1usize..120,
        max_segments in 1usize..80,
    ) {
        let spec = FlowSpec { kind, options: 0, mss, count, last: mss, changes: vec![Change::None; count] };
        let packets = flow_bytes(0, &spec);
        let owner = vec![0; packets.len()];
        let config = Config::default().max_segments(max_segments);
        let frames = check_plan(&packets, &owner, &config)?;
        let headers = packets[0].len() - mss;
        let per_frame = max_segments.min((MAX_LEN - headers) / mss).max(1);
        prop_assert_eq!(frames, count.div_ceil(per_frame));
    }

    #[test]
    fn coalesce_never_panics(packets in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..20)) {
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let mut batch = Batch::new();
        let plan = batch.coalesce(&refs, &Config::default());
        prop_assert_eq!(plan.frames().map(|f| f.segments()).sum::<usize>(), packets.len());
    }
}

#[test]
fn a_run_of_64k_splits_back() {
    let pkts = run(&Pkt::tcp6(Vec::new()), 70, 1440, 1000);
    let packets: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
    let owner = vec![0; packets.len()];
    let frames = check_plan(&packets, &owner, &Config::default()).unwrap();
    assert_eq!(frames, 2);
    let _ = payload(0, 0);
}
