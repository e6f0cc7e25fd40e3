//! The offload read path through a real `vnet_hdr` TUN device with TSO on: a TCP stream the
//! kernel sends through the device arrives as super-packets, and `gso::split` turns each into
//! wire-sized segments with valid IPv4 and TCP checksums, consecutive sequence numbers and the
//! stream's bytes. Traffic stays inside a namespace the test creates: 10.79.0.1 is the
//! device's address (where the sending socket lives), 10.79.0.2 a peer the test plays itself,
//! answering the handshake and acknowledging what it reads.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::packets::Pkt;
use common::{TestNetns, checksum, open_up, privileged, shutdown_after};
use tuntap::gso;
use tuntap::vnet::{GsoType, VNET_HDR_LEN, VnetHdr};
use tuntap::{Device, Error, Offload};

const LOCAL: [u8; 4] = [10, 79, 0, 1];
const PEER: [u8; 4] = [10, 79, 0, 2];
const PEER_PORT: u16 = 5001;
/// The MSS the peer announces: segments carry at most this much.
const MSS: u16 = 1460;
/// Bytes the socket sends: enough for the congestion window to open past one super-packet.
const LEN: usize = 400_000;

fn addr16(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0; 16];
    x[..4].copy_from_slice(&a);
    x
}

/// A TCP segment from LOCAL to the peer, parsed from one split segment.
struct Seg {
    sport: u16,
    seq: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// Check the IPv4 and TCP checksums of a wire segment and parse it; `None` for anything that
/// is not IPv4 TCP from LOCAL to the peer.
fn tcp_to_peer(p: &[u8]) -> Option<Seg> {
    if p.len() < 40 || p[0] != 0x45 || p[9] != 6 || p[12..16] != LOCAL || p[16..20] != PEER {
        return None;
    }
    assert_eq!(
        usize::from(u16::from_be_bytes([p[2], p[3]])),
        p.len(),
        "IPv4 total length"
    );
    assert_eq!(checksum(&p[..20]), 0, "IPv4 header checksum verifies");
    let l4 = &p[20..];
    let pseudo = [&p[12..20], &[0, 6], &(l4.len() as u16).to_be_bytes(), l4].concat();
    assert_eq!(checksum(&pseudo), 0, "TCP checksum verifies");
    let doff = usize::from(l4[12] >> 4) * 4;
    Some(Seg {
        sport: u16::from_be_bytes([l4[0], l4[1]]),
        seq: u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]),
        flags: l4[13],
        payload: l4[doff..].to_vec(),
    })
}

/// The peer's side of the connection: what it writes back through the device.
fn peer_packet(sport: u16, seq: u32, ack: u32, flags: u8, options: Vec<u8>) -> Vec<u8> {
    let mut p = Pkt::tcp4(Vec::new());
    p.src = addr16(PEER);
    p.dst = addr16(LOCAL);
    p.sport = PEER_PORT;
    p.dport = sport;
    p.seq = seq;
    p.ack = ack;
    p.flags = flags;
    p.window = 65_535;
    p.options = options;
    [&VnetHdr::NONE.to_bytes()[..], &p.build()].concat()
}

#[test]
fn tso_super_packets_split_into_the_stream() {
    if !privileged("tso_super_packets_split_into_the_stream") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = open_up(Device::builder().name("flytso").offload(Offload::TCP), LOCAL);
        let done = shutdown_after(20, &dev);
        let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 1000) as u8).collect();
        let sender = std::thread::spawn({
            let data = data.clone();
            move || -> std::io::Result<()> {
                let mut s = TcpStream::connect_timeout(
                    &SocketAddr::from((PEER, PEER_PORT)),
                    Duration::from_secs(10),
                )?;
                s.write_all(&data)?;
                Ok(())
            }
        });

        let mut buf = vec![0u8; VNET_HDR_LEN + 65_535];
        let recv = |buf: &mut [u8]| match dev.recv(buf) {
            Ok(n) => n,
            Err(Error::Shutdown { .. }) => panic!("watchdog: the stream stalled"),
            Err(e) => panic!("recv: {e}"),
        };
        // Handshake: answer the socket's SYN with a SYN-ACK announcing MSS 1460, no window
        // scaling, timestamps or SACK, so every data segment has a 20-byte TCP header.
        let (sport, their_isn) = loop {
            let n = recv(&mut buf);
            let hdr = VnetHdr::parse(&buf[..n]).unwrap();
            let whole = gso::split(&hdr, &buf[VNET_HDR_LEN..n]).unwrap().next().unwrap();
            if let Some(s) = tcp_to_peer(&whole.to_vec()).filter(|s| s.flags & 0x02 != 0) {
                break (s.sport, s.seq);
            }
        };
        let our_isn = 0x4000_0000u32;
        let mss = MSS.to_be_bytes();
        dev.send(&peer_packet(
            sport,
            our_isn,
            their_isn.wrapping_add(1),
            0x12,
            vec![2, 4, mss[0], mss[1]],
        ))
        .unwrap();

        let first = their_isn.wrapping_add(1);
        let mut stream = Vec::with_capacity(LEN);
        let (mut super_packets, mut max_segments) = (0, 0);
        while stream.len() < LEN {
            let n = recv(&mut buf);
            let hdr = VnetHdr::parse(&buf[..n]).unwrap();
            let segments: Vec<Vec<u8>> = gso::split(&hdr, &buf[VNET_HDR_LEN..n])
                .unwrap()
                .map(|s| s.to_vec())
                .collect();
            if hdr.gso_type == GsoType::TcpV4 {
                super_packets += 1;
                max_segments = max_segments.max(segments.len());
                assert!(hdr.gso_size <= MSS, "gso_size {} over the MSS", hdr.gso_size);
            }
            let mut fresh = false;
            for s in segments.iter().filter_map(|s| tcp_to_peer(s)) {
                assert!(s.payload.len() <= usize::from(MSS), "a segment over the MSS");
                if s.payload.is_empty() {
                    continue; // the handshake's last ACK
                }
                let offset = s.seq.wrapping_sub(first) as usize;
                // Anything before what was read already is a retransmission of the same bytes.
                assert!(offset <= stream.len(), "a gap in the stream at {offset}");
                let end = offset + s.payload.len();
                assert_eq!(
                    &data[offset..end],
                    s.payload.as_slice(),
                    "bytes at {offset}"
                );
                if end > stream.len() {
                    stream.extend_from_slice(&s.payload[stream.len() - offset..]);
                    fresh = true;
                }
            }
            if fresh {
                let ack = first.wrapping_add(stream.len() as u32);
                dev.send(&peer_packet(sport, our_isn.wrapping_add(1), ack, 0x10, Vec::new()))
                    .unwrap();
            }
        }
        assert_eq!(stream, data);
        assert!(
            super_packets > 0 && max_segments > 1,
            "TSO on: the kernel sent super-packets ({super_packets}, at most {max_segments} segments)"
        );
        sender.join().unwrap().expect("the socket sent everything");
        let _ = done.send(());
    });
}
