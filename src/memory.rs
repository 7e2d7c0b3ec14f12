//! Allocator settings for a process that rebuilds a large exposition every cycle.
//!
//! glibc raises its mmap threshold whenever a large mmapped block is freed (up to 32 MiB), so
//! after the first cycle the next cycle's medium-sized buffers (decoded bodies, growing `Vec`s)
//! come from the heap and leave it fragmented. At 1.19 M series that kept about 20 MiB more
//! resident after six cycles (BENCHMARKS.md §5). A fixed threshold keeps buffers of 64 KiB and
//! more in their own mappings, which go back to the OS when freed. 64 KiB rather than 128 KiB:
//! a broker's queue rows at ~1,500 rows are ~110 KB and live for a cycle; from the heap they
//! left ~22 MiB more resident after three cycles (BENCHMARKS.md §1, third session).
//!
//! Small blocks come from mimalloc instead ([`SplitAlloc`]). A cycle allocates and frees tens
//! of thousands of them, and with the work spread over the runtime's threads a block is often
//! freed on another thread than the one that allocated it. glibc then locks the owning arena and
//! wakes its waiters through futexes; mimalloc frees across threads without a lock. Larger blocks
//! stay with glibc, which returns the mmapped ones to the OS on free: mimalloc for everything
//! below 64 KiB kept 10–20 MiB more resident at 1.19 M series, below 1 KiB about 5 MiB
//! (`scale rss` A/B runs, BENCHMARKS.md §5, fifth session).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Free memory at the top of a heap that is kept rather than handed back. Fixing the mmap
/// threshold also fixes this one at glibc's 128 KiB, and every cycle then gave back and faulted
/// in again the same few MiB of each worker thread's heap.
const TRIM_THRESHOLD: i32 = 8 << 20;

/// Applies the settings; call once at start, before the runtime allocates. Returns whether the
/// allocator accepted them (always false off glibc, where nothing needs doing).
pub fn tune_allocator() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is safe to call at any time.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024) == 1 && libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Blocks smaller than this come from mimalloc, the others from glibc.
pub const SMALL_BLOCK_LIMIT: usize = 1024;

/// The process's allocator: small blocks from mimalloc, the others from the system allocator.
///
/// Sound because Rust hands `dealloc` and `realloc` the layout the block was allocated (or last
/// reallocated) with, so the size alone says which allocator owns a block.
pub struct SplitAlloc;

/// The limit in force, fixed at the first allocation, while only the main thread runs:
/// `ROCKETMQ_EXPORTER_MIMALLOC_BELOW=<bytes>` moves it (0: glibc for everything), for A/B runs.
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

fn limit() -> usize {
    let l = LIMIT.load(Ordering::Relaxed);
    if l != usize::MAX {
        return l;
    }
    // SAFETY: getenv reads the environment without allocating; nothing writes it this early.
    let v = unsafe { libc::getenv(c"ROCKETMQ_EXPORTER_MIMALLOC_BELOW".as_ptr()) };
    let l = if v.is_null() {
        SMALL_BLOCK_LIMIT
    } else {
        // SAFETY: getenv returned a NUL-terminated string.
        let s = unsafe { std::ffi::CStr::from_ptr(v) };
        s.to_str().ok().and_then(|s| s.trim().parse().ok()).unwrap_or(SMALL_BLOCK_LIMIT)
    };
    LIMIT.store(l, Ordering::Relaxed);
    l
}

fn is_large(size: usize) -> bool {
    size >= limit()
}

// SAFETY: each block is allocated, resized and freed by one allocator, chosen by its size, which
// the caller passes back unchanged (GlobalAlloc's contract); a resize across the boundary moves
// the block to the other allocator.
unsafe impl GlobalAlloc for SplitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc(layout)
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc_zeroed(layout)
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size()) {
            System.dealloc(ptr, layout)
        } else {
            mimalloc::MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            (false, false) => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
            (true, true) => System.realloc(ptr, layout, new_size),
            _ => {
                // SAFETY: the caller guarantees new_size, rounded up to the alignment, fits isize.
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks that grow and shrink across the boundary keep their bytes and are freed by the
    /// allocator that owns them at their current size (a mismatch aborts in either allocator).
    #[test]
    fn blocks_move_between_the_allocators_with_their_contents() {
        let a = SplitAlloc;
        for align in [1usize, 8, 64, 4096] {
            let small = Layout::from_size_align(SMALL_BLOCK_LIMIT - 24, align).unwrap();
            unsafe {
                let p = a.alloc(small);
                assert!(!p.is_null() && p as usize % align == 0);
                for i in 0..1000 {
                    *p.add(i) = (i % 251) as u8;
                }
                let big = a.realloc(p, small, 3 * SMALL_BLOCK_LIMIT);
                assert!(!big.is_null() && big as usize % align == 0);
                assert!((0..1000).all(|i| *big.add(i) == (i % 251) as u8));
                *big.add(3 * SMALL_BLOCK_LIMIT - 1) = 7;
                let bigger = a.realloc(big, Layout::from_size_align(3 * SMALL_BLOCK_LIMIT, align).unwrap(), 5 * SMALL_BLOCK_LIMIT);
                assert!((0..1000).all(|i| *bigger.add(i) == (i % 251) as u8) && *bigger.add(3 * SMALL_BLOCK_LIMIT - 1) == 7);
                let back = a.realloc(bigger, Layout::from_size_align(5 * SMALL_BLOCK_LIMIT, align).unwrap(), 500);
                assert!(!back.is_null() && back as usize % align == 0);
                assert!((0..500).all(|i| *back.add(i) == (i % 251) as u8));
                a.dealloc(back, Layout::from_size_align(500, align).unwrap());
                let z = a.alloc_zeroed(Layout::from_size_align(2 * SMALL_BLOCK_LIMIT, align).unwrap());
                assert!((0..2 * SMALL_BLOCK_LIMIT).all(|i| *z.add(i) == 0));
                a.dealloc(z, Layout::from_size_align(2 * SMALL_BLOCK_LIMIT, align).unwrap());
            }
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_fixed_mmap_threshold() {
        assert!(super::tune_allocator());
    }
}
