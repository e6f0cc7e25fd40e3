//! The `fake-apiserver` binary's command line: `--help` succeeds, and a non-UTF-8 argument is a
//! usage error (exit status 2), never a panic. Each run is under coreutils' `timeout`, so a hang
//! fails the test instead of hanging it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Output};

fn run(args: &[&OsStr]) -> Output {
    Command::new("timeout")
        .args(["--kill-after=5", "30"])
        .arg(env!("CARGO_BIN_EXE_fake-apiserver"))
        .args(args)
        .output()
        .expect("run coreutils' timeout")
}

#[test]
fn help_prints_the_usage_to_stdout_and_succeeds() {
    for flag in ["--help", "-h"] {
        let output = run(&[OsStr::new(flag)]);
        assert_eq!(output.status.code(), Some(0), "{flag}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("usage: fake-apiserver"), "{stdout:?}");
    }
}

#[test]
fn a_non_utf8_argument_is_a_usage_error() {
    let bad = OsStr::from_bytes(b"\xff\xfe");
    for args in [vec![bad], vec![OsStr::new("--seed"), bad]] {
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.contains("is not valid UTF-8"), "{stderr}");
    }
}
