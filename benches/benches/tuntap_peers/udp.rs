//! N6: UDP through a forwarder between two TUN devices, the sender using `UDP_SEGMENT` (one
//! `send` of many datagrams, as QUIC stacks send). With USO on the devices
//! (`TUN_F_USO4`/`USO6`), the kernel hands the forwarder `UDP_L4` super-packets; without it,
//! it segments them in software first and the forwarder sees every datagram on its own.
//!
//! The receiver in namespace B has `UDP_GRO` on in every configuration, so a super-packet the
//! kernel delivers whole is one `recv`; it counts payload bytes. UDP has no flow control, and
//! a sender that blasts measures mostly who wins the shared CPU (runs swung 2x), so the sender
//! keeps at most [`UdpImpl::window`] bytes in flight, reading the receiver's count from
//! shared memory (both ends are threads of this process). With a full window the sender
//! sleeps (`park`) until the receiver counts more: the two share the load CPU, and a sender
//! spinning on `yield` took it from the receiver, which made that CPU, not the forwarder,
//! the bottleneck (USO rows swung between 11 and 15 Gb/s). Bytes still unreceived after
//! [`WRITE_OFF`] without progress are written off as lost. The rate is the received bytes over
//! the time from the first send to the last datagram received.
//!
//! On the 2-core bench machine the load CPU is still the limit in some rounds: the sender's
//! copy from user memory (`_copy_from_iter` in `udp_sendmsg`) takes about three times its
//! usual share of that CPU, and every USO row, passthrough too, falls to 11-12 Gb/s while the
//! forwarder idles. Hence more rounds for this part than for the TCP ones.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};
use tuntap::vnet::Offload;

use super::endpoint::{Impl, configure, open_pair};
use super::env::{BenchNetns, pin};
use super::forward::{Forwarder, forward, stop, thread_pair};
use super::offload::{flywheel_passthrough, flywheel_segments};

/// Payload of each datagram: 1400 bytes, a typical QUIC packet, well inside the 1500 MTU.
pub(crate) const DATAGRAM: usize = 1_400;
/// Datagrams per `UDP_SEGMENT` send: 40 x 1400 = 56,000 bytes, under the 64 KiB limit.
const PER_SEND: usize = 40;
/// The receiver's port in namespace B.
const PORT: u16 = 6_000;
/// After the sender is done, the receiver stops once nothing arrived for this long.
const QUIET: Duration = Duration::from_millis(200);
/// The sending device's queue, in packets (the kernel's default `txqueuelen`).
const QUEUE: u64 = 500;
/// The most bytes in flight for any configuration (the receiver's buffer is 8 MiB).
const MAX_WINDOW: u64 = 2 << 20;
/// A window that does not move for this long counts as lost.
const WRITE_OFF: Duration = Duration::from_millis(100);

/// One UDP configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UdpImpl {
    /// Plain sender (one `send` per datagram), flywheel's single-packet forwarder on plain
    /// TUN devices.
    SinglePlain,
    /// `UDP_SEGMENT` sender, flywheel's single-packet forwarder on plain TUN devices: the
    /// kernel segments before the device.
    SingleGso,
    /// `UDP_SEGMENT` sender, USO on both devices: `gso::split` and `send_batch_coalesced`
    /// (per-datagram access, what a VPN does).
    UsoSegments,
    /// `UDP_SEGMENT` sender, USO on both devices: super-packets forwarded whole.
    UsoPassthrough,
}

impl UdpImpl {
    /// Every configuration.
    pub(crate) const ALL: [UdpImpl; 4] = [
        UdpImpl::SinglePlain,
        UdpImpl::SingleGso,
        UdpImpl::UsoSegments,
        UdpImpl::UsoPassthrough,
    ];

    /// The name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            UdpImpl::SinglePlain => "single_plain_sender",
            UdpImpl::SingleGso => "single_gso_sender",
            UdpImpl::UsoSegments => "uso_segments",
            UdpImpl::UsoPassthrough => "uso_passthrough",
        }
    }

    /// The row each row's ratios are taken against: the single-packet path with the same
    /// `UDP_SEGMENT` sender.
    pub(crate) fn reference(self) -> UdpImpl {
        UdpImpl::SingleGso
    }

    fn gso_sender(self) -> bool {
        self != UdpImpl::SinglePlain
    }

    /// Bytes the sender keeps in flight: three quarters of what the sending device's queue
    /// holds (500 datagrams without USO, 500 super-packets with it), at most [`MAX_WINDOW`],
    /// so each configuration gets the most it can have without overflowing that queue.
    pub(crate) fn window(self) -> u64 {
        let packet = match self {
            UdpImpl::SinglePlain | UdpImpl::SingleGso => DATAGRAM,
            UdpImpl::UsoSegments | UdpImpl::UsoPassthrough => DATAGRAM * PER_SEND,
        } as u64;
        (QUEUE * packet * 3 / 4).min(MAX_WINDOW)
    }
}

/// What one UDP run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UdpRun {
    /// Payload bits received per second, in Gb/s.
    pub(crate) gbps: f64,
    /// Forwarder CPU time (both directions) per GB of payload received, in seconds.
    pub(crate) cpu_s_per_gb: f64,
    /// Share of the sent payload that never arrived.
    pub(crate) loss: f64,
}

/// Run one configuration between `flyua<run>` in `a` (10.205.<2run>.1/24) and `flyub<run>` in
/// `b` (10.205.<2run+1>.1/24) while `bytes` of datagrams go from A to B; `Err` names the
/// configuration. A kernel that refuses USO is an error for the USO rows (the figure would be
/// the software path's).
pub(crate) fn run_once(
    a: &BenchNetns,
    b: &BenchNetns,
    imp: UdpImpl,
    run: u8,
    bytes: u64,
    (program_cpu, load_cpu): (usize, usize),
) -> Result<UdpRun, String> {
    let (name_a, name_b) = (format!("flyua{run}"), format!("flyub{run}"));
    let addr_a = Ipv4Addr::new(10, 205, 2 * run, 1);
    let addr_b = Ipv4Addr::new(10, 205, 2 * run + 1, 1);
    let forwarder: Forwarder = match imp {
        UdpImpl::SinglePlain | UdpImpl::SingleGso => {
            let (dev_a, dev_b, rt) = open_pair(
                Impl::FlywheelSync,
                (&a.ns, &b.ns),
                (&name_a, &name_b),
                (addr_a, addr_b),
            )?;
            std::thread::Builder::new()
                .name(format!("fwd-{}", imp.name()))
                .spawn(move || forward(dev_a, dev_b, rt, program_cpu))
                .map_err(|e| format!("spawning the forwarder: {e}"))?
        }
        UdpImpl::UsoSegments | UdpImpl::UsoPassthrough => {
            let wanted = Offload::TCP | Offload::USO4 | Offload::USO6;
            let open = |ns: &BenchNetns, name: &str| {
                let dev = tuntap::Device::builder()
                    .name(name)
                    .vnet_hdr(true)
                    .netns(ns.ns.clone())
                    .create()
                    .map_err(|e| format!("{}: creating {name}: {e}", imp.name()))?;
                let applied = dev
                    .set_offload(wanted)
                    .map_err(|e| format!("{}: offloads on {name}: {e}", imp.name()))?;
                if applied != wanted {
                    return Err(format!(
                        "{}: the kernel refused USO on {name} (applied {applied:?})",
                        imp.name()
                    ));
                }
                Ok(dev)
            };
            let (dev_a, dev_b) = (open(a, &name_a)?, open(b, &name_b)?);
            configure(&a.ns, &name_a, addr_a, Some(addr_b))?;
            configure(&b.ns, &name_b, addr_b, Some(addr_a))?;
            let copy = if imp == UdpImpl::UsoSegments {
                flywheel_segments
            } else {
                flywheel_passthrough
            };
            std::thread::Builder::new()
                .name(format!("fwd-{}", imp.name()))
                .spawn(move || thread_pair(dev_a, dev_b, program_cpu, copy))
                .map_err(|e| format!("spawning the forwarder: {e}"))?
        }
    };
    let stream = blast(
        a,
        b,
        (addr_a, addr_b),
        bytes,
        (imp.gso_sender(), imp.window()),
        load_cpu,
    );
    let cpu_ns = stop(a, b, (addr_a, addr_b), forwarder)?;
    let (received, elapsed) = stream.map_err(|e| format!("{}: UDP stream: {e}", imp.name()))?;
    if received == 0 {
        return Err(format!("{}: nothing arrived", imp.name()));
    }
    let gb = received as f64 / 1e9;
    Ok(UdpRun {
        gbps: gb * 8.0 / elapsed.as_secs_f64(),
        cpu_s_per_gb: cpu_ns as f64 / 1e9 / gb,
        loss: 1.0 - received as f64 / bytes as f64,
    })
}

/// Send `bytes` of 1400-byte datagrams (with `UDP_SEGMENT` when `gso`, at most `window` bytes
/// in flight) from `addr_a` in `a` to a `UDP_GRO` receiver on `addr_b` in `b` (both on `cpu`); returns the payload bytes received and the time from the
/// first send to the last datagram received.
fn blast(
    a: &BenchNetns,
    b: &BenchNetns,
    (addr_a, addr_b): (Ipv4Addr, Ipv4Addr),
    bytes: u64,
    (gso, window): (bool, u64),
    cpu: usize,
) -> std::io::Result<(u64, Duration)> {
    let receiver =
        b.ns.run(|| UdpSocket::bind((addr_b, PORT)))
            .map_err(std::io::Error::other)??;
    setsockopt(&receiver.as_fd(), sockopt::UdpGroSegment, &true)?;
    // Forced past `net.core.rmem_max` (208 KiB by default, under one window): the bench runs
    // as root.
    setsockopt(&receiver.as_fd(), sockopt::RcvBufForce, &(8 << 20))?;
    receiver.set_read_timeout(Some(QUIET))?;
    let sender =
        a.ns.run(|| UdpSocket::bind((addr_a, 0)))
            .map_err(std::io::Error::other)??;
    sender.connect(SocketAddr::from((addr_b, PORT)))?;
    if gso {
        setsockopt(&sender.as_fd(), sockopt::UdpGsoSegment, &(DATAGRAM as i32))?;
    }
    let done = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        let sent = s.spawn(|| -> std::io::Result<()> {
            pin(cpu);
            let chunk = vec![0x5au8; if gso { DATAGRAM * PER_SEND } else { DATAGRAM }];
            let (mut sent, mut written_off) = (0u64, 0u64);
            let (mut seen, mut since) = (0u64, Instant::now());
            while sent < bytes {
                let got = received.load(Ordering::Acquire);
                if got != seen {
                    (seen, since) = (got, Instant::now());
                }
                if sent.saturating_sub(written_off + got) > window {
                    if since.elapsed() > WRITE_OFF {
                        written_off = sent - got;
                        since = Instant::now();
                    }
                    // Sleep until the receiver counts more (it unparks this thread after
                    // every datagram): the two share a CPU, and a spinning sender would
                    // take it from the receiver.
                    std::thread::park_timeout(WRITE_OFF);
                    continue;
                }
                let n = (bytes - sent).min(chunk.len() as u64) as usize;
                match sender.send(&chunk[..n]) {
                    Ok(_) => sent += n as u64,
                    // The device's queue is full and the packet was dropped, or the socket's
                    // buffer: count it sent (lost) and go on.
                    Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOBUFS as i32) => {
                        sent += n as u64
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        let sender_thread = sent.thread().clone();
        let (received, done, receiver) = (&received, &done, &receiver);
        let counter = s.spawn(move || -> std::io::Result<(u64, Duration)> {
            pin(cpu);
            let mut buf = vec![0u8; 65_536];
            let (mut total, mut last) = (0u64, Duration::ZERO);
            loop {
                match receiver.recv(&mut buf) {
                    Ok(n) => {
                        total += n as u64;
                        received.store(total, Ordering::Release);
                        sender_thread.unpark();
                        last = start.elapsed();
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        if done.load(Ordering::Acquire) {
                            return Ok((total, last));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        });
        let sent = sent
            .join()
            .map_err(|_| std::io::Error::other("the sender panicked"));
        done.store(true, Ordering::Release);
        let counted = counter
            .join()
            .map_err(|_| std::io::Error::other("the receiver panicked"))?;
        sent??;
        counted
    })
}
