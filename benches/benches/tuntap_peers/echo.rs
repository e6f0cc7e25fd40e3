//! N3 (and N5): a userspace echo responder on a TUN device, driven by a windowed load from a
//! socket in the same namespace, responder and load pinned to different CPUs. Two probes: UDP
//! datagrams to the echo port, and ICMP echo requests from a raw socket (what
//! `ping -f -l 64` sends).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tuntap::gso;
use tuntap::vnet::{VNET_HDR_LEN, VnetHdr};

use super::endpoint::{Endpoint, Impl, configure};
use super::env::{BenchNetns, pin, thread_cpu_ns};
use super::packet::{ECHO_PORT, STOP_PORT, Verdict, echo};

/// Requests in flight at once.
const WINDOW: u64 = 64;
/// UDP payload of each request; an ICMP request is as long (8 bytes of header, 56 of data,
/// as `ping` sends).
const PAYLOAD: usize = 64;

/// What the load generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Probe {
    /// UDP datagrams to [`ECHO_PORT`].
    Udp,
    /// ICMP echo requests from a raw socket.
    Icmp,
}

impl Probe {
    /// Both probes.
    pub(crate) const ALL: [Probe; 2] = [Probe::Udp, Probe::Icmp];

    /// The name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Probe::Udp => "udp",
            Probe::Icmp => "icmp",
        }
    }
}
/// A reply not seen this long after the last one counts its window as lost.
const LOSS_TIMEOUT: Duration = Duration::from_millis(200);

/// What one responder run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EchoRun {
    /// Replies received by the load generator per second of wall time.
    pub(crate) pps: f64,
    /// Responder thread CPU time per reply it wrote, in nanoseconds.
    pub(crate) cpu_ns_per_packet: f64,
    /// Requests whose reply never came.
    pub(crate) lost: u64,
}

/// What a responder loop did: replies written and the CPU time its thread used.
struct Served {
    replies: u64,
    cpu_ns: u64,
}

/// Run one implementation's responder on a fresh device `flyecho<run>` with address
/// 10.201.<run>.1/24, answer `count` requests to 10.201.<run>.2, and tear the device down.
pub(crate) fn run_once(
    netns: &BenchNetns,
    imp: Impl,
    probe: Probe,
    run: u8,
    count: u64,
    (program_cpu, load_cpu): (usize, usize),
) -> Result<EchoRun, String> {
    let name = format!("flyecho{run}");
    let local = Ipv4Addr::new(10, 201, run, 1);
    let peer = Ipv4Addr::new(10, 201, run, 2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let endpoint = imp.open(&netns.ns, &name, rt.handle())?;
    configure(&netns.ns, &name, local, None)?;
    let socket = netns
        .ns
        .run(|| UdpSocket::bind((local, 0)))
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("binding the load socket on {local}: {e}"))?;
    let icmp = match probe {
        Probe::Udp => None,
        Probe::Icmp => Some(
            netns
                .ns
                .run(raw_icmp_socket)
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("raw ICMP socket: {e}"))?,
        ),
    };
    for socket in std::iter::once(&socket).chain(&icmp) {
        socket
            .set_read_timeout(Some(LOSS_TIMEOUT))
            .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    }
    socket
        .set_read_timeout(Some(LOSS_TIMEOUT))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;

    let responder = std::thread::Builder::new()
        .name(format!("echo-{}", imp.name()))
        .spawn(move || {
            pin(program_cpu);
            serve(endpoint, rt)
        })
        .map_err(|e| format!("spawning the responder: {e}"))?;
    let load = std::thread::scope(|s| {
        s.spawn(|| {
            pin(load_cpu);
            match &icmp {
                None => echo_load(
                    &socket,
                    &[0x5a; PAYLOAD],
                    SocketAddr::from((peer, ECHO_PORT)),
                    |_| true,
                    count,
                ),
                Some(raw) => echo_load(
                    raw,
                    &icmp_echo_request(),
                    SocketAddr::from((peer, 0)),
                    is_icmp_echo_reply,
                    count,
                ),
            }
        })
        .join()
    })
    .map_err(|_| "the load generator panicked".to_owned())
    .and_then(|load| load.map_err(|e| format!("load generator: {e}")));

    // Tell the responder to return; repeat in case a stop datagram is dropped, bounded.
    let stop = SocketAddr::from((peer, STOP_PORT));
    for _ in 0..2_000 {
        if responder.is_finished() {
            break;
        }
        let _ = socket.send_to(&[0u8; 1], stop);
        std::thread::sleep(Duration::from_millis(1));
    }
    if !responder.is_finished() {
        return Err(format!("{}: the responder did not stop", imp.name()));
    }
    let served = responder
        .join()
        .map_err(|_| format!("{}: the responder panicked", imp.name()))?
        .map_err(|e| format!("{}: responder: {e}", imp.name()))?;
    // The responder is stopped whatever the load did; now its error, if any.
    let load = load.map_err(|e| format!("{}: {e}", imp.name()))?;
    if served.replies == 0 || load.received == 0 {
        return Err(format!("{}: no echo reply at all", imp.name()));
    }
    Ok(EchoRun {
        pps: load.received as f64 / load.elapsed.as_secs_f64(),
        cpu_ns_per_packet: served.cpu_ns as f64 / served.replies as f64,
        lost: load.lost,
    })
}

/// The responder loop: read a packet, answer echo requests, return on the stop datagram.
fn serve(endpoint: Endpoint, rt: Runtime) -> std::io::Result<Served> {
    let mut buf = vec![0u8; 65_536];
    let start = thread_cpu_ns();
    let mut replies = 0u64;
    match endpoint {
        Endpoint::Sync(dev) => loop {
            let n = dev.recv(&mut buf)?;
            match echo(&mut buf[..n]) {
                Verdict::Reply => {
                    dev.send(&buf[..n])?;
                    replies += 1;
                }
                Verdict::Stop => break,
                Verdict::Other => {}
            }
        },
        Endpoint::Async(dev) => rt.block_on(async {
            loop {
                let n = dev.recv(&mut buf).await?;
                match echo(&mut buf[..n]) {
                    Verdict::Reply => {
                        dev.send(&buf[..n]).await?;
                        replies += 1;
                    }
                    Verdict::Stop => break,
                    Verdict::Other => {}
                }
            }
            Ok::<(), std::io::Error>(())
        })?,
        Endpoint::Offload(dev) => {
            let mut segment_buf = vec![0u8; 65_536];
            'read: loop {
                let n = dev.recv(&mut buf).map_err(std::io::Error::other)?;
                let hdr = VnetHdr::parse(&buf[..n]).map_err(std::io::Error::other)?;
                let packet = &buf[VNET_HDR_LEN..n];
                for segment in gso::split(&hdr, packet).map_err(std::io::Error::other)? {
                    let len = segment
                        .write_to(&mut segment_buf)
                        .ok_or_else(|| std::io::Error::other("segment larger than its buffer"))?;
                    match echo(&mut segment_buf[..len]) {
                        Verdict::Reply => {
                            dev.send_batch_coalesced(&[&segment_buf[..len]])
                                .map_err(std::io::Error::other)?;
                            replies += 1;
                        }
                        Verdict::Stop => break 'read,
                        Verdict::Other => {}
                    }
                }
            }
        }
    }
    Ok(Served {
        replies,
        cpu_ns: thread_cpu_ns() - start,
    })
}

/// What the load generator saw.
struct Load {
    received: u64,
    lost: u64,
    elapsed: Duration,
}

/// A raw IPv4 ICMP socket, as a `UdpSocket` for its `send_to`/`recv`/timeout calls, which are
/// the same system calls on any datagram-like socket. Its `recv` gives whole IP packets.
fn raw_icmp_socket() -> std::io::Result<UdpSocket> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::Icmp,
    )?;
    Ok(UdpSocket::from(fd))
}

/// An ICMP echo request (type 8, id 0x4657, sequence 1) with 56 bytes of data and its checksum.
fn icmp_echo_request() -> [u8; PAYLOAD] {
    let mut m = [0x5au8; PAYLOAD];
    m[..8].copy_from_slice(&[8, 0, 0, 0, 0x46, 0x57, 0, 1]);
    let mut sum: u32 = m
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    m[2..4].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    m
}

/// Whether an IP packet read from the raw socket is an ICMP echo reply.
fn is_icmp_echo_reply(p: &[u8]) -> bool {
    let ihl = usize::from(p.first().map_or(0, |b| b & 0x0f)) * 4;
    p.get(ihl) == Some(&0)
}

/// Send `count` copies of `request` to `to`, keeping [`WINDOW`] in flight, counting what
/// `is_reply` accepts; a window with no reply for [`LOSS_TIMEOUT`] counts as lost and is sent
/// anew.
fn echo_load(
    socket: &UdpSocket,
    request: &[u8],
    to: SocketAddr,
    is_reply: fn(&[u8]) -> bool,
    count: u64,
) -> std::io::Result<Load> {
    let mut reply = [0u8; 4 * PAYLOAD];
    let (mut sent, mut received, mut lost) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while received + lost < count {
        let in_flight = sent.saturating_sub(received + lost);
        if in_flight < WINDOW && sent < count {
            socket.send_to(request, to)?;
            sent += 1;
            continue;
        }
        match socket.recv(&mut reply) {
            Ok(n) if is_reply(&reply[..n]) => received += 1,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                lost += in_flight;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Load {
        received,
        lost,
        elapsed: start.elapsed(),
    })
}
