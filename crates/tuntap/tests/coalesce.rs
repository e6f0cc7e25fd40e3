//! The offload write path through a real `vnet_hdr` TUN device: coalesced TCP and UDP batches
//! reach sockets, the kernel takes each super-packet in one write, and a refused super-packet
//! falls back to its segments. Traffic stays inside a namespace the test creates: 10.78.0.1 is
//! the device's address (where the sockets live), 10.78.0.2 a peer the test plays itself by
//! writing to and reading from the device.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use common::packets::{Pkt, payload};
use common::{TestNetns, open_up, privileged, shutdown_after};
use tuntap::gro::Protocols;
use tuntap::vnet::{VNET_HDR_LEN, VnetHdr};
use tuntap::{Device, Offload};

const LOCAL: [u8; 4] = [10, 78, 0, 1];
const PEER: [u8; 4] = [10, 78, 0, 2];
const PORT: u16 = 5000;
const PEER_PORT: u16 = 40000;

fn addr16(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0; 16];
    x[..4].copy_from_slice(&a);
    x
}

fn open(name: &str) -> Arc<Device> {
    open_up(Device::builder().name(name).offload(Offload::TCP), LOCAL)
}

/// The device's receive counter: one per write the kernel took, whatever its size.
fn rx_packets(ns: &TestNetns, dev: &str) -> u64 {
    let json = ns.ip(&["-s", "-j", "link", "show", "dev", dev]);
    let rx = &json[json.find("\"rx\":{").expect("rx stats")..];
    let n = &rx[rx.find("\"packets\":").expect("rx packets") + 10..];
    n[..n.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

/// A TCP connection from the peer (played through the device) to a listener on LOCAL.
struct Conn {
    stream: TcpStream,
    /// The next segment the peer sends: sequence number, ACK and IP ID in place.
    next: Pkt,
}

fn handshake(dev: &Device) -> Conn {
    let listener = TcpListener::bind(SocketAddr::from((LOCAL, PORT))).unwrap();
    let mut syn = Pkt::tcp4(Vec::new());
    syn.src = addr16(PEER);
    syn.dst = addr16(LOCAL);
    syn.sport = PEER_PORT;
    syn.dport = PORT;
    syn.seq = 0x1000_0000;
    syn.ack = 0;
    syn.flags = 0x02;
    syn.window = 65535;
    syn.options = vec![2, 4, 0x05, 0xb4]; // MSS 1460
    let hdr = VnetHdr::NONE.to_bytes();
    dev.send(&[&hdr[..], &syn.build()].concat()).unwrap();
    let mut buf = vec![0u8; 65536 + VNET_HDR_LEN];
    let server_isn = loop {
        let n = dev.recv(&mut buf).expect("no SYN-ACK (watchdog?)");
        let p = &buf[VNET_HDR_LEN..n];
        if p.len() >= 40 && p[0] == 0x45 && p[9] == 6 && p[12..16] == LOCAL && p[33] == 0x12 {
            break u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
        }
    };
    let mut ack = syn.clone();
    ack.seq = syn.seq + 1;
    ack.ack = server_isn.wrapping_add(1);
    ack.flags = 0x10;
    ack.options = Vec::new();
    ack.id = syn.id + 1;
    assert_eq!(dev.send_batch_coalesced(&[&ack.build()]).unwrap(), 1);
    listener.set_nonblocking(true).unwrap();
    let mut stream = None;
    assert!(
        common::eventually(500, || {
            stream = listener.accept().ok().map(|(s, _)| s);
            stream.is_some()
        }),
        "connection not accepted"
    );
    let stream = stream.unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut next = ack.next(Vec::new());
    next.id = ack.id + 1;
    Conn { stream, next }
}

/// `n` data segments of `mss` bytes continuing the connection, the last with PSH.
fn segments(conn: &mut Conn, n: usize, mss: usize, salt: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut data = Vec::new();
    let mut out = Vec::new();
    for i in 0..n {
        let mut seg = conn.next.clone();
        seg.payload = payload(salt + i, mss);
        if i + 1 == n {
            seg.flags |= 0x08;
        }
        data.extend_from_slice(&seg.payload);
        out.push(seg.build());
        conn.next = seg.next(Vec::new());
        conn.next.flags = 0x10;
    }
    (out, data)
}

fn read_exactly(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    stream.read_exact(&mut got).expect("data delivered");
    got
}

#[test]
fn coalesced_tcp_batch_reaches_a_socket() {
    if !privileged("coalesced_tcp_batch_reaches_a_socket") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = open("flygro");
        let done = shutdown_after(20, &dev);
        let mut conn = handshake(&dev);
        let (packets, data) = segments(&mut conn, 8, 1000, 0);
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let before = rx_packets(&ns, "flygro");
        assert_eq!(dev.send_batch_coalesced(&refs).unwrap(), 8);
        assert_eq!(
            rx_packets(&ns, "flygro") - before,
            1,
            "eight segments in one write"
        );
        assert_eq!(read_exactly(&mut conn.stream, data.len()), data);
        assert_eq!(dev.coalescing_refused(), Protocols::NONE);
        assert_eq!(dev.coalescing(), Protocols::ALL);
        let _ = done.send(());
    });
}

#[test]
fn refused_super_packets_fall_back_to_segments_and_stay_off() {
    if !privileged("refused_super_packets_fall_back_to_segments_and_stay_off") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = open("flygrf");
        let done = shutdown_after(20, &dev);
        let mut conn = handshake(&dev);
        let mut send = |salt: usize, writes: u64| {
            let (packets, data) = segments(&mut conn, 4, 1000, salt);
            let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
            let before = rx_packets(&ns, "flygrf");
            assert_eq!(dev.send_batch_coalesced(&refs).unwrap(), 4);
            assert_eq!(rx_packets(&ns, "flygrf") - before, writes);
            assert_eq!(read_exactly(&mut conn.stream, data.len()), data);
        };
        // The kernel "refuses" the super-packet: its segments go out one by one...
        dev.inject_coalesced_einval(1);
        send(0, 4);
        assert_eq!(dev.coalescing_refused(), Protocols::TCP4);
        assert_eq!(dev.coalescing(), Protocols::ALL.without(Protocols::TCP4));
        // ...and TCP4 is no longer coalesced on any queue of the device.
        send(10, 4);
        // Turned back on, it coalesces again.
        dev.set_coalescing(Protocols::ALL);
        send(20, 1);
        assert_eq!(
            dev.coalescing_refused(),
            Protocols::TCP4,
            "the record stays"
        );
        let _ = done.send(());
    });
}

#[test]
fn coalesced_udp_batch_reaches_a_socket_or_falls_back() {
    if !privileged("coalesced_udp_batch_reaches_a_socket_or_falls_back") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = open("flygru");
        let sock = UdpSocket::bind(SocketAddr::from((LOCAL, PORT))).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut first = Pkt::udp4(Vec::new());
        first.src = addr16(PEER);
        first.dst = addr16(LOCAL);
        first.sport = PEER_PORT;
        first.dport = PORT;
        let pkts = common::packets::run(&first, 5, 700, 300);
        let packets: Vec<Vec<u8>> = pkts.iter().map(Pkt::build).collect();
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let before = rx_packets(&ns, "flygru");
        assert_eq!(send_batch(&dev, &refs), 5);
        let writes = rx_packets(&ns, "flygru") - before;
        // Linux 6.2+ takes UDP_L4 (one write); older or buggy kernels refuse it (five).
        let refused = dev.coalescing_refused().contains(Protocols::UDP);
        assert_eq!(writes, if refused { 5 } else { 1 }, "refused: {refused}");
        for p in &pkts {
            let mut b = [0u8; 1024];
            let (n, from) = sock.recv_from(&mut b).expect("datagram delivered");
            assert_eq!(from, SocketAddr::from((PEER, PEER_PORT)));
            assert_eq!(
                &b[..n],
                p.payload.as_slice(),
                "datagrams keep their boundaries"
            );
        }
    });
}

/// N6 end to end on a real device with USO: a socket sends with `UDP_SEGMENT`, the device
/// hands over one `UDP_L4` super-packet, `gso::split` cuts it into datagrams, the test's peer
/// echoes each one (addresses and ports swapped), and `send_batch_coalesced` writes the echoes
/// back as one super-packet that the socket reads as the same datagrams.
#[test]
fn udp_segment_sends_round_trip_through_uso() {
    if !privileged("udp_segment_sends_round_trip_through_uso") {
        return;
    }
    use nix::sys::socket::{setsockopt, sockopt};
    use tuntap::gso;
    use tuntap::vnet::GsoType;

    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder()
            .name("flyuso")
            .offload(Offload::TCP | Offload::USO4 | Offload::USO6)
            .open()
            .unwrap();
        let applied = dev
            .set_offload(Offload::TCP | Offload::USO4 | Offload::USO6)
            .unwrap();
        if !applied.contains(Offload::USO4) {
            eprintln!("SKIPPED: this kernel refuses USO (before Linux 6.2): {applied:?}");
            return;
        }
        let link = dev.link().unwrap();
        link.add_address(Ipv4Addr::from(LOCAL).into(), 24).unwrap();
        link.up().unwrap();
        let dev = Arc::new(dev);
        let done = shutdown_after(20, &dev);
        let sock = UdpSocket::bind(SocketAddr::from((LOCAL, PORT))).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        setsockopt(&sock, sockopt::UdpGsoSegment, &1200).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        sock.send_to(&data, SocketAddr::from((PEER, PEER_PORT)))
            .unwrap();

        // Read until the super-packet for the peer shows up.
        let mut buf = vec![0u8; 65_536 + VNET_HDR_LEN];
        let (hdr, n) = loop {
            let n = dev.recv(&mut buf).expect("recv (watchdog?)");
            let hdr = VnetHdr::parse(&buf[..n]).unwrap();
            let p = &buf[VNET_HDR_LEN..n];
            if p.len() > 28 && p[9] == 17 && p[16..20] == PEER {
                break (hdr, n);
            }
        };
        assert_eq!(hdr.gso_type, GsoType::UdpL4, "one super-packet: {hdr:?}");
        assert_eq!(hdr.gso_size, 1200);
        let mut echoes = Vec::new();
        let mut first = Pkt::udp4(Vec::new());
        first.src = addr16(PEER);
        first.dst = addr16(LOCAL);
        first.sport = PEER_PORT;
        first.dport = PORT;
        for (i, seg) in gso::split(&hdr, &buf[VNET_HDR_LEN..n]).unwrap().enumerate() {
            let bytes = seg.to_vec();
            let udp = common::parse_udp4(&bytes).expect("a UDP datagram");
            assert_eq!((udp.1, udp.3), (PORT, PEER_PORT));
            let l4 = &bytes[20..];
            let pseudo = [
                &bytes[12..20],
                &[0, 17],
                &(l4.len() as u16).to_be_bytes(),
                l4,
            ]
            .concat();
            assert_eq!(
                common::checksum(&pseudo),
                0,
                "datagram {i} checksum verifies"
            );
            let mut echo = first.clone();
            echo.id = first.id.wrapping_add(i as u16);
            echo.payload = udp.4;
            echoes.push(echo);
        }
        // 10,000 bytes in 1200-byte datagrams: eight full ones and 400 bytes.
        let sizes: Vec<usize> = echoes.iter().map(|e| e.payload.len()).collect();
        assert_eq!(sizes, [vec![1200; 8], vec![400]].concat());
        let concat: Vec<u8> = echoes.iter().flat_map(|e| e.payload.clone()).collect();
        assert_eq!(concat, data);

        let packets: Vec<Vec<u8>> = echoes.iter().map(Pkt::build).collect();
        let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let before = rx_packets(&ns, "flyuso");
        assert_eq!(dev.send_batch_coalesced(&refs).unwrap(), echoes.len());
        assert_eq!(
            rx_packets(&ns, "flyuso") - before,
            1,
            "nine datagrams in one write"
        );
        for e in &echoes {
            let mut b = [0u8; 2048];
            let (n, from) = sock.recv_from(&mut b).expect("echo delivered");
            assert_eq!(from, SocketAddr::from((PEER, PEER_PORT)));
            assert_eq!(&b[..n], e.payload.as_slice(), "datagram boundaries kept");
        }
        let _ = done.send(());
    });
}

/// The async twin when the feature is on, the blocking method otherwise.
fn send_batch(dev: &Device, packets: &[&[u8]]) -> usize {
    #[cfg(feature = "async")]
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(dev.send_batch_coalesced_async(packets))
            .unwrap()
    }
    #[cfg(not(feature = "async"))]
    {
        dev.send_batch_coalesced(packets).unwrap()
    }
}

#[test]
fn a_tap_device_is_refused_with_a_typed_error() {
    if !privileged("a_tap_device_is_refused_with_a_typed_error") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder()
            .name("flygrt")
            .mode(tuntap::Mode::Tap)
            .vnet_hdr(true)
            .open()
            .unwrap();
        let err = dev.send_batch_coalesced(&[&[0x45; 20]]).unwrap_err();
        assert!(matches!(err, tuntap::Error::Unsupported { .. }), "{err:?}");
    });
}
