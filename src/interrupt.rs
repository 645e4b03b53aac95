//! Ctrl-C (SIGINT) and SIGTERM while reading a pipe or following one: the first one ends the
//! input, and what was read is reported; a second one ends the process as usual.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Catches the next SIGINT and SIGTERM (once each: the handler resets itself, so a second
/// Ctrl-C ends the process).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic; no
        // SA_RESTART, so a read blocked in this thread returns EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a SIGINT or SIGTERM came.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Whether stdin is a pipe or a socket (not a terminal, not a regular file).
pub fn stdin_is_pipe() -> bool {
    // SAFETY: fstat writes into the zeroed struct it is given.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 {
            return false;
        }
        matches!(st.st_mode & libc::S_IFMT, libc::S_IFIFO | libc::S_IFSOCK)
    }
}

/// Stdin read straight from its descriptor, that ends (as at the end of the input) when a
/// SIGINT or SIGTERM comes, even while the writer is still silent.
pub struct Stdin;

/// Waits up to `ms` milliseconds for stdin to have bytes (or its end): `poll`'s result.
fn poll_stdin(ms: libc::c_int) -> libc::c_int {
    let mut fds = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut fds, 1, ms) }
}

impl Stdin {
    /// Whether a read would return at once (bytes waiting, or the end).
    pub fn ready_now(&self) -> bool {
        poll_stdin(0) > 0
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if requested() {
                return Ok(0);
            }
            // A timeout, so the flag is looked at again.
            let ready = poll_stdin(200);
            if ready < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if ready == 0 {
                continue;
            }
            // SAFETY: reads at most `buf.len()` bytes into `buf`.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            return Ok(n as usize);
        }
    }
}
