//! Whether the trainer's worker is stuck: it beats at every event of a run (state, step,
//! checkpoint); a worker busy with a run and silent for longer than the stall limit is wedged,
//! and the service's health says NOT_SERVING until it beats again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Heartbeat {
    start: Instant,
    busy: AtomicBool,
    /// Milliseconds after `start` of the last beat.
    last_ms: AtomicU64,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            start: Instant::now(),
            busy: AtomicBool::new(false),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Heartbeat {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    pub fn beat(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// The worker takes up (`true`) or ends (`false`) a run.
    pub fn busy(&self, busy: bool) {
        self.beat();
        self.busy.store(busy, Ordering::Relaxed);
    }

    /// How long a busy worker has been silent, when that is longer than `limit`.
    pub fn stalled(&self, limit: Duration) -> Option<Duration> {
        if !self.busy.load(Ordering::Relaxed) {
            return None;
        }
        let silent = self
            .now_ms()
            .saturating_sub(self.last_ms.load(Ordering::Relaxed));
        let silent = Duration::from_millis(silent);
        (silent > limit).then_some(silent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_busy_silent_worker_is_stalled() {
        let h = Heartbeat::default();
        let limit = Duration::from_millis(30);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.stalled(limit), None, "idle is not stalled");
        h.busy(true);
        assert_eq!(h.stalled(limit), None);
        std::thread::sleep(Duration::from_millis(50));
        assert!(h.stalled(limit).is_some());
        h.beat();
        assert_eq!(h.stalled(limit), None);
        h.busy(false);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(h.stalled(limit), None);
    }
}
