//! N4: TCP through a userspace forwarder between two TUN devices in two namespaces, no
//! offload: a TCP stream from namespace A to a listener in namespace B, every segment and ACK
//! read from one device and written to the other. Forwarder on one CPU, both TCP ends on the
//! other.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

use super::endpoint::{AsyncDev, Endpoint, Impl, open_pair};
use super::env::{BenchNetns, pin, tcp_retransmits, thread_cpu_ns};
use super::packet::{STOP_PORT, is_stop};

/// Bytes per `write` of the sender.
const CHUNK: usize = 64 * 1024;

/// A connect, write or read stuck this long ends the run with an error instead of a hang.
const STALL: Duration = Duration::from_secs(10);

/// What one forwarder run measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ForwardRun {
    /// Payload bits per second of wall time, in Gb/s.
    pub(crate) gbps: f64,
    /// Forwarder CPU time (both directions) per GB of payload, in seconds.
    pub(crate) cpu_s_per_gb: f64,
    /// TCP segments the sender retransmitted.
    pub(crate) retransmits: u64,
    /// Packets the two devices dropped on transmit (`tx_dropped`: the kernel found the TUN
    /// queue full, the forwarder not reading fast enough).
    pub(crate) tun_drops: u64,
}

/// Run one implementation's forwarder between `flyfa<run>` (10.202.<2run>.1/24, in `a`) and
/// `flyfb<run>` (10.202.<2run+1>.1/24, in `b`) while `bytes` go from A to a listener in B.
pub(crate) fn run_once(
    a: &BenchNetns,
    b: &BenchNetns,
    imp: Impl,
    run: u8,
    bytes: u64,
    (program_cpu, load_cpu): (usize, usize),
) -> Result<ForwardRun, String> {
    let (name_a, name_b) = (format!("flyfa{run}"), format!("flyfb{run}"));
    let addr_a = Ipv4Addr::new(10, 202, 2 * run, 1);
    let addr_b = Ipv4Addr::new(10, 202, 2 * run + 1, 1);
    let (dev_a, dev_b, rt) = open_pair(imp, (&a.ns, &b.ns), (&name_a, &name_b), (addr_a, addr_b))?;

    let forwarder = std::thread::Builder::new()
        .name(format!("fwd-{}", imp.name()))
        .spawn(move || forward(dev_a, dev_b, rt, program_cpu))
        .map_err(|e| format!("spawning the forwarder: {e}"))?;
    drive(
        (a, &name_a),
        (b, &name_b),
        (addr_a, addr_b),
        bytes,
        load_cpu,
        Some(forwarder),
    )
    .map_err(|e| format!("{}: {e}", imp.name()))
}

/// The forwarding thread of a run: returns the CPU time spent forwarding, in nanoseconds.
pub(crate) type Forwarder = std::thread::JoinHandle<std::io::Result<u64>>;

/// Stream `bytes` from `addrs.0` in `a` to a listener on `addrs.1` in `b` (both TCP ends on
/// `load_cpu`), then stop `forwarder` (None when the kernel forwards by itself) and collect
/// the figures; `dev_a` and `dev_b` are the devices whose drops are counted.
pub(crate) fn drive(
    (a, dev_a): (&BenchNetns, &str),
    (b, dev_b): (&BenchNetns, &str),
    (addr_a, addr_b): (Ipv4Addr, Ipv4Addr),
    bytes: u64,
    load_cpu: usize,
    forwarder: Option<Forwarder>,
) -> Result<ForwardRun, String> {
    let listener =
        b.ns.run(|| TcpListener::bind((addr_b, 0)))
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("listening on {addr_b}: {e}"))?;
    let target = listener
        .local_addr()
        .map_err(|e| format!("listener address: {e}"))?;
    let retrans_before = a.ns.run(tcp_retransmits).map_err(|e| e.to_string())?;
    let drops_before = tx_dropped(a, dev_a) + tx_dropped(b, dev_b);
    let stream = tcp_stream(a, listener, target, bytes, load_cpu);
    let retrans_after = a.ns.run(tcp_retransmits).map_err(|e| e.to_string())?;
    let drops_after = tx_dropped(a, dev_a) + tx_dropped(b, dev_b);

    let cpu_ns = match forwarder {
        Some(forwarder) => stop(a, b, (addr_a, addr_b), forwarder)?,
        None => 0,
    };
    let elapsed = stream.map_err(|e| format!("TCP stream: {e}"))?;
    let gb = bytes as f64 / 1e9;
    Ok(ForwardRun {
        gbps: gb * 8.0 / elapsed.as_secs_f64(),
        cpu_s_per_gb: cpu_ns as f64 / 1e9 / gb,
        retransmits: retrans_after
            .zip(retrans_before)
            .map_or(0, |(after, before)| after.saturating_sub(before)),
        tun_drops: drops_after.saturating_sub(drops_before),
    })
}

/// The `tx_dropped` counter of `dev` in `ns` (`ip -s -j link show`), 0 if it cannot be read.
pub(crate) fn tx_dropped(ns: &BenchNetns, dev: &str) -> u64 {
    let out = std::process::Command::new("ip")
        .args(["-n", ns.ns.name(), "-s", "-j", "link", "show", "dev", dev])
        .output();
    let Ok(out) = out else { return 0 };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return 0;
    };
    json.pointer("/0/stats64/tx/dropped")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Stop both directions, whatever the stream did: a datagram to the stop port from each side,
/// repeated (bounded) until the forwarder returns; then its CPU time.
pub(crate) fn stop(
    a: &BenchNetns,
    b: &BenchNetns,
    (addr_a, addr_b): (Ipv4Addr, Ipv4Addr),
    forwarder: Forwarder,
) -> Result<u64, String> {
    let stoppers = [(a, addr_a, addr_b), (b, addr_b, addr_a)].map(|(ns, from, to)| {
        ns.ns
            .run(|| UdpSocket::bind((from, 0)))
            .ok()
            .and_then(Result::ok)
            .map(|s| (s, SocketAddr::from((to, STOP_PORT))))
    });
    for _ in 0..2_000 {
        if forwarder.is_finished() {
            break;
        }
        for (socket, to) in stoppers.iter().flatten() {
            let _ = socket.send_to(&[0u8; 1], to);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if !forwarder.is_finished() {
        return Err("the forwarder did not stop".to_owned());
    }
    forwarder
        .join()
        .map_err(|_| "the forwarder panicked".to_owned())?
        .map_err(|e| format!("forwarder: {e}"))
}

/// Connect from namespace `a` to `target`, send `bytes`, and return the time until the
/// receiver has read them all.
fn tcp_stream(
    a: &BenchNetns,
    listener: TcpListener,
    target: SocketAddr,
    bytes: u64,
    cpu: usize,
) -> std::io::Result<Duration> {
    // Connected before anything waits in accept(), so a failed connect cannot leave a thread
    // blocked there.
    let mut conn =
        a.ns.run(|| TcpStream::connect_timeout(&target, STALL))
            .map_err(std::io::Error::other)??;
    conn.set_write_timeout(Some(STALL))?;
    conn.set_read_timeout(Some(STALL))?;
    std::thread::scope(|s| {
        let receiver = s.spawn(move || -> std::io::Result<u64> {
            pin(cpu);
            let (mut conn, _) = listener.accept()?;
            conn.set_read_timeout(Some(STALL))?;
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0u64;
            loop {
                match conn.read(&mut buf)? {
                    0 => return Ok(total),
                    n => total += n as u64,
                }
            }
        });
        let sent = s
            .spawn(move || -> std::io::Result<Duration> {
                pin(cpu);
                let chunk = vec![0xa5u8; CHUNK];
                let start = Instant::now();
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(CHUNK as u64) as usize;
                    conn.write_all(&chunk[..n])?;
                    left -= n as u64;
                }
                conn.shutdown(Shutdown::Write)?;
                // The receiver's EOF comes after the last byte; reading ours waits for its close.
                let mut end = [0u8; 1];
                let _ = conn.read(&mut end);
                Ok(start.elapsed())
            })
            .join()
            .map_err(|_| std::io::Error::other("the sender panicked"))??;
        let received = receiver
            .join()
            .map_err(|_| std::io::Error::other("the receiver panicked"))??;
        if received != bytes {
            return Err(std::io::Error::other(format!(
                "received {received} of {bytes} bytes"
            )));
        }
        Ok(sent)
    })
}

/// Copy packets A->B and B->A until each direction has seen its stop datagram; returns the CPU
/// time of the forwarding thread(s) in nanoseconds.
pub(crate) fn forward(a: Endpoint, b: Endpoint, rt: Runtime, cpu: usize) -> std::io::Result<u64> {
    match (a, b) {
        (Endpoint::Sync(a), Endpoint::Sync(b)) => thread_pair(a, b, cpu, |from, to| {
            let mut buf = vec![0u8; 65_536];
            loop {
                let n = from.recv(&mut buf)?;
                if is_stop(&buf[..n]) {
                    return Ok(());
                }
                to.send(&buf[..n])?;
            }
        }),
        (Endpoint::Async(a), Endpoint::Async(b)) => {
            pin(cpu);
            let start = thread_cpu_ns();
            let (ab, ba) =
                rt.block_on(async { tokio::join!(copy_async(&a, &b), copy_async(&b, &a)) });
            ab?;
            ba?;
            Ok(thread_cpu_ns() - start)
        }
        _ => Err(std::io::Error::other(
            "mixed or offload endpoints: not a single-packet forwarder",
        )),
    }
}

/// One thread per direction, both pinned to `cpu`, each running `copy(from, to)` until it
/// returns; the sum of their CPU times in nanoseconds.
pub(crate) fn thread_pair<D: Send + Sync + 'static>(
    a: D,
    b: D,
    cpu: usize,
    copy: fn(&D, &D) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let (a, b) = (Arc::new(a), Arc::new(b));
    let spawn = |from: Arc<D>, to: Arc<D>| {
        std::thread::spawn(move || -> std::io::Result<u64> {
            pin(cpu);
            let start = thread_cpu_ns();
            copy(&from, &to)?;
            Ok(thread_cpu_ns() - start)
        })
    };
    let ab = spawn(Arc::clone(&a), Arc::clone(&b));
    let ba = spawn(b, a);
    let join = |h: std::thread::JoinHandle<std::io::Result<u64>>| {
        h.join()
            .map_err(|_| std::io::Error::other("a forwarding thread panicked"))?
    };
    let (ab, ba) = (join(ab), join(ba));
    Ok(ab? + ba?)
}

async fn copy_async(from: &AsyncDev, to: &AsyncDev) -> std::io::Result<()> {
    let mut buf = vec![0u8; 65_536];
    loop {
        let n = from.recv(&mut buf).await?;
        if is_stop(&buf[..n]) {
            return Ok(());
        }
        to.send(&buf[..n]).await?;
    }
}
