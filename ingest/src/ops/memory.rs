//! Allocator tuning for the segment buffers.
//!
//! A segment (≈ 0.8 MB at 3 Mb/s and 2 s) is built in one buffer and freed once uploaded,
//! often on another runtime thread. glibc's malloc raises its mmap threshold to the size of
//! the first such block freed, so from then on every segment comes from a heap arena, and
//! freed segments stay resident there, fragmented across arenas: the peer benchmark measured
//! 1.4 MB of peak RSS per stream. A fixed threshold keeps every segment buffer in its own
//! mapping, returned to the OS when freed: 0.8 MB per stream (README, Benchmark).

/// Blocks at least this large are mapped on their own (glibc's default before it adapts).
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Fixes glibc's mmap threshold (and so turns off its adaptation); a no-op elsewhere.
pub fn keep_large_buffers_out_of_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before the runtime
    // does much allocating, and is thread-safe in glibc anyway.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}
