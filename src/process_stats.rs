//! This process's resource use, read from /proc/self (ServerManager and /metrics).

/// Kernel clock ticks per second (USER_HZ; 100 on every Linux architecture Rheo runs on).
pub const TICKS_PER_SEC: u64 = 100;

/// CPU time (user + system) used so far, in clock ticks.
pub fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let parse = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    parse(11) + parse(12)
}

/// A `/proc/self/status` value in its unit (kB for memory), 0 when absent.
fn status_field(name: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory in KiB.
pub fn rss_kib() -> u64 {
    status_field("VmRSS")
}

pub fn threads() -> u64 {
    status_field("Threads")
}

pub fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(rss_kib() > 0);
        assert!(threads() >= 1);
        assert!(open_fds() >= 3);
        let spin = std::time::Instant::now();
        while cpu_ticks() == 0 && spin.elapsed() < std::time::Duration::from_secs(5) {}
        assert!(cpu_ticks() > 0);
    }
}
