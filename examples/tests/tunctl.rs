//! `tunctl show` in a network namespace this test creates, next to a link whose name is not
//! UTF-8: the other devices are still shown. Needs root (CI runs as root; elsewhere it is
//! skipped loudly).

mod common;

use common::{example_binary, privileged};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::Command;

/// A namespace made with `ip netns add`, deleted on drop.
struct TestNetns(String);

impl TestNetns {
    fn new() -> Self {
        let name = format!("flywheel-tunctl-{}", std::process::id());
        let status = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(status.is_ok_and(|s| s.success()), "ip netns add {name}");
        TestNetns(name)
    }

    /// `ip -n NS ARGS...`; panics on failure.
    fn ip(&self, args: &[&OsStr]) {
        let status = Command::new("ip")
            .arg("-n")
            .arg(&self.0)
            .args(args)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "ip -n {} {args:?}",
            self.0
        );
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn show_lists_the_devices_next_to_a_non_utf8_link() {
    if !privileged("tunctl show_lists_the_devices_next_to_a_non_utf8_link") {
        return;
    }
    let ns = TestNetns::new();
    // A TUN device named with bytes that are not UTF-8 (any link would do; TUN needs no module).
    let bad = OsStr::from_bytes(b"\xff\xfe");
    let word = OsStr::new;
    ns.ip(&[
        word("tuntap"),
        word("add"),
        word("dev"),
        bad,
        word("mode"),
        word("tun"),
    ]);
    let good = ["tuntap", "add", "dev", "flyshow", "mode", "tap"].map(OsStr::new);
    ns.ip(&good);

    let output = Command::new("timeout")
        .arg("30")
        .args(["ip", "netns", "exec", &ns.0])
        .arg(example_binary("tunctl"))
        .arg("show")
        .output()
        .expect("run tunctl in the namespace");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    assert_eq!(stdout, "flyshow: tap persist\n", "{stderr}");
}
