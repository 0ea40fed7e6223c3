//! Logical cores: a small id per polling thread, like DPDK's `lcore_id`.
//!
//! A thread that polls queues registers itself and gets an id below
//! [`MAX_LCORES`]. Mempools keep one lock-free cache per id, touched only by
//! the thread holding that id, so allocation and free on the fast path are a
//! copy into a thread-private array. Threads that never register still work:
//! they go to the pool's shared ring directly (slower, still lock-free).

use std::cell::Cell;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::*};

/// Most threads that may hold an lcore id at once.
pub const MAX_LCORES: usize = 64;

const NO_LCORE: u32 = u32::MAX;

static IN_USE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static LCORE_ID: Cell<u32> = const { Cell::new(NO_LCORE) };
}

/// The calling thread's lcore id, if it registered.
#[inline(always)]
pub fn current() -> Option<usize> {
    let id = LCORE_ID.with(|c| c.get());
    (id != NO_LCORE).then_some(id as usize)
}

/// Proof that this thread holds an lcore id; releases it on drop. Not `Send`:
/// the id belongs to the thread that registered.
#[derive(Debug)]
pub struct LcoreGuard {
    id: usize,
    _not_send: PhantomData<*const ()>,
}

impl LcoreGuard {
    /// The id held.
    pub fn id(&self) -> usize {
        self.id
    }
}

/// Why registration failed.
#[derive(Debug, PartialEq, Eq)]
pub enum LcoreError {
    /// This thread already holds an id.
    AlreadyRegistered(usize),
    /// All ids are taken.
    Exhausted,
}

impl std::fmt::Display for LcoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LcoreError::AlreadyRegistered(id) => write!(f, "this thread is already lcore {id}"),
            LcoreError::Exhausted => write!(f, "all {MAX_LCORES} lcore ids are in use"),
        }
    }
}

impl std::error::Error for LcoreError {}

/// Registers the calling thread as a polling core (DPDK's lcore): it gets
/// an id below [`MAX_LCORES`], and with it a private cache in every
/// [`Mempool`](crate::Mempool).
///
/// Not required for correctness: an unregistered thread allocates and frees
/// through the pool's shared ring, which is lock-free but touches a shared
/// cache line per burst. Register each thread that calls `rx_burst`,
/// `tx_burst` or allocates in a loop; skip it for control threads. The id is
/// held until the returned guard is dropped (keep it for the thread's
/// life: `let _lcore = lcore::register()?;`). What the thread's caches hold
/// then stays in them, free but usable only by the next holder of the id;
/// call [`Mempool::flush_local_cache`](crate::Mempool::flush_local_cache)
/// first if other threads need those buffers.
pub fn register() -> Result<LcoreGuard, LcoreError> {
    if let Some(id) = current() {
        return Err(LcoreError::AlreadyRegistered(id));
    }
    let mut used = IN_USE.load(Relaxed);
    let id = loop {
        let free = !used;
        if free == 0 {
            return Err(LcoreError::Exhausted);
        }
        let id = free.trailing_zeros();
        // Acquire: a previous holder's cache writes become visible to us.
        match IN_USE.compare_exchange_weak(used, used | 1 << id, Acquire, Relaxed) {
            Ok(_) => break id,
            Err(now) => used = now,
        }
    };
    LCORE_ID.with(|c| c.set(id));
    Ok(LcoreGuard { id: id as usize, _not_send: PhantomData })
}

impl Drop for LcoreGuard {
    fn drop(&mut self) {
        LCORE_ID.with(|c| c.set(NO_LCORE));
        // Release: our cache writes happen before the next holder's reads.
        IN_USE.fetch_and(!(1u64 << self.id), Release);
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cpu {cpu} out of range")));
    }
    // SAFETY: `cpu` was bounds-checked against the set's size just above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the
    // size we pass.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: as in `pin_to_cpu`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the kernel writes at most the size given.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return vec![0];
    }
    // SAFETY: `i` stays within the set's bit count.
    (0..8 * std::mem::size_of::<libc::cpu_set_t>()).filter(|&i| unsafe { libc::CPU_ISSET(i, &set) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_gives_unique_ids_and_releases_them() {
        let g = register().unwrap();
        assert_eq!(current(), Some(g.id()));
        assert_eq!(register().unwrap_err(), LcoreError::AlreadyRegistered(g.id()));
        let other = std::thread::spawn(|| register().unwrap().id()).join().unwrap();
        assert_ne!(other, g.id());
        drop(g);
        assert_eq!(current(), None);
    }

    /// This thread's `Cpus_allowed_list` from /proc (e.g. `0-3,6`), parsed
    /// here rather than through `allowed_cpus`, so the two can disagree.
    fn proc_allowed_list() -> Vec<usize> {
        let status = std::fs::read_to_string("/proc/thread-self/status").expect("read /proc/thread-self/status");
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .expect("Cpus_allowed_list in /proc/thread-self/status")
            .trim();
        let mut cpus = Vec::new();
        for part in list.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            cpus.extend(a.parse::<usize>().unwrap()..=b.parse::<usize>().unwrap());
        }
        cpus
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads /proc and sets the CPU affinity")]
    fn allowed_cpus_matches_the_kernel_and_follows_pinning() {
        let all = allowed_cpus();
        assert_eq!(all, proc_allowed_list());
        // On a thread of its own, so the test threads keep their affinity.
        let last = *all.last().unwrap();
        let pinned = std::thread::spawn(move || {
            pin_to_cpu(last).unwrap();
            (allowed_cpus(), proc_allowed_list())
        })
        .join()
        .unwrap();
        assert_eq!(pinned, (vec![last], vec![last]));
    }
}
