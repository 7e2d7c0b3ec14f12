//! Allocator settings for a process that rebuilds a large exposition every cycle.
//!
//! glibc raises its mmap threshold whenever a large mmapped block is freed (up to 32 MiB), so
//! after the first cycle the next cycle's medium-sized buffers (decoded bodies, growing `Vec`s)
//! come from the heap and leave it fragmented. At 1.19 M series that kept about 20 MiB more
//! resident after six cycles (BENCHMARKS.md §5). A fixed threshold keeps buffers of 64 KiB and
//! more in their own mappings, which go back to the OS when freed. 64 KiB rather than 128 KiB:
//! a broker's queue rows at ~1,500 rows are ~110 KB and live for a cycle; from the heap they
//! left ~22 MiB more resident after three cycles (BENCHMARKS.md §1, third session).

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

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn glibc_accepts_the_fixed_mmap_threshold() {
        assert!(super::tune_allocator());
    }
}
