//! The `tun-ping` example answers real pings: it runs in a network namespace this test creates,
//! and the test sends ICMP echo requests to the example's peer address from inside that
//! namespace through a raw socket. Needs root (CI runs as root; elsewhere it is skipped loudly).

mod common;

use common::{example_binary, privileged};
use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};

use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recv, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;
use tuntap::Netns;

/// A namespace made with `ip netns add`, deleted on drop.
struct TestNetns(String);

impl TestNetns {
    fn new() -> Self {
        let name = format!("flywheel-ping-{}", std::process::id());
        let status = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(status.is_ok_and(|s| s.success()), "ip netns add {name}");
        TestNetns(name)
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Kills the example if the test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An ICMP echo request with identifier `id` and sequence `seq`, checksummed.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"flywheel tun-ping test payload");
    let sum = tuntap::internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    icmp
}

/// Sends `count` echo requests to `peer` from inside the current namespace and returns the
/// sequence numbers of the replies that came back (each within 5 s).
fn ping(peer: Ipv4Addr, count: u16) -> Vec<u16> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .expect("raw ICMP socket");
    setsockopt(&sock, sockopt::ReceiveTimeout, &TimeVal::new(5, 0)).expect("SO_RCVTIMEO");
    let id = (std::process::id() & 0xffff) as u16;
    let to = SockaddrIn::from(std::net::SocketAddrV4::new(peer, 0));
    let mut seen = Vec::new();
    for seq in 1..=count {
        sendto(
            sock.as_raw_fd(),
            &echo_request(id, seq),
            &to,
            MsgFlags::empty(),
        )
        .expect("sendto");
        let mut buf = [0u8; 1500];
        // A raw socket gets every ICMP packet; skip anything that is not our reply. A
        // receive error is the 5 s timeout: no reply for this one.
        while let Ok(n) = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            let header = usize::from(buf[0] & 0x0f) * 4;
            let icmp = &buf[header..n];
            if icmp.len() >= 8
                && icmp[0] == 0
                && buf[12..16] == peer.octets()
                && u16::from_be_bytes([icmp[4], icmp[5]]) == id
            {
                seen.push(u16::from_be_bytes([icmp[6], icmp[7]]));
                break;
            }
        }
    }
    seen
}

#[test]
fn answers_pings() {
    if !privileged("tun_ping answers_pings") {
        return;
    }
    let ns = TestNetns::new();
    let mut child = Running(
        Command::new(example_binary("tun-ping"))
            .args([
                "--name",
                "flyping0",
                "--address",
                "10.77.0.1/24",
                "--peer",
                "10.77.0.9",
                "--netns",
                &ns.0,
                "--count",
                "3",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tun-ping"),
    );
    let mut lines = BufReader::new(child.0.stdout.take().expect("stdout")).lines();
    let banner = lines.next().expect("a banner line").expect("utf-8");
    assert!(
        banner.contains("flyping0: 10.77.0.1/24 up; answering ICMP echo for 10.77.0.9"),
        "{banner}"
    );

    let netns = Netns::open(&ns.0).expect("open the test namespace");
    let replies = netns.run(|| ping(Ipv4Addr::new(10, 77, 0, 9), 3)).unwrap();
    assert_eq!(
        replies,
        [1, 2, 3],
        "every echo request is answered, in order"
    );

    // After three replies the example prints each packet it saw and exits on its own.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let requests = rest
        .iter()
        .filter(|l| l.contains("10.77.0.1 > 10.77.0.9  ICMP echo request"))
        .count();
    let answers = rest
        .iter()
        .filter(|l| l.starts_with("sent") && l.contains("10.77.0.9 > 10.77.0.1  ICMP echo reply"))
        .count();
    assert_eq!((requests, answers), (3, 3), "{rest:#?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("3 echo replies sent; bye")
    );
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
}
