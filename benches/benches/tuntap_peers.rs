//! tuntap against its peer crates on real TUN devices (GOALS N1..N5): flywheel's blocking and
//! tokio paths, `tun-rs` (sync and async), `tun` and `tokio-tun`, in the same run.
//!
//! - N3 echo: each implementation runs a userspace echo responder on a TUN device in a
//!   namespace the bench creates; our own load generator in that namespace (UDP datagrams, or
//!   ICMP echo requests from a raw socket as `ping -f -l 64` sends them; 64 in flight) drives
//!   it for a fixed count. Reported: replies per second and the responder thread's CPU time
//!   per packet (`CLOCK_THREAD_CPUTIME_ID`). N5: the same loads through flywheel's offload path.
//! - N4 TCP forward without offload: each implementation copies packets between two TUN
//!   devices in two namespaces while one TCP stream crosses them. Reported: Gb/s, forwarder
//!   CPU s/GB, sender retransmits.
//! - N1/N2 TCP forward with offloads: super-packets split into segments and written back
//!   coalesced (flywheel vs tun-rs's offload path), or passed through whole; veth as the
//!   ceiling.
//!
//! - N6 UDP forward: a `UDP_SEGMENT` sender through flywheel's forwarders, single-packet
//!   against USO (split + coalesced write, and passthrough).
//!
//! Program and load are pinned to different CPUs; implementations are interleaved over
//! several rounds and the tables give medians, spreads and flywheel/peer ratios. Not a
//! criterion bench: it prints the tables and writes `target/bench-extra/tuntap.md`, which
//! `cargo xtask bench tuntap` adds to its report. With `--test` (CI) it runs once on tiny
//! counts; `--quick` takes fewer rounds;
//! `--only=echo,forward,offload,udp` runs some of the parts. `FLYWHEEL_BENCH_TXQUEUELEN=N`
//! gives every device (every implementation's) that transmit queue length instead of the
//! kernel's 500, to see how much of N4's retransmits are TUN queue drops (the `TUN drops`
//! column). Without root it is skipped with a message. The
//! namespaces, and so every device in them, are deleted at the end, also on error or panic.
#![allow(
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a bench reads the real clock, sleeps between stop datagrams and prints its table"
)]

#[path = "tuntap_peers/echo.rs"]
mod echo;
#[path = "tuntap_peers/endpoint.rs"]
mod endpoint;
#[path = "tuntap_peers/env.rs"]
mod env;
#[path = "tuntap_peers/forward.rs"]
mod forward;
#[path = "tuntap_peers/iperf.rs"]
mod iperf;
#[path = "tuntap_peers/offload.rs"]
mod offload;
#[path = "tuntap_peers/packet.rs"]
mod packet;
#[path = "tuntap_peers/report.rs"]
mod report;
#[path = "tuntap_peers/udp.rs"]
mod udp;

use std::collections::BTreeMap;

use echo::Probe;
use endpoint::Impl;
use env::BenchNetns;
use report::{Runs, record};

/// Counts and rounds for one mode.
struct Sizes {
    echo_count: u64,
    echo_rounds: usize,
    forward_bytes: u64,
    forward_rounds: usize,
    /// Rounds of the UDP part: more than the TCP parts, because its sender's copy from user
    /// memory runs at one of two speeds from round to round on the bench machine (see
    /// `udp.rs`), and a median of three can land on either.
    udp_rounds: usize,
    /// Whether to cross-check with iperf3 (not in test mode: CI needs no external tool).
    iperf: bool,
    /// The parts to run (`--only=echo,forward,offload,udp`; all by default).
    only: Vec<String>,
}

impl Sizes {
    /// Whether the part `name` runs.
    fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == name)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only: Vec<String> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--only="))
        .flat_map(|list| list.split(','))
        .map(str::to_owned)
        .collect();
    let mut sizes = if args.iter().any(|a| a == "--test") {
        Sizes {
            echo_count: 300,
            echo_rounds: 1,
            forward_bytes: 2 << 20,
            forward_rounds: 1,
            udp_rounds: 1,
            iperf: false,
            only: Vec::new(),
        }
    } else if args.iter().any(|a| a == "--quick") {
        Sizes {
            echo_count: 50_000,
            echo_rounds: 3,
            forward_bytes: 128 << 20,
            forward_rounds: 2,
            udp_rounds: 3,
            iperf: true,
            only: Vec::new(),
        }
    } else {
        Sizes {
            echo_count: 200_000,
            echo_rounds: 5,
            forward_bytes: 512 << 20,
            forward_rounds: 3,
            udp_rounds: 5,
            iperf: true,
            only: Vec::new(),
        }
    };
    sizes.only = only;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-extra");
    let _ = std::fs::create_dir_all(&dir);
    let table = if env::can_use_tun() {
        match run(&sizes) {
            Ok(table) => table,
            Err(e) => {
                eprintln!("tuntap_peers: FAILED: {e}");
                let _ = std::fs::write(
                    dir.join("tuntap.md"),
                    format!("## tuntap peers (N1..N6)\n\nFAILED: {e}\n"),
                );
                std::process::exit(1);
            }
        }
    } else {
        let line = "SKIPPED (needs root and /dev/net/tun): tuntap peer benches (N1..N5: echo, TCP forward, offload forward)";
        eprintln!("{line}");
        format!("## tuntap peers (N1..N6)\n\n{line}\n")
    };
    println!("{table}");
    let _ = std::fs::write(dir.join("tuntap.md"), &table);
}

/// Both parts; the namespaces are deleted when this returns or unwinds.
fn run(sizes: &Sizes) -> Result<String, String> {
    for name in env::delete_stale_namespaces() {
        eprintln!("tuntap_peers: deleted namespace {name} left by a killed earlier run");
    }
    let cpus = env::cpus();
    if cpus.0 == cpus.1 {
        eprintln!(
            "tuntap_peers: one CPU only: program and load share CPU {}",
            cpus.0
        );
    }

    let mut echo_runs: BTreeMap<Probe, Runs<echo::EchoRun>> = BTreeMap::new();
    if sizes.runs("echo") {
        let netns = BenchNetns::create("echo")?;
        let mut run = 0u8;
        // One unrecorded pass first, so no implementation pays for a cold start alone.
        for imp in Impl::ECHO {
            echo::run_once(
                &netns,
                imp,
                Probe::Udp,
                run,
                sizes.echo_count.div_ceil(4),
                cpus,
            )?;
            run += 1;
        }
        for round in 0..sizes.echo_rounds {
            for probe in Probe::ALL {
                for imp in interleaved(&Impl::ECHO, round) {
                    eprintln!(
                        "tuntap_peers: echo round {} {} {}",
                        round + 1,
                        probe.name(),
                        imp.name()
                    );
                    let result = echo::run_once(&netns, imp, probe, run, sizes.echo_count, cpus)?;
                    record(echo_runs.entry(probe).or_default(), imp, result);
                    run = run.wrapping_add(1);
                }
            }
        }
    }

    let mut forward_runs: Runs<forward::ForwardRun> = Runs::new();
    let mut iperf_gbps: Option<Vec<f64>> = None;
    if sizes.runs("forward") {
        let a = BenchNetns::create("fwd-a")?;
        let b = BenchNetns::create("fwd-b")?;
        let mut run = 0u8;
        for imp in Impl::ALL {
            forward::run_once(&a, &b, imp, run, sizes.forward_bytes.div_ceil(4), cpus)?;
            run += 1;
        }
        for round in 0..sizes.forward_rounds {
            for imp in interleaved(&Impl::ALL, round) {
                eprintln!("tuntap_peers: forward round {} {}", round + 1, imp.name());
                let result = forward::run_once(&a, &b, imp, run, sizes.forward_bytes, cpus)?;
                record(&mut forward_runs, imp, result);
                run += 1;
            }
        }
        iperf_gbps = if sizes.iperf && iperf::available() {
            eprintln!("tuntap_peers: iperf3 cross-check");
            (0..sizes.forward_rounds)
                .map(|i| iperf::run_once(&a, &b, i as u8, sizes.forward_bytes, cpus))
                .collect::<Result<Vec<f64>, String>>()
                .map(Some)?
        } else {
            None
        };
    }

    let mut offload_runs: Runs<forward::ForwardRun, offload::OffloadImpl> = Runs::new();
    if sizes.runs("offload") {
        let a = BenchNetns::create("off-a")?;
        let b = BenchNetns::create("off-b")?;
        let mut run = 0u8;
        for imp in offload::OffloadImpl::ALL {
            offload::run_once(&a, &b, imp, run, sizes.forward_bytes.div_ceil(4), cpus)?;
            run += 1;
        }
        for round in 0..sizes.forward_rounds {
            for imp in interleaved(&offload::OffloadImpl::ALL, round) {
                eprintln!("tuntap_peers: offload round {} {}", round + 1, imp.name());
                let result = offload::run_once(&a, &b, imp, run, sizes.forward_bytes, cpus)?;
                record(&mut offload_runs, imp, result);
                run += 1;
            }
        }
    }

    let mut udp_runs: Runs<udp::UdpRun, udp::UdpImpl> = Runs::new();
    if sizes.runs("udp") {
        let a = BenchNetns::create("udp-a")?;
        let b = BenchNetns::create("udp-b")?;
        let mut run = 0u8;
        for imp in udp::UdpImpl::ALL {
            udp::run_once(&a, &b, imp, run, sizes.forward_bytes.div_ceil(4), cpus)?;
            run += 1;
        }
        for round in 0..sizes.udp_rounds {
            for imp in interleaved(&udp::UdpImpl::ALL, round) {
                eprintln!("tuntap_peers: udp round {} {}", round + 1, imp.name());
                let result = udp::run_once(&a, &b, imp, run, sizes.forward_bytes, cpus)?;
                record(&mut udp_runs, imp, result);
                run += 1;
            }
        }
    }

    let mut table = String::new();
    for (probe, runs) in &echo_runs {
        table.push_str(&report::echo_table(*probe, runs, sizes.echo_count, cpus));
    }
    if sizes.runs("forward") {
        table.push_str(&report::forward_table(
            &forward_runs,
            sizes.forward_bytes,
            cpus,
        ));
        table.push_str(&match iperf_gbps {
            Some(g) => format!(
                "\nCross-check: iperf3 (`-n {} MiB`, pinned with `-A`) through the flywheel_sync \
                 forwarder: {:.2} Gb/s median over {} run(s); our generator above: flywheel_sync row.\n",
                sizes.forward_bytes >> 20,
                report::median(&g),
                g.len()
            ),
            None if !sizes.iperf => "\nCross-check skipped: no iperf3 run in test mode.\n".to_owned(),
            None => "\nCross-check skipped: iperf3 is not installed.\n".to_owned(),
        });
    }
    if sizes.runs("offload") {
        table.push_str(&report::offload_table(
            &offload_runs,
            sizes.forward_bytes,
            cpus,
        ));
    }
    if sizes.runs("udp") {
        table.push_str(&report::udp_table(&udp_runs, sizes.forward_bytes, cpus));
    }
    Ok(table)
}

/// Every implementation of `all` once, the starting one rotated by the round so none always
/// runs first.
fn interleaved<T: Copy>(all: &[T], round: usize) -> impl Iterator<Item = T> + '_ {
    let n = all.len();
    (0..n).map(move |i| all[(i + round) % n])
}
