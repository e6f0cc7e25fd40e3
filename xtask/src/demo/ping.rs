//! The load of the `tun-ping` demo: ICMP echo requests sent from inside the demo's network
//! namespace, as `ping -c N` would, through a raw socket (the demo runs as root).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{
    AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, recv, sendto,
    setsockopt, socket, sockopt,
};
use nix::sys::time::TimeVal;

/// Sends `count` echo requests to `peer` from the namespace `/run/netns/<netns>`, each after
/// the previous reply (or a 1 s timeout) and a short pause. Meant for a thread of its own: it
/// moves the calling thread into the namespace.
#[allow(
    clippy::disallowed_methods,
    reason = "the demo paces its pings in real time, as ping does"
)]
pub(crate) fn ping_in(netns: &str, peer: Ipv4Addr, count: u16) -> Result<(), String> {
    let path = format!("/run/netns/{netns}");
    let file = std::fs::File::open(&path).map_err(|e| format!("opening {path}: {e}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns {path}: {e}"))?;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )
    .map_err(|e| format!("raw ICMP socket: {e}"))?;
    setsockopt(&sock, sockopt::ReceiveTimeout, &TimeVal::new(1, 0))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    let to = SockaddrIn::from(SocketAddrV4::new(peer, 0));
    let id = (std::process::id() & 0xffff) as u16;
    for seq in 1..=count {
        let request = echo_request(id, seq);
        // Until the example has brought its device up there is no route to the peer.
        let mut tries = 0;
        while let Err(e) = sendto(sock.as_raw_fd(), &request, &to, MsgFlags::empty()) {
            tries += 1;
            if tries > 200 || !matches!(e, Errno::ENETUNREACH | Errno::EHOSTUNREACH) {
                return Err(format!("sending an echo request to {peer}: {e}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut buf = [0u8; 1500];
        while let Ok(n) = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            let icmp = &buf[usize::from(buf[0] & 0x0f) * 4..n];
            if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    Ok(())
}

/// An ICMP echo request with a small payload and its checksum.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"flywheel demo ping");
    let mut sum: u32 = icmp
        .chunks(2)
        .map(|p| u32::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    icmp[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    icmp
}
