//! The trainer's Prometheus series (served at `/metrics` on the health port by triad-serve):
//! runs by state, the queue, steps taken, the running run's throughput and ε spent.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;
use triad_proto::v1::{RunState, StepEvent};
use triad_serve::telemetry::Labels;

#[derive(Clone, Default)]
pub struct TrainerMetrics {
    runs: Family<Labels, Gauge>,
    queue: Gauge,
    steps: Counter,
    tokens_per_second: Gauge<f64, AtomicU64>,
    epsilon: Gauge<f64, AtomicU64>,
}

fn state_name(state: i32) -> String {
    RunState::try_from(state)
        .unwrap_or(RunState::Unspecified)
        .short_name()
}

impl TrainerMetrics {
    /// Add these series to `t` (they are shared, so updates show there).
    pub fn register(&self, t: &triad_serve::Telemetry) {
        t.register(
            "trainer_runs",
            "Runs this trainer holds, by state",
            self.runs.clone(),
        );
        t.register(
            "trainer_queue_length",
            "Runs waiting for the device",
            self.queue.clone(),
        );
        t.register(
            "trainer_steps",
            "Optimizer steps taken, all runs",
            self.steps.clone(),
        );
        t.register(
            "trainer_tokens_per_second",
            "Training throughput of the latest step",
            self.tokens_per_second.clone(),
        );
        t.register(
            "trainer_epsilon_spent",
            "ε spent so far by the latest DP run (0 for non-private runs)",
            self.epsilon.clone(),
        );
    }

    /// A run moved from `from` (None: it is new) to `to`.
    pub fn state(&self, from: Option<i32>, to: i32) {
        if from == Some(to) {
            return;
        }
        if let Some(f) = from {
            self.runs
                .get_or_create(&vec![("state", state_name(f))])
                .dec();
            if f == RunState::Queued as i32 {
                self.queue.dec();
            }
        }
        self.runs
            .get_or_create(&vec![("state", state_name(to))])
            .inc();
        if to == RunState::Queued as i32 {
            self.queue.inc();
        }
        if to == RunState::Running as i32 {
            self.epsilon.set(0.0);
        }
    }

    pub fn step(&self, s: &StepEvent) {
        self.steps.inc();
        self.tokens_per_second.set(s.tokens_per_second);
        self.epsilon.set(s.epsilon);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_move_between_series() {
        let t = triad_serve::Telemetry::default();
        let m = TrainerMetrics::default();
        m.register(&t);
        m.state(None, RunState::Queued as i32);
        m.state(None, RunState::Queued as i32);
        m.state(Some(RunState::Queued as i32), RunState::Running as i32);
        m.step(&StepEvent {
            step: 1,
            total_steps: 4,
            loss: Some(2.0),
            tokens_per_second: 100.0,
            epsilon: 0.5,
        });
        let text = t.encode();
        for want in [
            "triad_trainer_runs{state=\"queued\"} 1",
            "triad_trainer_runs{state=\"running\"} 1",
            "triad_trainer_queue_length 1",
            "triad_trainer_steps_total 1",
            "triad_trainer_epsilon_spent 0.5",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }
}
