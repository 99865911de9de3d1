//! Threads for the CPU kernels: rayon's global pool natively (the one burn's flex backend uses, so
//! `RAYON_NUM_THREADS` sets both), one thread in the browser.

use std::cell::RefCell;

/// Run `f(i, a_chunk, b_chunk)` over the consecutive pieces of `a` (`a_len` long) and `b` (`b_len` long; empty
/// pieces where `b_len` is 0), the same number of pieces of each.
pub(crate) fn for_each_chunk_pair<U: Send>(
    a: &mut [f32],
    b: &mut [U],
    a_len: usize,
    b_len: usize,
    f: impl Fn(usize, &mut [f32], &mut [U]) + Sync + Send,
) {
    let pieces = a.len().div_ceil(a_len.max(1));
    let mut b_pieces: Vec<&mut [U]> =
        if b_len == 0 { (0..pieces).map(|_| <&mut [U]>::default()).collect() } else { b.chunks_mut(b_len).collect() };
    assert_eq!(b_pieces.len(), pieces, "paired chunks");
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        a.par_chunks_mut(a_len.max(1)).zip(b_pieces.par_iter_mut()).enumerate().for_each(|(i, (x, y))| f(i, x, y));
    }
    #[cfg(target_arch = "wasm32")]
    a.chunks_mut(a_len.max(1)).zip(b_pieces.iter_mut()).enumerate().for_each(|(i, (x, y))| f(i, x, y));
}

/// Run `f` on every item.
pub(crate) fn for_each<T: Send>(items: &mut [T], f: impl Fn(&mut T) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        items.par_iter_mut().for_each(f);
    }
    #[cfg(target_arch = "wasm32")]
    items.iter_mut().for_each(f);
}

thread_local! {
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Two scratch buffers of this thread, kept between calls (the padded layouts of a chunk), so a step does not
/// allocate and page-fault them again for every chunk. Their contents are whatever the last user left.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Vec<f32>, &mut Vec<f32>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut pair) => {
            let (a, b) = &mut *pair;
            f(a, b)
        }
        // Re-entered on this thread (rayon may run another chunk while one waits): use fresh buffers.
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// A slice that parallel tasks write disjoint parts of (each task its own channel's maps, say), where those parts
/// are not contiguous runs `chunks_mut` could hand out.
pub(crate) struct Disjoint<'a> {
    ptr: *mut f32,
    len: usize,
    _slice: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks write only through `slice`, whose contract forbids overlaps; f32 is Send.
unsafe impl Send for Disjoint<'_> {}
unsafe impl Sync for Disjoint<'_> {}

impl<'a> Disjoint<'a> {
    pub fn new(data: &'a mut [f32]) -> Self {
        Disjoint { ptr: data.as_mut_ptr(), len: data.len(), _slice: std::marker::PhantomData }
    }

    /// `len` values from `start`.
    ///
    /// # Safety
    /// No two slices alive at the same time (on any thread) may overlap.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, start: usize, len: usize) -> &'a mut [f32] {
        assert!(start + len <= self.len, "slice out of bounds");
        // SAFETY: in bounds (asserted); exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

/// Run `job(i)` for every `i` in `0..count`, taken in order by `workers` threads side by side, each worker on its own
/// share of the cores ([`with_threads`]); a worker stops taking jobs when one returns false.
#[cfg(not(target_arch = "wasm32"))]
pub fn side_by_side(count: usize, workers: usize, job: impl Fn(usize) -> bool + Sync) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (next, workers) = (AtomicUsize::new(0), workers.clamp(1, count.max(1)));
    std::thread::scope(|scope| {
        for worker in 0..workers {
            let (next, job) = (&next, &job);
            scope.spawn(move || {
                with_threads(threads_of_worker(worker, workers), || {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count || !job(i) {
                            break;
                        }
                    }
                })
            });
        }
    });
}

/// The share of the cores (rayon's global pool, which `RAYON_NUM_THREADS` sizes) that worker `worker` of `workers`
/// running side by side gets: an even split, the first workers taking the remainder, at least one each.
#[cfg(not(target_arch = "wasm32"))]
fn threads_of_worker(worker: usize, workers: usize) -> usize {
    let (cores, workers) = (rayon::current_num_threads(), workers.max(1));
    (cores / workers + usize::from(worker < cores % workers)).max(1)
}

/// Run `f` with `threads` threads for its kernels: on a pool of its own, so that jobs trained side by side each keep
/// their share of the cores rather than interleaving their small tasks on the one global pool. A run's results do
/// not depend on its thread count (tests/reproduce.rs runs a page both ways). Where no pool can be made, `f` runs on
/// the global one.
#[cfg(not(target_arch = "wasm32"))]
fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn workers_split_the_cores_evenly_and_each_gets_at_least_one() {
        let split = |cores: usize, workers: usize| {
            with_threads(cores, || (0..workers).map(|w| threads_of_worker(w, workers)).collect::<Vec<_>>())
        };
        assert_eq!(split(16, 3), [6, 5, 5]);
        assert_eq!(split(2, 2), [1, 1]);
        assert_eq!(split(2, 3), [1, 1, 1], "more workers than cores: one thread each");
        assert_eq!(split(4, 1), [4]);
        assert_eq!(with_threads(3, rayon::current_num_threads), 3, "the pool is the one the closure runs on");
    }
}
