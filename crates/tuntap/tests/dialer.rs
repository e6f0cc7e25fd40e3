//! The Dialer and ListenConfig with their control hooks, over loopback inside namespaces the
//! test created, and through TUN devices the test reads itself.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};

use common::{TestNetns, open_up, parse_udp4, privileged, watchdog};
use nix::sys::socket::{SockaddrIn, getsockname, getsockopt, sockopt};
#[cfg(feature = "async")]
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tuntap::{Device, Dialer, Error, ListenConfig};

#[test]
fn control_hooks_run_before_connect() {
    if !privileged("control_hooks_run_before_connect") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let dialer =
            Dialer::new()
                .bind_to_device("lo")
                .mark(0x51)
                .control(move |network, to, fd| {
                    // Runs after the ready-made controls: the mark is already set, not yet connected.
                    let mark = getsockopt(&fd, sockopt::Mark)?;
                    let connected = nix::sys::socket::getpeername::<
                        nix::sys::socket::SockaddrStorage,
                    >(std::os::fd::AsRawFd::as_raw_fd(&fd))
                    .is_ok();
                    record
                        .lock()
                        .unwrap()
                        .push((network.to_owned(), to, mark, connected));
                    Ok(())
                });
        let mut stream = dialer.connect_tcp(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        stream.write_all(b"hi").unwrap();
        let mut b = [0u8; 2];
        server.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"hi");
        assert_eq!(getsockopt(&stream, sockopt::Mark).unwrap(), 0x51);
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            &[("tcp4".to_owned(), addr, 0x51, false)]
        );

        // UDP, connected.
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = Dialer::new()
            .connect_udp(peer.local_addr().unwrap())
            .unwrap();
        udp.send(b"u").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(peer.recv(&mut b).unwrap(), 1);
    });
}

#[test]
fn a_failing_control_aborts_the_dial() {
    if !privileged("a_failing_control_aborts_the_dial") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let err = Dialer::new()
            .control(|_, _, _| Err(std::io::Error::other("policy says no")))
            .connect_tcp(addr)
            .unwrap_err();
        assert!(matches!(err, Error::Dial { op: "control", .. }), "{err:?}");
        let err = Dialer::new()
            .bind_to_device("no-such-dev0")
            .connect_tcp(addr)
            .unwrap_err();
        assert!(matches!(err, Error::Dial { op: "control", .. }), "{err:?}");
        // Nothing listens on port 9 in this fresh namespace: refused. (Not the dropped
        // listener's port: a child forked by a parallel test may still hold its socket.)
        let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
        let err = Dialer::new().connect_tcp(addr).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
        let err = Dialer::new()
            .timeout(std::time::Duration::from_secs(5))
            .connect_tcp(addr)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
    });
}

#[cfg(feature = "async")]
#[test]
fn async_connect_with_local_addr() {
    if !privileged("async_connect_with_local_addr") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let local: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
            let dialer = Dialer::new().local_addr(local).mark(9);
            let (stream, accepted) =
                tokio::join!(dialer.connect_tcp_async(addr), listener.accept());
            let stream = stream.unwrap();
            let (_, peer) = accepted.unwrap();
            assert_eq!(peer.ip(), local.ip());
            assert_eq!(stream.peer_addr().unwrap(), addr);
        });
        let err = futures::executor::block_on(
            Dialer::new().connect_tcp_async("127.0.0.1:1".parse().unwrap()),
        )
        .unwrap_err();
        assert!(matches!(err, Error::NoRuntime { .. }));
    });
}

#[test]
fn listen_config_runs_controls_before_bind() {
    if !privileged("listen_config_runs_controls_before_bind") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let config = ListenConfig::new()
            .mark(7)
            .control(move |network, addr, fd| {
                // After the ready-made controls, before bind: port 0, reuse set for TCP.
                let mark = getsockopt(&fd, sockopt::Mark)?;
                let reuse = getsockopt(&fd, sockopt::ReuseAddr)?;
                let bound: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
                record
                    .lock()
                    .unwrap()
                    .push((network.to_owned(), addr, mark, reuse, bound.port()));
                Ok(())
            });
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let listener = config.listen_tcp(any).unwrap();
        let addr = listener.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut b = [0u8; 4];
        server.read_exact(&mut b).unwrap();
        assert_eq!(&b, b"ping");
        assert_eq!(getsockopt(&listener, sockopt::Mark).unwrap(), 7);

        let udp = config.bind_udp(any).unwrap();
        let peer = UdpSocket::bind(any).unwrap();
        peer.send_to(b"u", udp.local_addr().unwrap()).unwrap();
        let (n, from) = udp.recv_from(&mut b).unwrap();
        assert_eq!((n, from), (1, peer.local_addr().unwrap()));
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            &[
                ("tcp4".to_owned(), any, 7, true, 0),
                ("udp4".to_owned(), any, 7, false, 0)
            ]
        );

        // Each step that fails says which.
        let err = ListenConfig::new()
            .control(|_, _, _| Err(std::io::Error::other("policy says no")))
            .listen_tcp(any)
            .unwrap_err();
        assert!(
            matches!(err, Error::Listen { op: "control", .. }),
            "{err:?}"
        );
        let err = ListenConfig::new()
            .bind_udp(udp.local_addr().unwrap())
            .unwrap_err();
        assert!(matches!(err, Error::Listen { op: "bind", .. }), "{err:?}");
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        let err = ListenConfig::new()
            .bind_to_device("no-such-dev0")
            .listen_tcp(any)
            .unwrap_err();
        assert!(
            matches!(err, Error::Listen { op: "control", .. }),
            "{err:?}"
        );
    });
}

#[cfg(feature = "async")]
#[test]
fn dial_and_listen_inside_another_namespace() {
    if !privileged("dial_and_listen_inside_another_namespace") {
        return;
    }
    let (here, there) = (TestNetns::new(), TestNetns::new());
    there.run(|| ()); // loopback up over there
    here.run(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let listening = ListenConfig::new().netns(there.netns.clone());
            let listener = listening.listen_tcp_async(any).await.unwrap();
            let addr = listener.local_addr().unwrap();
            // Nothing listens on that port in this thread's own namespace.
            let err = Dialer::new().connect_tcp_async(addr).await.unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED), "{err}");
            // Dialed from inside the other namespace, it connects.
            let dialer = Dialer::new().netns(there.netns.clone());
            let (stream, accepted) =
                tokio::join!(dialer.connect_tcp_async(addr), listener.accept());
            let mut stream = stream.unwrap();
            let (mut server, _) = accepted.unwrap();
            stream.write_all(b"across").await.unwrap();
            let mut b = [0u8; 6];
            server.read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"across");

            // UDP the same way.
            let bound = listening.bind_udp_async(any).await.unwrap();
            let udp = dialer
                .connect_udp_async(bound.local_addr().unwrap())
                .await
                .unwrap();
            udp.send(b"dgram").await.unwrap();
            let (n, from) = bound.recv_from(&mut b).await.unwrap();
            assert_eq!((&b[..n], from), (&b"dgram"[..], udp.local_addr().unwrap()));
        });
        // The blocking faces cross namespaces too.
        let listener = ListenConfig::new()
            .netns(there.netns.clone())
            .listen_tcp("127.0.0.1:0".parse().unwrap())
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = Dialer::new()
            .netns(there.netns.clone())
            .connect_tcp(addr)
            .unwrap();
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());

        // Outside a runtime, the async faces say so.
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        for err in [
            futures::executor::block_on(ListenConfig::new().listen_tcp_async(any)).map(drop),
            futures::executor::block_on(ListenConfig::new().bind_udp_async(any)).map(drop),
            futures::executor::block_on(Dialer::new().connect_udp_async(addr)).map(drop),
        ] {
            assert!(matches!(err, Err(Error::NoRuntime { .. })), "{err:?}");
        }
    });
}

#[test]
fn bind_to_device_sends_through_our_tun_whatever_the_route() {
    // SO_BINDTODEVICE forcing traffic through our TUN: 10.8.0.0/24 is routed through
    // `flyroute`, yet a socket pinned to `flyvia` sends there through `flyvia`. Everything
    // stays inside the test's namespace: the peers are the devices, read by the test.
    if !privileged("bind_to_device_sends_through_our_tun_whatever_the_route") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let via = open_up(Device::builder().name("flyvia"), [10, 9, 0, 1]);
        let routed = open_up(Device::builder().name("flyroute"), [10, 8, 0, 1]);
        let done = watchdog(10, {
            let (a, b) = (Arc::clone(&via), Arc::clone(&routed));
            move || {
                a.shutdown();
                b.shutdown();
            }
        });
        let target = SocketAddr::from(([10, 8, 0, 2], 9));

        let plain = Dialer::new().connect_udp(target).unwrap();
        plain.send(b"routed").unwrap();
        assert_eq!(
            read_udp_to(&routed, target).as_deref(),
            Some(&b"routed"[..])
        );

        let pinned = Dialer::new()
            .bind_to_device("flyvia")
            .connect_udp(target)
            .unwrap();
        pinned.send(b"pinned").unwrap();
        assert_eq!(read_udp_to(&via, target).as_deref(), Some(&b"pinned"[..]));

        // TCP: the SYN leaves through flyvia. Nobody answers, so the connect is abandoned
        // once the SYN is seen (dropping the future closes the socket).
        #[cfg(feature = "async")]
        tcp_syn_goes_through(&via);
        let _ = done.send(());
    });
}

/// Dials 10.8.0.2:80 pinned to `via` on tokio and checks that its SYN is read from `via`.
#[cfg(feature = "async")]
fn tcp_syn_goes_through(via: &Arc<Device>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dialer = Dialer::new().bind_to_device("flyvia");
        let syn = tokio::task::spawn_blocking({
            let via = Arc::clone(via);
            move || read_syn_to(&via, SocketAddr::from(([10, 8, 0, 2], 80)))
        });
        tokio::select! {
            r = dialer.connect_tcp_async(SocketAddr::from(([10, 8, 0, 2], 80))) => {
                panic!("the connect ended before its SYN was read: {r:?}")
            }
            seen = syn => assert!(seen.unwrap(), "no SYN through flyvia"),
        }
    });
}

/// The payload of the first UDP datagram for `to` read from `dev` (the kernel may send IPv6
/// chatter first); `None` once the watchdog shut the device down.
fn read_udp_to(dev: &Device, to: SocketAddr) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    loop {
        let n = dev.recv(&mut buf).ok()?;
        if let Some((_, _, dst, dport, payload)) = parse_udp4(&buf[..n])
            && SocketAddr::from((dst, dport)) == to
        {
            return Some(payload);
        }
    }
}

/// Whether a TCP SYN for `to` is read from `dev` before the watchdog shuts it down.
#[cfg(feature = "async")]
fn read_syn_to(dev: &Device, to: SocketAddr) -> bool {
    let mut buf = [0u8; 2048];
    while let Ok(n) = dev.recv(&mut buf) {
        let p = &buf[..n];
        if p.len() < 40 || p[0] >> 4 != 4 || p[9] != 6 {
            continue;
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        let dst = SocketAddr::from((
            [p[16], p[17], p[18], p[19]],
            u16::from_be_bytes([p[ihl + 2], p[ihl + 3]]),
        ));
        let syn = p[ihl + 13] & 0x02 != 0;
        if dst == to && syn {
            return true;
        }
    }
    false
}
