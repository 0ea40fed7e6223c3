//! The unit-test binary's global allocator: it counts the heap allocations
//! of each thread, so the drivers' tests can prove their per-packet paths
//! allocate nothing (igb's `receiving_and_sending_chains_allocates_nothing`,
//! virtio's `the_datapath_allocates_nothing`). Counting costs a thread-local
//! increment and changes nothing else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAlloc;

thread_local! {
    /// Allocations made by this thread.
    pub(crate) static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count_allocation() {
    // try_with: an allocation during thread teardown must not panic.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; counting touches only a thread-local integer (const
// initialised, no destructor, so it never allocates itself).
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static COUNTING: CountingAlloc = CountingAlloc;

/// Allocations this thread has made so far.
pub(crate) fn allocations() -> u64 {
    ALLOCS.with(Cell::get)
}
