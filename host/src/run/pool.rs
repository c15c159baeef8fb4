//! Policies loaded and evaluated on at most `--jobs` threads at once.
//!
//! Each worker takes the next item from a shared queue; results are put back in the order
//! of the items, so a run's output does not depend on the number of threads nor on which
//! policy finished first.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// `f` over `items` on at most `jobs` threads (at least one), in the order of `items`;
/// `None` for an item whose call panicked.
pub fn map<T: Send, R: Send>(
    items: Vec<T>,
    jobs: usize,
    f: impl Fn(usize, T) -> R + Sync,
) -> Vec<Option<R>> {
    let count = items.len();
    let queue = Mutex::new(items.into_iter().enumerate());
    let next = || queue.lock().map_or(None, |mut q| q.next());
    let mut done: Vec<(usize, Option<R>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..jobs.clamp(1, count.max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    while let Some((index, item)) = next() {
                        out.push((
                            index,
                            catch_unwind(AssertUnwindSafe(|| f(index, item))).ok(),
                        ));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    done.sort_by_key(|(index, _)| *index);
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for (index, result) in done {
        results[index] = result;
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_of_the_items_whatever_the_jobs() {
        let items: Vec<u64> = (0..50).collect();
        for jobs in [1, 2, 7, 64] {
            let out = map(items.clone(), jobs, |i, x| {
                // Later items finish first.
                std::thread::sleep(std::time::Duration::from_micros(50 - x));
                (i, x * 2)
            });
            let want: Vec<Option<(usize, u64)>> =
                (0..50).map(|x| Some((x as usize, x * 2))).collect();
            assert_eq!(out, want, "jobs {jobs}");
        }
    }

    #[test]
    fn a_panicking_item_is_none_and_the_others_still_run() {
        let out = map(vec![1, 0, 3], 2, |_, x: u32| {
            assert!(x != 0, "boom");
            x
        });
        assert_eq!(out, vec![Some(1), None, Some(3)]);
    }
}
