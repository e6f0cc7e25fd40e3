//! Shared by the example tests: where the example binaries are, and whether the privileged ones
//! can run.
#![allow(dead_code, reason = "each test binary uses a subset")]

use std::path::PathBuf;

/// An example binary, which `cargo test` and nextest build next to the test binaries.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in <target>/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p examples --example {name}`",
        path.display()
    );
    path
}

/// Whether `test` can run: root and `/dev/net/tun`. Otherwise it says it skipped, or panics under
/// `CI=true`, where a skipped privileged test would hide a failure.
pub(crate) fn privileged(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tun = std::path::Path::new("/dev/net/tun").exists();
    if root && tun {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs root and /dev/net/tun in CI (root={root} tun={tun})");
    }
    eprintln!("SKIPPED (needs root): {test} (root={root} tun={tun})");
    false
}
