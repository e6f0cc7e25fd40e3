//! N3: a userspace UDP echo responder on a TUN device, driven by a windowed UDP load from a
//! socket in the same namespace (what `ping -f -l 64` does with ICMP), responder and load
//! pinned to different CPUs.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::endpoint::{Endpoint, Impl, configure};
use super::env::{BenchNetns, pin, thread_cpu_ns};
use super::packet::{ECHO_PORT, STOP_PORT, Verdict, echo};

/// Requests in flight at once.
const WINDOW: u64 = 64;
/// UDP payload of each request.
const PAYLOAD: usize = 64;
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
            udp_echo_load(&socket, SocketAddr::from((peer, ECHO_PORT)), count)
        })
        .join()
    })
    .map_err(|_| "the load generator panicked".to_owned())?
    .map_err(|e| format!("load generator: {e}"))?;

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

/// Send `count` echo requests to `to`, keeping [`WINDOW`] in flight; a window with no reply
/// for [`LOSS_TIMEOUT`] counts as lost and is sent anew.
fn udp_echo_load(socket: &UdpSocket, to: SocketAddr, count: u64) -> std::io::Result<Load> {
    let request = [0x5au8; PAYLOAD];
    let mut reply = [0u8; 2 * PAYLOAD];
    let (mut sent, mut received, mut lost) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    while received + lost < count {
        let in_flight = sent.saturating_sub(received + lost);
        if in_flight < WINDOW && sent < count {
            socket.send_to(&request, to)?;
            sent += 1;
            continue;
        }
        match socket.recv(&mut reply) {
            Ok(_) => received += 1,
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
