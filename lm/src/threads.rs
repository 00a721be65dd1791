//! Sharing the CPU between tensor jobs that run at once in one process.
//!
//! A study trains one run while the evaluator scores the last checkpoint, both in one process.
//! libtorch's OpenMP gives each calling thread its own team as wide as the machine, so two jobs on
//! 2 cores run 4 busy threads that wait on each other at every barrier. Measured on the 2-core
//! machine (SmolLM2 full step, 8 × 64 tokens): alone with 2 threads 8.4 s/step, two jobs at once
//! with 2 threads each 49.5 s/step each, with 1 thread each 14 s/step each.
//!
//! A job takes a [`Lease`] on the thread it runs on; every forward pass calls [`adjust`], which
//! sets that thread's libtorch width (OpenMP and MKL widths are per calling thread) to its share,
//! `total / active jobs`. Threads without a lease are left as they are.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

static TOTAL: AtomicUsize = AtomicUsize::new(0);
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's leases (nested jobs count once) and the width last set on it (0: none).
    static HELD: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// The threads the process may use in all (`--threads`), default the machine's cores.
pub fn set_total(n: usize) {
    TOTAL.store(n.max(1), Ordering::Relaxed);
}

/// A service's thread setting: `flag`, else `$TRIAD_THREADS`, else libtorch's default.
pub fn configure(flag: Option<usize>) -> Result<(), String> {
    if let Some(n) = requested(flag, std::env::var("TRIAD_THREADS").ok())? {
        crate::tch::set_num_threads(n as i32);
        set_total(n);
    }
    Ok(())
}

fn requested(flag: Option<usize>, env: Option<String>) -> Result<Option<usize>, String> {
    let n = match (flag, env) {
        (Some(n), _) => n,
        (None, Some(v)) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("TRIAD_THREADS: expected a positive whole number, got {v:?}"))?,
        _ => return Ok(None),
    };
    if n == 0 {
        return Err("--threads / TRIAD_THREADS must be positive, got 0".into());
    }
    Ok(Some(n))
}

pub fn total() -> usize {
    match TOTAL.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Jobs holding a lease now.
pub fn active() -> usize {
    ACTIVE.load(Ordering::Relaxed)
}

/// One job's claim on the CPU, for as long as it lives, on the thread that took it.
pub struct Lease {
    // Not Send: the width it adjusts belongs to the thread that took it.
    _thread: std::marker::PhantomData<*const ()>,
}

/// Count a job on this thread and give the thread its share now.
pub fn lease() -> Lease {
    let (n, w) = HELD.get();
    if n == 0 {
        ACTIVE.fetch_add(1, Ordering::Relaxed);
    }
    HELD.set((n + 1, w));
    adjust();
    Lease {
        _thread: std::marker::PhantomData,
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (n, w) = HELD.get();
        if n == 1 {
            ACTIVE.fetch_sub(1, Ordering::Relaxed);
            // The next job on this (pooled) thread starts from the full width.
            if w != 0 && w != total() {
                crate::tch::set_num_threads(total() as i32);
            }
            HELD.set((0, 0));
        } else {
            HELD.set((n.saturating_sub(1), w));
        }
    }
}

/// This thread's share: `total / active`, at least 1.
pub fn share() -> usize {
    (total() / active().max(1)).max(1)
}

/// Set the calling thread's libtorch width to its share if it holds a lease and the share
/// changed. Cheap enough to call before every forward pass.
pub fn adjust() {
    let (n, w) = HELD.get();
    if n == 0 {
        return;
    }
    let s = share();
    if s != w {
        crate::tch::set_num_threads(s as i32);
        HELD.set((n, s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment_and_bad_values_are_named() {
        assert_eq!(requested(Some(3), Some("8".into())), Ok(Some(3)));
        assert_eq!(requested(None, Some(" 8 ".into())), Ok(Some(8)));
        assert_eq!(requested(None, Some("".into())), Ok(None));
        assert_eq!(requested(None, None), Ok(None));
        assert!(requested(None, Some("2.5".into()))
            .unwrap_err()
            .contains("TRIAD_THREADS"));
        assert!(requested(Some(0), None).unwrap_err().contains("positive"));
    }

    // One test: the counters are process-wide.
    #[test]
    fn leases_split_the_threads_and_give_them_back() {
        set_total(4);
        let before = active();
        let a = lease();
        assert_eq!(active(), before + 1);
        let nested = lease();
        assert_eq!(
            active(),
            before + 1,
            "a nested job on the same thread counts once"
        );
        drop(nested);
        let other = std::thread::spawn(move || {
            let _b = lease();
            (active(), share(), crate::tch::get_num_threads())
        })
        .join()
        .expect("thread");
        assert_eq!(other.0, before + 2);
        assert_eq!(other.1, 4 / (before + 2));
        assert_eq!(
            other.2 as usize,
            4 / (before + 2),
            "the thread's libtorch width"
        );
        assert_eq!(active(), before + 1);
        adjust();
        assert_eq!(crate::tch::get_num_threads() as usize, 4 / (before + 1));
        drop(a);
        assert_eq!(active(), before);
        assert_eq!(
            crate::tch::get_num_threads(),
            4,
            "the width goes back to the total"
        );
    }

    /// Two jobs at once in one process, each as wide as the machine, then each with a lease:
    /// `cargo test --release -p triad-lm --lib threads -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing measurement"]
    fn two_jobs_at_once_with_and_without_leases() {
        use crate::tch::{Device, Kind, Tensor};
        fn job(leased: bool) -> f64 {
            let _l = leased.then(lease);
            let a = Tensor::randn([384, 576], (Kind::Float, Device::Cpu));
            let w = Tensor::randn([576, 1536], (Kind::Float, Device::Cpu));
            let t = std::time::Instant::now();
            for _ in 0..400 {
                adjust();
                // A layer's worth of work: matmul, then small elementwise ops with barriers.
                let h = a.matmul(&w).gelu("none");
                let _ = h
                    .softmax(-1, Kind::Float)
                    .sum(Kind::Float)
                    .double_value(&[]);
            }
            t.elapsed().as_secs_f64()
        }
        let alone = job(false);
        for leased in [false, true] {
            let t = std::time::Instant::now();
            let h: Vec<_> = (0..2)
                .map(|_| std::thread::spawn(move || job(leased)))
                .collect();
            h.into_iter().for_each(|h| drop(h.join()));
            let wall = t.elapsed().as_secs_f64();
            println!(
                "total {} threads; one job alone {alone:.2}s; two at once {} leases: {wall:.2}s \
                 ({:.2}x the time of running them one after the other)",
                total(),
                if leased { "with" } else { "without" },
                wall / (2.0 * alone)
            );
        }
    }
}
