//! A counting global allocator shared by the memory benches: the system allocator plus counters
//! of live bytes, allocations, and the peak of live bytes inside a [`counted`] window.
//!
//! The only `unsafe` in the benches. Each bench binary that measures memory installs it with
//! `#[global_allocator] static ALLOC: counting_alloc::Counting = counting_alloc::Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting as it goes.
pub(crate) struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static BLOCKS: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(live, Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is `System`'s; the counters only read sizes and never touch memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            BLOCKS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller passes a block this allocator returned, with its layout.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract for `ptr`, `layout` and `new_size`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            BLOCKS.fetch_add(1, Relaxed);
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

/// Bytes allocated and not yet freed, program-wide.
pub(crate) fn live_bytes() -> usize {
    LIVE.load(Relaxed)
}

/// Allocations (and reallocations) so far, program-wide.
#[allow(dead_code, reason = "used by some bench binaries only")]
pub(crate) fn blocks() -> usize {
    BLOCKS.load(Relaxed)
}

/// Runs `f`; returns its value, the allocations it made, and the peak of live bytes above what
/// was live when it started.
#[allow(dead_code, reason = "used by some bench binaries only")]
pub(crate) fn counted<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let start_live = live_bytes();
    let start_blocks = blocks();
    PEAK.store(start_live, Relaxed);
    let value = f();
    let peak = PEAK.load(Relaxed).saturating_sub(start_live);
    (value, blocks() - start_blocks, peak)
}

/// Starts a new peak window: the peak becomes what is live now.
#[allow(dead_code, reason = "used by some bench binaries only")]
pub(crate) fn reset_peak() {
    PEAK.store(live_bytes(), Relaxed);
}

/// The most bytes live at once since the last [`reset_peak`] or [`counted`] window began.
#[allow(dead_code, reason = "used by some bench binaries only")]
pub(crate) fn peak_live() -> usize {
    PEAK.load(Relaxed)
}
