//! Machine measurements for the benchmark: memory bandwidth and peak resident memory.

use std::hint::black_box;
use std::time::Instant;

/// Memory bandwidth in bytes per second, read-only and copy (read plus write), measured
/// with `threads` threads over buffers far larger than the CPU caches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bandwidth {
    pub read_bytes_per_s: f64,
    pub copy_bytes_per_s: f64,
}

impl Bandwidth {
    /// The best rate observed, the fair stand-in for what token generation can stream.
    pub fn best(&self) -> f64 {
        self.read_bytes_per_s.max(self.copy_bytes_per_s)
    }
}

/// Per-thread buffer size: 64 MiB, well past any last-level cache here.
const BUF_BYTES: usize = 64 << 20;

pub(crate) fn memory_bandwidth(threads: usize) -> Bandwidth {
    let threads = threads.max(1);
    let read = best_of(3, || run_threads(threads, read_pass));
    let copy = best_of(3, || run_threads(threads, copy_pass));
    Bandwidth {
        read_bytes_per_s: read,
        copy_bytes_per_s: copy,
    }
}

fn best_of(n: usize, mut f: impl FnMut() -> f64) -> f64 {
    (0..n).map(|_| f()).fold(0.0, f64::max)
}

/// Runs one pass per thread at the same time; returns total bytes moved per second.
fn run_threads(threads: usize, pass: fn(&mut Buffers) -> usize) -> f64 {
    let mut buffers: Vec<Buffers> = (0..threads).map(|_| Buffers::new()).collect();
    // One untimed pass faults the pages in.
    for b in &mut buffers {
        pass(b);
    }
    let start = Instant::now();
    let moved: usize = std::thread::scope(|s| {
        let handles: Vec<_> = buffers
            .iter_mut()
            .map(|b| s.spawn(move || pass(b)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    moved as f64 / start.elapsed().as_secs_f64().max(1e-9)
}

struct Buffers {
    src: Vec<u64>,
    dst: Vec<u64>,
}

impl Buffers {
    fn new() -> Self {
        let src: Vec<u64> = (0..(BUF_BYTES / 8) as u64).collect();
        // Equal contents keep the read pass's comparison going to the very end.
        Self {
            dst: src.clone(),
            src,
        }
    }
}

fn read_pass(b: &mut Buffers) -> usize {
    // Comparing two equal buffers reads both to the end. libc's memcmp is vectorised even
    // when this crate is built without optimisation, unlike a summing loop written here.
    // SAFETY: both pointers cover BUF_BYTES of initialised memory owned by `b`.
    let same = unsafe { libc::memcmp(b.src.as_ptr().cast(), b.dst.as_ptr().cast(), BUF_BYTES) };
    black_box(same);
    2 * BUF_BYTES
}

fn copy_pass(b: &mut Buffers) -> usize {
    b.dst.copy_from_slice(&b.src);
    black_box(&b.dst);
    2 * BUF_BYTES
}

/// Peak resident memory (VmHWM) of a process, in bytes.
pub(crate) fn peak_rss(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets this process's peak resident memory to its current value, so a later
/// [`peak_rss`] covers only what came after. Returns whether the kernel allowed it.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_peak_rss() {
        let rss = peak_rss(None);
        assert!(rss.is_some_and(|r| r > 1 << 20), "{rss:?}");
    }

    #[test]
    fn bandwidth_is_plausible() {
        let copy = run_threads(1, copy_pass);
        let read = run_threads(1, read_pass);
        // Far above 100 GB/s would mean a pass skipped its work.
        assert!(copy > 1e8 && copy < 1e11, "{copy}");
        assert!(read > 1e8 && read < 1e11, "{read}");
    }
}
