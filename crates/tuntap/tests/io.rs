//! Packet I/O through a TUN device, blocking and tokio, with shutdown. Traffic stays inside a
//! namespace the test created: 10.77.0.1 is the device's address, 10.77.0.2 a peer that the
//! test itself plays by answering on the device.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use common::{TestNetns, open_up, parse_udp4, privileged, shutdown_after, udp4};
use tuntap::{Device, Error};

const LOCAL: [u8; 4] = [10, 77, 0, 1];
const PEER: [u8; 4] = [10, 77, 0, 2];

fn configured(name: &str) -> Arc<Device> {
    open_up(Device::builder().name(name), LOCAL)
}

fn socket() -> UdpSocket {
    let s = UdpSocket::bind(SocketAddr::from((LOCAL, 0))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Read from the device until the UDP packet for the peer shows up (the kernel may send IPv6
/// chatter first); `None` once the device was shut down by the watchdog.
fn recv_udp_to_peer(dev: &Device) -> Option<common::Udp4> {
    let mut buf = [0u8; 2048];
    loop {
        let n = match dev.recv(&mut buf) {
            Ok(n) => n,
            Err(Error::Shutdown { .. }) => return None,
            Err(e) => panic!("recv: {e}"),
        };
        if let Some(udp) = parse_udp4(&buf[..n]).filter(|u| u.2 == PEER) {
            return Some(udp);
        }
    }
}

#[test]
fn blocking_round_trip() {
    if !privileged("blocking_round_trip") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = configured("flyio");
        let done = shutdown_after(10, &dev);
        let sock = socket();
        sock.send_to(b"hello", SocketAddr::from((PEER, 7777)))
            .unwrap();
        let (src, sport, _, dport, payload) = recv_udp_to_peer(&dev).expect("timed out");
        assert_eq!(
            (src, dport, payload.as_slice()),
            (LOCAL, 7777, &b"hello"[..])
        );
        let reply = udp4(PEER, 7777, LOCAL, sport, b"world");
        assert_eq!(dev.send(&reply).unwrap(), reply.len());
        let mut got = [0u8; 16];
        let (n, from) = sock.recv_from(&mut got).unwrap();
        assert_eq!(
            (&got[..n], from),
            (&b"world"[..], SocketAddr::from((PEER, 7777)))
        );
        let _ = done.send(());
    });
}

#[test]
fn batched_receive_and_send() {
    if !privileged("batched_receive_and_send") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = configured("flyba");
        let done = shutdown_after(10, &dev);
        let sock = socket();
        let port = sock.local_addr().unwrap().port();
        for i in 0..8u8 {
            sock.send_to(&[i], SocketAddr::from((PEER, 7000))).unwrap();
        }
        let mut seen = Vec::new();
        let mut bufs = vec![vec![0u8; 2048]; 4];
        let mut lens = [0usize; 4];
        while seen.len() < 8 {
            let n = dev
                .recv_batch(&mut bufs, &mut lens)
                .expect("recv_batch (watchdog?)");
            assert!((1..=4).contains(&n));
            for (buf, len) in bufs.iter().zip(lens).take(n) {
                if let Some(u) = parse_udp4(&buf[..len]).filter(|u| u.2 == PEER) {
                    seen.push(u.4[0]);
                }
            }
        }
        assert_eq!(seen, (0..8).collect::<Vec<u8>>(), "in order, none lost");
        let replies: Vec<Vec<u8>> = (0..5u8)
            .map(|i| udp4(PEER, 7000, LOCAL, port, &[i]))
            .collect();
        assert_eq!(dev.send_batch(&replies).unwrap(), 5);
        for i in 0..5u8 {
            let mut b = [0u8; 4];
            let (n, _) = sock.recv_from(&mut b).unwrap();
            assert_eq!(&b[..n], &[i]);
        }
        let _ = done.send(());
    });
}

#[test]
fn shutdown_wakes_a_blocked_recv_promptly() {
    if !privileged("shutdown_wakes_a_blocked_recv_promptly") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Arc::new(
            Device::builder()
                .name("flysd")
                .multi_queue(2)
                .open()
                .unwrap(),
        );
        let (tx, rx) = std::sync::mpsc::channel();
        for q in 0..2 {
            let dev = Arc::clone(&dev);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let _ = tx.send(dev.queues()[q].recv(&mut buf));
            });
        }
        // Give both threads a moment to block; correctness does not depend on it.
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "nothing to read yet"
        );
        dev.shutdown();
        for _ in 0..2 {
            let res = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("recv did not return");
            assert!(matches!(res, Err(Error::Shutdown { .. })), "{res:?}");
        }
        assert!(matches!(dev.send(&[0x45; 20]), Err(Error::Shutdown { .. })));
        assert!(dev.is_shutdown());
    });
}

#[test]
fn shutdown_wakes_every_reader_blocked_on_one_queue() {
    if !privileged("shutdown_wakes_every_reader_blocked_on_one_queue") {
        return;
    }
    // Several readers blocked on one queue: one shutdown must wake them all, not just the
    // first.
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Arc::new(Device::builder().name("flysd1").open().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let dev = Arc::clone(&dev);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                let _ = tx.send(dev.recv(&mut buf));
            });
        }
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "nothing to read yet"
        );
        dev.shutdown();
        for _ in 0..4 {
            let res = rx
                .recv_timeout(Duration::from_secs(5))
                .expect("a reader was not woken");
            assert!(matches!(res, Err(Error::Shutdown { .. })), "{res:?}");
        }
    });
}

#[cfg(feature = "async")]
#[test]
fn async_round_trip_and_shutdown() {
    if !privileged("async_round_trip_and_shutdown") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = configured("flyas");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let sock = tokio::net::UdpSocket::bind(SocketAddr::from((LOCAL, 0)))
                .await
                .unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.send_to(b"ping", SocketAddr::from((PEER, 9000)))
                .await
                .unwrap();
            let mut buf = [0u8; 2048];
            let got = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let n = dev.recv_async(&mut buf).await.unwrap();
                    if let Some(u) = parse_udp4(&buf[..n]).filter(|u| u.2 == PEER) {
                        return u;
                    }
                }
            })
            .await
            .expect("no packet");
            assert_eq!(got.4, b"ping");
            let reply = udp4(PEER, 9000, LOCAL, port, b"pong");
            dev.send_async(&reply).await.unwrap();
            let mut b = [0u8; 8];
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut b))
                .await
                .expect("no reply")
                .unwrap();
            assert_eq!(&b[..n], b"pong");

            // Cancelling a pending recv_async (chatter may complete it first: either is fine)
            // loses nothing: the next datagram is still read whole.
            let _ = tokio::time::timeout(Duration::from_millis(20), dev.recv_async(&mut buf)).await;
            sock.send_to(b"again", SocketAddr::from((PEER, 9000)))
                .await
                .unwrap();
            let again = tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    let n = dev.recv_async(&mut buf).await.unwrap();
                    if let Some(u) = parse_udp4(&buf[..n]).filter(|u| u.2 == PEER) {
                        return u;
                    }
                }
            })
            .await
            .expect("no packet after a cancelled recv_async");
            assert_eq!(again.4, b"again");

            // shutdown() wakes a pending recv_async.
            let waiter = {
                let dev = Arc::clone(&dev);
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    loop {
                        match dev.recv_async(&mut buf).await {
                            Ok(_) => continue, // IPv6 chatter
                            Err(e) => return e,
                        }
                    }
                })
            };
            tokio::task::yield_now().await;
            dev.shutdown();
            let err = tokio::time::timeout(Duration::from_secs(5), waiter)
                .await
                .unwrap()
                .unwrap();
            assert!(matches!(err, Error::Shutdown { .. }), "{err:?}");
        });
    });
}

#[cfg(feature = "async")]
#[test]
fn async_outside_a_runtime_is_a_typed_error() {
    if !privileged("async_outside_a_runtime_is_a_typed_error") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder().name("flynr").open().unwrap();
        let mut buf = [0u8; 64];
        let err = futures::executor::block_on(dev.recv_async(&mut buf)).unwrap_err();
        assert!(matches!(err, Error::NoRuntime { .. }), "{err:?}");
    });
}

#[test]
fn vnet_hdr_offload_path_with_uso() {
    if !privileged("vnet_hdr_offload_path_with_uso") {
        return;
    }
    use tuntap::Offload;
    use tuntap::gso;
    use tuntap::vnet::{GsoType, VNET_HDR_LEN, VnetHdr};

    let ns = TestNetns::new();
    ns.run(|| {
        let dev = open_up(
            Device::builder()
                .name("flyvh")
                .offload(Offload::TCP | Offload::USO4 | Offload::USO6),
            LOCAL,
        );
        let done = shutdown_after(10, &dev);
        let sock = socket();
        let port = sock.local_addr().unwrap().port();
        // One 3000-byte send cut into 1000-byte datagrams (UDP_SEGMENT): with USO the device
        // gets one super-packet, which gso::split turns back into three datagrams.
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::UdpGsoSegment, &1000)
            .unwrap();
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        sock.send_to(&data, SocketAddr::from((PEER, 7777))).unwrap();
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::UdpGsoSegment, &0).unwrap();

        let mut got = Vec::new();
        let mut saw_super = false;
        let mut buf = vec![0u8; 65536 + VNET_HDR_LEN];
        while got.len() < 3 {
            let n = dev.recv(&mut buf).expect("recv (watchdog?)");
            let hdr = VnetHdr::parse(&buf[..n]).unwrap();
            saw_super |= hdr.gso_type == GsoType::UdpL4;
            for seg in gso::split(&hdr, &buf[VNET_HDR_LEN..n]).unwrap() {
                let bytes = seg.to_vec();
                if let Some(u) = parse_udp4(&bytes).filter(|u| u.2 == PEER) {
                    // The transport checksum was completed: verify it.
                    let l4 = &bytes[20..];
                    let pseudo = common::checksum(
                        &[
                            &bytes[12..20],
                            &[0, 17],
                            &(l4.len() as u16).to_be_bytes(),
                            l4,
                        ]
                        .concat(),
                    );
                    assert_eq!(pseudo, 0, "UDP checksum verifies");
                    got.push(u.4);
                }
            }
        }
        assert!(
            saw_super,
            "the kernel accepted USO4 and sent a super-packet"
        );
        assert_eq!(got.concat(), data);
        assert!(got.iter().all(|d| d.len() == 1000));

        // Writing: a plain header and a packet, gathered without copying.
        let reply = udp4(PEER, 7777, LOCAL, port, b"vnet");
        let hdr = VnetHdr::NONE.to_bytes();
        let n = dev
            .send_vectored(&[std::io::IoSlice::new(&hdr), std::io::IoSlice::new(&reply)])
            .unwrap();
        assert_eq!(n, hdr.len() + reply.len());
        let mut b = [0u8; 8];
        let (n, _) = sock.recv_from(&mut b).unwrap();
        assert_eq!(&b[..n], b"vnet");
        let _ = done.send(());
    });
}
