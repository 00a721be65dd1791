//! The evaluator's Prometheus series (served at `/metrics` on the health port by
//! triad-serve): evaluations waiting and running, their outcomes, how long each stage took,
//! and tokens scored.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::time::Instant;
use triad_serve::telemetry::{seconds_buckets, Labels};

type Buckets = fn() -> Histogram;

#[derive(Clone)]
pub struct EvaluatorMetrics {
    pub(crate) queue: Gauge,
    running: Gauge,
    evaluations: Family<Labels, Counter>,
    stage_seconds: Family<Labels, Histogram, Buckets>,
    tokens: Counter,
}

impl Default for EvaluatorMetrics {
    fn default() -> Self {
        EvaluatorMetrics {
            queue: Gauge::default(),
            running: Gauge::default(),
            evaluations: Family::default(),
            stage_seconds: Family::new_with_constructor(seconds_buckets as Buckets),
            tokens: Counter::default(),
        }
    }
}

impl EvaluatorMetrics {
    /// Add these series to `t` (they are shared, so updates show there).
    pub fn register(&self, t: &triad_serve::Telemetry) {
        t.register(
            "evaluator_queue_length",
            "Evaluations and scoring calls waiting for the device",
            self.queue.clone(),
        );
        t.register(
            "evaluator_running",
            "Evaluations running now",
            self.running.clone(),
        );
        t.register(
            "evaluator_evaluations",
            "Evaluations finished, by outcome (ok, failed)",
            self.evaluations.clone(),
        );
        t.register(
            "evaluator_stage_duration_seconds",
            "Duration of each evaluation stage (base scoring, checkpoint scoring, exposure, audit, intervals)",
            self.stage_seconds.clone(),
        );
        t.register(
            "evaluator_tokens_scored",
            "Tokens of train and test records scored by finished evaluations",
            self.tokens.clone(),
        );
    }

    pub fn queued(&self) {
        self.queue.inc();
    }

    pub fn started(&self) {
        self.queue.dec();
        self.running.inc();
    }

    pub fn finished(&self, ok: bool, tokens: u64) {
        self.running.dec();
        let outcome = if ok { "ok" } else { "failed" };
        self.evaluations
            .get_or_create(&vec![("outcome", outcome.to_string())])
            .inc();
        self.tokens.inc_by(tokens);
    }

    /// A clock for one evaluation's stages, fed its progress calls.
    pub fn stages(&self) -> StageClock {
        StageClock {
            metrics: self.clone(),
            current: None,
        }
    }
}

/// Times the stages of one evaluation from its progress reports: a stage lasts from its
/// first report to the first report of the next one (or the end).
pub struct StageClock {
    metrics: EvaluatorMetrics,
    current: Option<(String, Instant)>,
}

impl StageClock {
    pub fn progress(&mut self, stage: &str) {
        if self.current.as_ref().is_some_and(|(s, _)| s == stage) {
            return;
        }
        self.end();
        self.current = Some((stage.to_string(), Instant::now()));
    }

    /// The last stage ends.
    pub fn end(&mut self) {
        if let Some((stage, t)) = self.current.take() {
            self.metrics
                .stage_seconds
                .get_or_create(&vec![("stage", stage)])
                .observe(t.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_outcomes_are_counted() {
        let t = triad_serve::Telemetry::default();
        let m = EvaluatorMetrics::default();
        m.register(&t);
        m.queued();
        m.started();
        let mut c = m.stages();
        c.progress("base train");
        c.progress("base train");
        c.progress("checkpoint train");
        c.end();
        m.finished(true, 1234);
        let text = t.encode();
        for want in [
            "triad_evaluator_stage_duration_seconds_count{stage=\"base train\"} 1",
            "triad_evaluator_stage_duration_seconds_count{stage=\"checkpoint train\"} 1",
            "triad_evaluator_evaluations_total{outcome=\"ok\"} 1",
            "triad_evaluator_tokens_scored_total 1234",
            "triad_evaluator_running 0",
            "triad_evaluator_queue_length 0",
        ] {
            assert!(text.contains(want), "{want} not in\n{text}");
        }
    }
}
