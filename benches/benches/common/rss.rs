//! This process's resident memory, from `/proc`.

/// Resident memory of this process now, in bytes (`statm`'s second field, in 4 KiB pages).
pub(crate) fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}
