//! One Python process running one filter (`host.py`), and the socket to it.
//!
//! A process per filter instance: a filter that segfaults or hangs ends alone, and N sessions
//! use N cores (no interpreter lock is shared). The process dies with Rheo (`PR_SET_PDEATHSIG`).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The host program, run with `python3 -c`.
const HOST: &str = include_str!("host.py");
/// Largest message the host sends.
const MAX_MESSAGE: usize = 1 << 20;

/// Why the process cannot go on.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerError {
    /// It did not answer in time (it was killed).
    Timeout(Duration),
    /// It ended (its exit status, e.g. killed by SIGSEGV).
    Ended(String),
    /// The socket failed.
    Io(String),
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Timeout(d) => write!(f, "no answer within {} ms: stopped", d.as_millis()),
            WorkerError::Ended(status) => write!(f, "the Python process ended ({status})"),
            WorkerError::Io(e) => write!(f, "talking to the Python process failed: {e}"),
        }
    }
}

/// A running host process.
pub struct Worker {
    child: Child,
    socket: OwnedFd,
    /// Reused for every message received.
    buffer: Vec<u8>,
}

impl Worker {
    /// Starts `python` with the host program and the socket on fd 3.
    pub fn spawn(python: &Path, name: &str) -> io::Result<Worker> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: socketpair fills two descriptors we then own.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let theirs_raw = theirs.as_raw_fd();
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(HOST)
            .arg(name)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(theirs_raw, 3) < 0 {
                    return Err(io::Error::last_os_error());
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn()?;
        drop(theirs);
        Ok(Worker {
            child,
            socket: ours,
            buffer: vec![0u8; MAX_MESSAGE],
        })
    }

    /// Sends `message`, with `fd` attached when given.
    pub fn send(&mut self, message: &Value, fd: Option<RawFd>) -> Result<(), WorkerError> {
        let bytes = message.to_string().into_bytes();
        let mut iov = libc::iovec {
            iov_base: bytes.as_ptr() as *mut libc::c_void,
            iov_len: bytes.len(),
        };
        // Room for one descriptor, aligned as cmsghdr needs.
        let mut control = [0u64; 4];
        // SAFETY: msghdr and its buffers live across the call; CMSG macros stay within `control`.
        let sent = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            if let Some(fd) = fd {
                let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
                msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
                msg.msg_controllen = space;
                let cmsg = libc::CMSG_FIRSTHDR(&msg);
                (*cmsg).cmsg_level = libc::SOL_SOCKET;
                (*cmsg).cmsg_type = libc::SCM_RIGHTS;
                (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
                std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut RawFd, fd);
            }
            libc::sendmsg(self.socket.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
        };
        if sent < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPIPE) | Some(libc::ECONNRESET) => self.ended(),
                _ => WorkerError::Io(e.to_string()),
            });
        }
        Ok(())
    }

    /// The next message, within `timeout`; the process is killed when it does not answer.
    pub fn receive(&mut self, timeout: Duration) -> Result<Value, WorkerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut poll = libc::pollfd {
                fd: self.socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let millis = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, millis) };
            if ready < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(WorkerError::Io(e.to_string()));
            }
            if ready == 0 {
                self.kill();
                return Err(WorkerError::Timeout(timeout));
            }
            // SAFETY: reads into a buffer of the given length.
            let n = unsafe {
                libc::recv(
                    self.socket.as_raw_fd(),
                    self.buffer.as_mut_ptr() as *mut libc::c_void,
                    self.buffer.len(),
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(WorkerError::Io(e.to_string()));
            }
            if n == 0 {
                return Err(self.ended());
            }
            return serde_json::from_slice(&self.buffer[..n as usize])
                .map_err(|e| WorkerError::Io(format!("bad message from the host: {e}")));
        }
    }

    /// How the process ended (it is reaped; a still-running one is killed first).
    fn ended(&mut self) -> WorkerError {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => Some(status),
            _ => {
                // The socket closed first; give the exit status a moment to arrive.
                std::thread::sleep(Duration::from_millis(20));
                self.child.try_wait().ok().flatten()
            }
        };
        let described = match status {
            Some(s) => match (s.code(), s.signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}{}", signal_name(signal)),
                _ => s.to_string(),
            },
            None => {
                self.kill();
                "its socket closed".into()
            }
        };
        WorkerError::Ended(described)
    }

    /// Kills and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process id (for tests and logs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => ", SIGSEGV",
        libc::SIGABRT => ", SIGABRT",
        libc::SIGKILL => ", SIGKILL",
        libc::SIGBUS => ", SIGBUS",
        libc::SIGFPE => ", SIGFPE",
        _ => "",
    }
}
