//! The command lines of `controller` and `tunctl`: `--help` succeeds, bad input is a usage error
//! (exit status 2) and never a panic, and `controller --duration` always ends. (The
//! `fake-apiserver` binary's are checked in its own package, `crates/fake-apiserver/tests/cli.rs`.)
//!
//! Each binary runs under coreutils' `timeout`, so a hang fails the test (exit status 124)
//! instead of hanging it. None of these runs needs root: `tunctl` only gets as far as its
//! argument parsing.

mod common;

use common::example_binary;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

/// The binaries whose command lines are checked here.
const BINARIES: [&str; 2] = ["controller", "tunctl"];

/// The exit status of `timeout` when the command ran out of time.
const TIMED_OUT: i32 = 124;

/// Runs example `name` with `args`, killed after `seconds`.
fn run(name: &str, args: &[&OsStr], seconds: u32) -> Output {
    Command::new("timeout")
        .args(["--kill-after=5", &seconds.to_string()])
        .arg(example_binary(name))
        .args(args)
        .output()
        .expect("run coreutils' timeout")
}

/// Whether a run failed cleanly with a usage error: status 2, a message, no panic.
fn assert_usage_error(name: &str, args: &[&OsStr], output: &Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{name} {args:?}: a usage error exits with 2\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name} {args:?}: {stderr}");
    assert!(
        stderr.contains(expect),
        "{name} {args:?}: says `{expect}`\n{stderr}"
    );
}

#[test]
fn help_prints_the_usage_to_stdout_and_succeeds() {
    for name in BINARIES {
        for flag in ["--help", "-h"] {
            let output = run(name, &[OsStr::new(flag)], 30);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{name} {flag}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                stdout.starts_with(&format!("usage: {name}")),
                "{name} {flag}: the usage goes to stdout, got {stdout:?}"
            );
        }
    }
}

#[test]
fn a_non_utf8_argument_is_a_usage_error() {
    let bad = OsStr::from_bytes(b"\xff\xfe");
    for name in BINARIES {
        // Alone, and as the value of an option.
        let value_of = if name == "controller" {
            "--namespace"
        } else {
            "show"
        };
        for args in [vec![bad], vec![OsStr::new(value_of), bad]] {
            let output = run(name, &args, 30);
            assert_usage_error(name, &args, &output, "is not valid UTF-8");
        }
    }
}

#[test]
fn a_duration_that_is_not_a_positive_finite_number_is_a_usage_error() {
    for value in [
        "1e300",
        "1.8446744073709552e19",
        "-1",
        "0",
        "NaN",
        "inf",
        "-inf",
        "soon",
    ] {
        let args = [
            OsStr::new("--embedded"),
            "--duration".as_ref(),
            value.as_ref(),
        ];
        let output = run("controller", &args, 30);
        assert_usage_error("controller", &args, &output, "--duration takes a positive");
    }
}

#[test]
fn an_absurd_threadiness_is_a_usage_error() {
    for value in ["18446744073709551615", "100000", "257", "0", "-1", "two"] {
        let args = [
            OsStr::new("--embedded"),
            "--threadiness".as_ref(),
            value.as_ref(),
        ];
        let output = run("controller", &args, 30);
        assert_usage_error("controller", &args, &output, "--threadiness takes a number");
    }
}

#[test]
fn short_embedded_runs_all_end() {
    // A stop that arrives while the workload has a request in flight, or before anything has
    // started, must still end the run. Durations from "at once" to one workload step and a bit.
    let durations = [
        "1e-9", "0.001", "0.01", "0.05", "0.1", "0.2", "0.29", "0.303", "0.31", "0.35", "0.6",
        "0.65",
    ];
    std::thread::scope(|s| {
        let runs: Vec<_> = durations
            .iter()
            .map(|&duration| {
                s.spawn(move || {
                    let args = [
                        OsStr::new("--embedded"),
                        "--duration".as_ref(),
                        duration.as_ref(),
                    ];
                    (duration, run("controller", &args, 60))
                })
            })
            .collect();
        for run in runs {
            let (duration, output) = run.join().expect("the runner thread");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_ne!(
                output.status.code(),
                Some(TIMED_OUT),
                "--duration {duration} hung\n{stdout}\n{stderr}"
            );
            assert!(
                output.status.success(),
                "--duration {duration}: {}\n{stdout}\n{stderr}",
                output.status
            );
            assert!(
                stdout.contains("done: "),
                "--duration {duration} ends with its totals\n{stdout}"
            );
        }
    });
}
