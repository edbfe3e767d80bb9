//! Spreading work (reading articles, rendering pages) over all cores. Work is handed
//! out one item at a time from a shared counter rather than in fixed shares, so that
//! the threads finish together even when some items (feeds, long articles) take much
//! longer than others.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `job(state, i)` for every `i` in `0..count`, on up to `threads` threads (the
/// calling one included), each with its own `state` from `init`. Stops handing out
/// work at the first error and returns it; otherwise returns every thread's state.
pub fn parallel<S, E>(
    count: usize,
    threads: usize,
    init: impl Fn() -> S + Sync,
    job: impl Fn(&mut S, usize) -> Result<(), E> + Sync,
) -> Result<Vec<S>, E>
where
    S: Send,
    E: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> Result<S, E> {
        let mut state = init();
        while !failed.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                break;
            }
            if let Err(e) = job(&mut state, i) {
                failed.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(state)
    };
    let threads = threads.clamp(1, count.max(1));
    if threads == 1 {
        return work().map(|state| vec![state]);
    }
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut states = Vec::with_capacity(threads);
        let mut first_error = None;
        for result in std::iter::once(work()).chain(helpers.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })) {
            match result {
                Ok(state) => states.push(state),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(states),
        }
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
    use std::sync::Mutex;

    #[test]
    fn every_item_runs_once() {
        for threads in [1, 2, 4] {
            let seen = Mutex::new(Vec::new());
            let states = parallel(
                1000,
                threads,
                || 0usize,
                |done: &mut usize, i| {
                    *done += 1;
                    seen.lock().unwrap().push(i);
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            assert_eq!(states.iter().sum::<usize>(), 1000);
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, (0..1000).collect::<Vec<_>>());
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

    #[test]
    fn an_error_stops_the_work() {
        let ran = AtomicUsize::new(0);
        let result = parallel(
            10_000,
            2,
            || (),
            |_, i| {
                ran.fetch_add(1, Ordering::Relaxed);
                if i == 10 { Err(i) } else { Ok(()) }
            },
        );
        assert_eq!(result.unwrap_err(), 10);
        assert!(ran.load(Ordering::Relaxed) < 10_000);
    }
}
