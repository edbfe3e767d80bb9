//! Spreading work (reading articles, rendering and writing pages) over the cores, on
//! `std::thread::scope`. Each thread takes one fixed, contiguous share.
//!
//! Until issue #16 the threads took items one at a time from a shared counter, so that
//! they would finish together when some items (feeds, long articles) take longer. On
//! `crier build` of 10,000 articles fixed shares cost no more: 0.668/0.722/0.589 s CPU
//! against 0.703/0.725/0.665 s with the counter, in three interleaved runs (see
//! BENCHMARKS.md, "machinery"), well short of the 10 % gain that would keep it.

use std::ops::Range;

/// Runs `job` on `threads` contiguous shares of `0..count` at once, the calling
/// thread taking the first, and returns the shares' results in order. A panic in any
/// is passed on.
pub fn in_shares<R: Send>(
    count: usize,
    threads: usize,
    job: impl Fn(Range<usize>) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, count.max(1));
    let share = |t: usize| t * count / threads..(t + 1) * count / threads;
    let job = &job;
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map(|t| scope.spawn(move || job(share(t))))
            .collect();
        let mut results = Vec::with_capacity(threads);
        results.push(job(share(0)));
        results.extend(others.into_iter().map(|other| {
            other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }));
        results
    })
}

/// Runs `here` on the calling thread and `there` on another, at the same time, and
/// returns both results. A panic in either is passed on.
pub fn both<A, B>(here: impl FnOnce() -> A, there: impl FnOnce() -> B + Send) -> (A, B)
where
    B: Send,
{
    std::thread::scope(|scope| {
        let there = scope.spawn(there);
        let here = here();
        let there = there
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (here, there)
    })
}

/// The cores to spread work over: render, read, serve.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_runs_once_in_order_of_shares() {
        for (count, threads) in [(1000, 1), (1000, 2), (1001, 4), (3, 8), (0, 2)] {
            let shares = in_shares(count, threads, |share| share.collect::<Vec<_>>());
            assert!(shares.len() <= threads.max(1));
            let seen: Vec<usize> = shares.into_iter().flatten().collect();
            assert_eq!(seen, (0..count).collect::<Vec<_>>());
        }
    }

    #[test]
    fn both_runs_each_side_once_and_returns_both() {
        let here = std::thread::current().id();
        let (a, b) = both(
            || (std::thread::current().id(), 1),
            || (std::thread::current().id(), "two"),
        );
        assert_eq!(a, (here, 1));
        assert_eq!(b.1, "two");
        assert_ne!(b.0, here, "the second runs on another thread");
    }
}
