//! The real `rheo` binary as a child process (killed when dropped), its stderr read line by line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real binary, with stderr collected line by line.
pub struct RheoProcess {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl RheoProcess {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> RheoProcess {
        Self::spawn_with_fd_limit(args, env, None)
    }

    /// As `spawn`, with the soft and hard `RLIMIT_NOFILE` set to `fd_limit` (as `prlimit
    /// --nofile=N` would), so that the server cannot raise it.
    pub fn spawn_with_fd_limit(
        args: &[&str],
        env: &[(&str, &str)],
        fd_limit: Option<u64>,
    ) -> RheoProcess {
        // Defined for the package's integration tests (this file is also compiled into examples).
        let Some(binary) = option_env!("CARGO_BIN_EXE_rheo") else {
            panic!("RheoProcess runs in the rheo package's integration tests");
        };
        let mut cmd = Command::new(binary);
        cmd.args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(n) = fd_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("rheo starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        RheoProcess {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; returns it.
    pub fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + super::TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no '{needle}' in rheo's output:\n{}", self.seen.join("\n"));
    }

    /// The plain listener's address, from the "listening" log line.
    pub fn plain_addr(&mut self) -> SocketAddr {
        let line = self.wait_line("scheme=\"http/ws\"");
        let addr = line
            .split("addr=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        addr.parse().unwrap()
    }

    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + super::TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "rheo did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RheoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
