//! The bench's surroundings: root check, namespaces it creates and deletes, CPU pinning and the
//! per-thread CPU clock.

use std::process::Command;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::Pid;

/// Whether this process can create TUN devices and namespaces: uid 0 and `/dev/net/tun`.
pub(crate) fn can_use_tun() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    root && std::path::Path::new("/dev/net/tun").exists()
}

/// A network namespace made for the bench (`ip netns add`), deleted on drop, also when a
/// panic unwinds. Deleting it removes every device still inside.
pub(crate) struct BenchNetns {
    /// The open namespace.
    pub(crate) ns: tuntap::Netns,
    _delete: DeleteOnDrop,
}

/// `ip netns del NAME` when dropped.
struct DeleteOnDrop(String);

impl DeleteOnDrop {
    /// `ip netns del`; whether it succeeded. Dropping afterwards tries again, harmlessly.
    fn delete(&self) -> bool {
        Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let _ = self.delete();
    }
}

impl BenchNetns {
    /// Create `flywheel-<what>-<pid>`, with IPv6 off inside so only the bench's packets reach
    /// the devices.
    pub(crate) fn create(what: &str) -> Result<Self, String> {
        let name = format!("flywheel-{what}-{}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map_err(|e| format!("running `ip netns add {name}`: {e}"))?;
        if !status.success() {
            return Err(format!("`ip netns add {name}` failed: {status}"));
        }
        // From here on the namespace is deleted whatever happens next.
        let delete = DeleteOnDrop(name.clone());
        let ns = tuntap::Netns::open(&name).map_err(|e| format!("opening netns {name}: {e}"))?;
        ns.run(|| {
            for knob in ["all", "default"] {
                // Best effort: a kernel without IPv6 has no such file, which is just as good.
                let path = format!("/proc/sys/net/ipv6/conf/{knob}/disable_ipv6");
                let _ = std::fs::write(path, "1");
            }
        })
        .map_err(|e| format!("entering netns {name}: {e}"))?;
        Ok(BenchNetns {
            ns,
            _delete: delete,
        })
    }
}

/// Delete the namespaces an earlier run of this bench left behind when it was killed before it
/// could (`flywheel-<what>-<pid>` whose process is gone); returns their names.
pub(crate) fn delete_stale_namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut deleted = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("flywheel-") else {
            continue;
        };
        let ours = [
            "echo-", "fwd-a-", "fwd-b-", "off-a-", "off-b-", "udp-a-", "udp-b-",
        ]
        .iter()
        .any(|what| rest.starts_with(what));
        let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if let (true, Some(pid)) = (ours, pid) {
            let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists();
            if gone && DeleteOnDrop(name.clone()).delete() {
                deleted.push(name);
            }
        }
    }
    deleted
}

/// The CPU for the program under test and the CPU for the load generator: the first two CPUs
/// this process may run on, or the same one twice on a single-CPU machine.
pub(crate) fn cpus() -> (usize, usize) {
    let allowed: Vec<usize> = sched_getaffinity(Pid::from_raw(0))
        .map(|set| {
            (0..CpuSet::count())
                .filter(|&c| set.is_set(c).unwrap_or(false))
                .collect()
        })
        .unwrap_or_default();
    match allowed.as_slice() {
        [] => (0, 0),
        [only] => (*only, *only),
        [first, second, ..] => (*first, *second),
    }
}

/// Pin the calling thread to `cpu`. A refusal is reported, not fatal: the figures are then
/// taken unpinned.
pub(crate) fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    let pinned = set
        .set(cpu)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set));
    if let Err(e) = pinned {
        eprintln!("tuntap_peers: cannot pin a thread to CPU {cpu}: {e}");
    }
}

/// CPU time the calling thread has used, in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
pub(crate) fn thread_cpu_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// `RetransSegs` of the TCP counters of the calling thread's namespace
/// (`/proc/thread-self/net/snmp`), or `None` when the file cannot be read.
pub(crate) fn tcp_retransmits() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").ok()?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let names = tcp.next()?;
    let values = tcp.next()?;
    let at = names.split_whitespace().position(|n| n == "RetransSegs")?;
    values.split_whitespace().nth(at)?.parse().ok()
}
