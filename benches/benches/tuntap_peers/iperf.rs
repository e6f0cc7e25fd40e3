//! iperf3 as a cross-check of our TCP stream generator: the same flywheel_sync forwarder
//! between two TUN devices, once with iperf3 (client and server pinned with `-A` to the load
//! CPU) and reported next to our generator's figure. Skipped with a message when iperf3 is
//! not installed.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::endpoint::{Impl, open_pair};
use super::env::BenchNetns;
use super::forward::{forward, stop};

/// iperf3's port inside namespace B.
const PORT: &str = "5201";
/// An iperf3 client still running this long is killed and the cross-check fails.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// Whether an `iperf3` binary can be run.
pub(crate) fn available() -> bool {
    Command::new("iperf3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One iperf3 run of `bytes` through flywheel_sync's forwarder between `flyia<run>` in `a` and
/// `flyib<run>` in `b`; its received Gb/s.
pub(crate) fn run_once(
    a: &BenchNetns,
    b: &BenchNetns,
    run: u8,
    bytes: u64,
    (program_cpu, load_cpu): (usize, usize),
) -> Result<f64, String> {
    let (name_a, name_b) = (format!("flyia{run}"), format!("flyib{run}"));
    let addr_a = Ipv4Addr::new(10, 204, 2 * run, 1);
    let addr_b = Ipv4Addr::new(10, 204, 2 * run + 1, 1);
    let (dev_a, dev_b, rt) = open_pair(
        Impl::FlywheelSync,
        (&a.ns, &b.ns),
        (&name_a, &name_b),
        (addr_a, addr_b),
    )?;
    let forwarder = std::thread::Builder::new()
        .name("fwd-iperf3".to_owned())
        .spawn(move || forward(dev_a, dev_b, rt, program_cpu))
        .map_err(|e| format!("spawning the forwarder: {e}"))?;

    let cpu = load_cpu.to_string();
    let server = Command::new("ip")
        .args([
            "netns",
            "exec",
            b.ns.name(),
            "iperf3",
            "-s",
            "-1",
            "-A",
            &cpu,
            "-p",
            PORT,
        ])
        .args(["-B", &addr_b.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the iperf3 server: {e}"));
    let result = server.and_then(|mut server| {
        // The server takes a moment to listen: retry the client a bounded number of times.
        let mut last = String::new();
        for _ in 0..50 {
            let client = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    a.ns.name(),
                    "iperf3",
                    "-J",
                    "-A",
                    &cpu,
                    "-p",
                    PORT,
                ])
                .args(["-c", &addr_b.to_string(), "-n", &bytes.to_string()])
                .args(["--connect-timeout", "2000"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("running the iperf3 client: {e}"))?;
            let Some(out) = bounded(client, CLIENT_LIMIT)? else {
                let _ = server.kill();
                let _ = server.wait();
                return Err(format!(
                    "iperf3 client still running after {CLIENT_LIMIT:?}: killed"
                ));
            };
            // iperf3 -J can exit 0 with only an "error" in its report when the server is not
            // listening yet: that is a retry too.
            let report = serde_json::from_slice::<serde_json::Value>(&out.stdout);
            if out.status.success() && !report.as_ref().is_ok_and(refused) {
                if bounded_wait(&mut server, Duration::from_secs(5)).is_none() {
                    let _ = server.kill();
                    let _ = server.wait();
                }
                return received_gbps(&report.map_err(|e| format!("iperf3 JSON: {e}"))?);
            }
            last = String::from_utf8_lossy(&out.stdout)
                .chars()
                .take(300)
                .collect();
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = server.kill();
        let _ = server.wait();
        Err(format!("iperf3 client never connected: {last}"))
    });
    stop(a, b, (addr_a, addr_b), forwarder)?;
    result
}

/// Whether iperf3's JSON report says the connection was refused.
fn refused(report: &serde_json::Value) -> bool {
    report
        .get("error")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|error| error.contains("Connection refused"))
}

/// `end.sum_received.bits_per_second` of iperf3's JSON report, in Gb/s.
fn received_gbps(report: &serde_json::Value) -> Result<f64, String> {
    report
        .pointer("/end/sum_received/bits_per_second")
        .and_then(serde_json::Value::as_f64)
        .map(|bps| bps / 1e9)
        .ok_or_else(|| {
            let error = report
                .get("error")
                .map_or_else(String::new, |e| format!(": {e}"));
            format!("iperf3 JSON has no end.sum_received.bits_per_second{error}")
        })
}

/// Wait for `child` at most `limit`; kill it past that and return `None`.
fn bounded(mut child: Child, limit: Duration) -> Result<Option<Output>, String> {
    match bounded_wait(&mut child, limit) {
        Some(()) => child
            .wait_with_output()
            .map(Some)
            .map_err(|e| format!("iperf3 client output: {e}")),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(None)
        }
    }
}

/// Poll `child` until it exits (`Some`) or `limit` passes (`None`).
fn bounded_wait(child: &mut Child, limit: Duration) -> Option<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return Some(()),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    None
}
