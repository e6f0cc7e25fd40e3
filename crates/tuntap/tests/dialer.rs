//! The Dialer and its control hooks, over loopback inside a namespace the test created.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};

use common::{TestNetns, privileged};
use nix::sys::socket::{getsockopt, sockopt};
use tuntap::{Dialer, Error};

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
