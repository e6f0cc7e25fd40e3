//! Shared helpers of the privileged tests: the root check and a throw-away network namespace.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(unreachable_pub, reason = "a test helper module")]

pub mod packets;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tuntap::Netns;

/// True when the test may run: root and /dev/net/tun. Otherwise prints a loud SKIPPED line,
/// or panics when `CI=true` (CI runs as root and must not skip silently).
pub fn privileged(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    let tun = std::path::Path::new("/dev/net/tun").exists();
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if root && tun && ip {
        return true;
    }
    let why = format!("root={root} /dev/net/tun={tun} iproute2={ip}");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: needs root, /dev/net/tun and iproute2 in CI ({why})");
    }
    eprintln!("SKIPPED (needs root): {test} ({why})");
    false
}

/// A network namespace made with `ip netns add` for one test and deleted on drop, even when
/// the test panics.
pub struct TestNetns {
    pub name: String,
    pub netns: Netns,
}

impl TestNetns {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "flywheel-test-{}-{}-{:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            fastrand_u32()
        );
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(status.success(), "ip netns add {name} failed");
        let netns = match Netns::open(&name) {
            Ok(ns) => ns,
            Err(e) => {
                let _ = Command::new("ip").args(["netns", "del", &name]).status();
                panic!("open netns {name}: {e}");
            }
        };
        TestNetns { name, netns }
    }

    /// Run `f` inside the namespace, with loopback up.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.netns
            .run(|| {
                tuntap::Link::open("lo")
                    .and_then(|lo| lo.up())
                    .expect("lo up");
                f()
            })
            .expect("enter netns")
    }

    /// `ip -n NS ARGS...`, returning stdout; panics on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args)
            .output()
            .expect("ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn fastrand_u32() -> u32 {
    // Good enough to keep parallel runs apart: address of a stack value mixed with the time.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let x = 0u8;
    t ^ (std::ptr::addr_of!(x) as usize as u32)
}

/// Wait for `cond`, polling up to `tries` times with a short bounded pause between tries.
#[allow(
    clippy::disallowed_methods,
    reason = "a bounded poll for a kernel-side state change"
)]
pub fn eventually(tries: u32, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    cond()
}

/// The Internet checksum (RFC 1071) of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = if chunk.len() == 2 {
            u16::from_be_bytes([chunk[0], chunk[1]])
        } else {
            u16::from(chunk[0]) << 8
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet (UDP checksum 0, which IPv4 allows).
pub fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

/// `(src, sport, dst, dport, payload)` of an IPv4/UDP packet.
pub type Udp4 = ([u8; 4], u16, [u8; 4], u16, Vec<u8>);

/// Parse an IPv4/UDP packet, or `None`.
pub fn parse_udp4(p: &[u8]) -> Option<Udp4> {
    if p.len() < 28 || p[0] >> 4 != 4 || p[9] != 17 {
        return None;
    }
    let ihl = usize::from(p[0] & 0xf) * 4;
    let u = p.get(ihl..)?;
    let src = p[12..16].try_into().ok()?;
    let dst = p[16..20].try_into().ok()?;
    let sport = u16::from_be_bytes([u[0], u[1]]);
    let dport = u16::from_be_bytes([u[2], u[3]]);
    Some((src, sport, dst, dport, u.get(8..)?.to_vec()))
}

/// Shut the device down if `done` is not signalled within `secs`: a watchdog that turns a hang
/// into a clean `Error::Shutdown` failure.
pub fn watchdog(secs: u64, stop: impl Fn() + Send + 'static) -> std::sync::mpsc::Sender<()> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            rx.recv_timeout(std::time::Duration::from_secs(secs))
        {
            stop();
        }
    });
    tx
}

/// Gives the calling thread a mount namespace of its own in which `/dev/net` is an empty
/// tmpfs, holding a `tun` device node with permissions `node_mode` if one is given (`None`:
/// no node, as in a container without it). The rest of the process keeps the real `/dev/net`;
/// the namespace ends with the thread. Call it in a thread made for it.
pub fn private_dev_net(node_mode: Option<u32>) {
    use nix::mount::{MsFlags, mount};
    use nix::sched::{CloneFlags, unshare};
    use nix::sys::stat::{Mode, SFlag, makedev, mknod};

    unshare(CloneFlags::CLONE_NEWNS).expect("a mount namespace for this thread");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make the mounts private");
    mount(
        Some("tmpfs"),
        "/dev/net",
        Some("tmpfs"),
        MsFlags::empty(),
        None::<&str>,
    )
    .expect("an empty /dev/net");
    if let Some(mode) = node_mode {
        // The tun driver's misc device is char 10:200.
        mknod(
            "/dev/net/tun",
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(mode),
            makedev(10, 200),
        )
        .expect("make the device node");
        // mknod applies the umask; set the mode exactly.
        std::fs::set_permissions(
            "/dev/net/tun",
            std::os::unix::fs::PermissionsExt::from_mode(mode),
        )
        .expect("chmod the device node");
    }
}

/// Opens the device `builder` describes, gives it `addr`/24 and brings it up.
pub fn open_up(builder: tuntap::DeviceBuilder, addr: [u8; 4]) -> std::sync::Arc<tuntap::Device> {
    let dev = builder.open().expect("open the device");
    let link = dev.link().expect("its link");
    link.add_address(std::net::Ipv4Addr::from(addr).into(), 24)
        .expect("add the address");
    link.up().expect("bring it up");
    std::sync::Arc::new(dev)
}

/// Shuts `dev` down after `secs` seconds unless the returned sender is used first: a bound on
/// the blocking reads of a test that waits for a packet.
pub fn shutdown_after(
    secs: u64,
    dev: &std::sync::Arc<tuntap::Device>,
) -> std::sync::mpsc::Sender<()> {
    let dev = std::sync::Arc::clone(dev);
    watchdog(secs, move || dev.shutdown())
}
