//! File descriptors: the one resource whose exhaustion GLib does not survive (it aborts the
//! whole process when it cannot make a wakeup pipe). Rheo raises its soft limit to the hard one
//! at start, and refuses new media work, with a clear error, while fewer than `fd_reserve`
//! descriptors are left; sessions already running keep theirs.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::process_stats;
use crate::protocol::KurentoError;

/// Descriptors one loopback WebRTC session uses here (measured: about 11), for the capacity
/// the start-up log announces.
const FDS_PER_SESSION: u64 = 11;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns `(before, after)`.
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let before = limit.rlim_cur;
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok((before, limit.rlim_cur))
    }
}

/// The soft `RLIMIT_NOFILE` now in force.
pub fn fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed to it.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return u64::MAX;
    }
    limit.rlim_cur
}

/// How many loopback sessions `limit` descriptors hold, roughly, after `reserve` (for the log).
pub fn sessions_for(limit: u64, reserve: u64) -> u64 {
    limit.saturating_sub(reserve) / FDS_PER_SESSION
}

/// The headroom check, and the requests it refused (for `/metrics`).
pub struct Capacity {
    /// Descriptors kept free: new media work is refused when fewer are left.
    pub fd_reserve: u64,
    refused: AtomicU64,
}

impl Capacity {
    pub fn new(fd_reserve: u64) -> Capacity {
        Capacity {
            fd_reserve,
            refused: AtomicU64::new(0),
        }
    }

    /// `Ok` when at least `fd_reserve` descriptors are free, else the error the client gets.
    pub fn check(&self) -> Result<(), KurentoError> {
        let (used, limit) = (process_stats::open_fds(), fd_limit());
        if used.saturating_add(self.fd_reserve) < limit {
            return Ok(());
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        Err(KurentoError::not_enough_resources(format!(
            "server at capacity: {used} of {limit} file descriptors in use, and {} are kept \
             free (setting fd_reserve)",
            self.fd_reserve
        )))
    }

    pub fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_refuses_when_the_reserve_is_not_free() {
        assert!(Capacity::new(0).check().is_ok());
        let all = Capacity::new(fd_limit());
        let e = all.check().unwrap_err();
        assert_eq!(e.code, 40009);
        assert!(e.message.contains("server at capacity"), "{}", e.message);
        assert_eq!(all.refusals(), 1);
        assert_eq!(sessions_for(1024, 128), 81);
    }
}
