//! Memory-mapped files that shrink while they are read.
//!
//! When another process truncates a file (logrotate's `copytruncate`, `> app.log`) while it is
//! mapped, the pages past the new end disappear from every mapping and reading them raises
//! SIGBUS, which by default kills the process. faultline maps files for speed, so it guards
//! every mapping:
//!
//! - each mapping registers its address range in a fixed table ([`Guard`]);
//! - a SIGBUS handler, installed once by [`install`] (the binary calls it through
//!   `faultline::setup_process`; a library that never does reads files as streams), checks whether the faulting address is inside a
//!   registered range; if so it maps an anonymous zero page over the faulting page
//!   (`MAP_FIXED`), marks the range as faulted and returns, so the read goes on and sees
//!   zeros instead of crashing;
//! - after the scan, a faulted range turns into an input error ("truncated while read"): the
//!   run finishes, names the file and exits non-zero.
//!
//! A SIGBUS at any other address restores the previous disposition and returns; the fault
//! repeats and ends the process as it would have without faultline's handler. When the table
//! is full (more than 256 files mapped at once), a file is read as a stream instead.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

const SLOTS: usize = 256;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
static PAGE: AtomicUsize = AtomicUsize::new(4096);
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The disposition of SIGBUS before faultline's handler, restored for foreign faults.
static mut PREVIOUS: Option<libc::sigaction> = None;

extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in &TABLE {
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Acquire);
        if start != 0 && addr >= start && addr < start + len {
            let at = addr & !(page - 1);
            // SAFETY: the page is inside a read-only mapping this process owns and registered;
            // replacing it by zeros changes what the scan reads, never what it may touch.
            // mmap is a plain system call on Linux and safe to call here.
            let p = unsafe {
                libc::mmap(
                    at as *mut libc::c_void,
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED {
                slot.faulted.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not ours: put the previous disposition back; returning re-runs the faulting access,
    // which then gets the previous behaviour (by default, the end of the process).
    // SAFETY: PREVIOUS was written once, before the handler was installed.
    unsafe {
        let prev = std::ptr::addr_of!(PREVIOUS).read();
        match prev {
            Some(p) => {
                libc::sigaction(libc::SIGBUS, &p, std::ptr::null_mut());
            }
            None => {
                libc::signal(libc::SIGBUS, libc::SIG_DFL);
            }
        }
    }
}

/// Installs the SIGBUS handler (once); whether it is installed.
pub(crate) fn install() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: sysconf and sigaction are called with valid arguments; PREVIOUS is written
        // before the handler that reads it exists.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut prev: libc::sigaction = std::mem::zeroed();
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_sigbus as *const () as usize;
            act.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER;
            libc::sigemptyset(&mut act.sa_mask);
            if libc::sigaction(libc::SIGBUS, &act, &mut prev) == 0 {
                std::ptr::addr_of_mut!(PREVIOUS).write(Some(prev));
                INSTALLED.store(true, Ordering::Release);
            }
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// A registered mapping; dropping it unregisters the range.
#[derive(Debug)]
pub struct Guard {
    slot: usize,
}

impl Guard {
    /// Registers `[ptr, ptr + len)`. `None` when the handler is not installed or the table
    /// is full: the caller must not map then.
    pub fn register(ptr: *const u8, len: usize) -> Option<Guard> {
        if len == 0 || !INSTALLED.load(Ordering::Acquire) {
            return None;
        }
        for (i, slot) in TABLE.iter().enumerate() {
            // Claim a free slot by its length first, so the handler never sees a half-set one.
            if slot
                .len
                .compare_exchange(0, len, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                slot.faulted.store(false, Ordering::Release);
                slot.start.store(ptr as usize, Ordering::Release);
                return Some(Guard { slot: i });
            }
        }
        None
    }

    /// Whether a page of the range vanished (the file shrank) and was read as zeros.
    pub fn faulted(&self) -> bool {
        TABLE[self.slot].faulted.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let slot = &TABLE[self.slot];
        slot.start.store(0, Ordering::Release);
        slot.len.store(0, Ordering::Release);
    }
}
