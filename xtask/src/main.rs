//! `cargo xtask`: the workspace's chores, in Rust.
//!
//! * `cargo xtask ci` — every check CI runs, in order, stopping at the first failure.
//! * `cargo xtask bench [FILTER] [--quick] [--rounds N]` — the criterion benches, and a report of
//!   medians and ratios in `target/bench-report.md`.
//! * `cargo xtask soak [--cases N] [--fault-seeds N] [--fuzz-seconds N]` — every proptest model
//!   test in release with N cases each, the informer's fault-schedule test with N seeds, then
//!   every fuzz target for N seconds.
//! * `cargo xtask fuzz [TARGET...] [--seconds N]` — builds the libFuzzer targets in `fuzz/` on
//!   the stable toolchain and runs each for N seconds, reporting executions and coverage.
//! * `cargo xtask demo [NAME...] [--render]` — records each example on a pseudo-terminal as an
//!   asciicast v2 file in `docs/demos/`; `--render` turns the casts into animated SVGs.
//! * `cargo xtask api-facts KUBERNETES_DIR [--check]` — fake-apiserver's schema facts (OpenAPI
//!   definitions, protobuf field numbers) from a Kubernetes source tree.

mod api_facts;
mod bench;
mod ci;
mod cmd;
mod demo;
mod fuzz;
mod soak;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(&args[1..]),
        Some("api-facts") => api_facts::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage:
  cargo xtask ci                                 run every CI check (fmt, clippy, tests, privileged tests, docs, benches in test mode)
  cargo xtask bench [FILTER] [--quick] [--rounds N]   run the criterion benches; writes target/bench-report.md
  cargo xtask soak [--cases N] [--fault-seeds N] [--fuzz-seconds N]
                                                 every proptest model test in release, N cases each (default 100000),
                                                 the informer's fault-schedule test with N seeds (default 1000),
                                                 then every fuzz target for N seconds (default 720: an hour in all)
  cargo xtask fuzz [TARGET...] [--seconds N]     build the fuzz targets (libFuzzer, stable) and run each N seconds (default 60)
  cargo xtask demo [NAME...]                     record the examples as asciicasts in docs/demos/ (tunctl needs root)
  cargo xtask api-facts KUBERNETES_DIR [--check] derive fake-apiserver's schema facts from a Kubernetes source tree
  cargo xtask demo [NAME...] --render            render the casts as animated SVGs (installs svg-term-cli with npm)";

/// The workspace root (the parent of this crate's folder).
fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}
