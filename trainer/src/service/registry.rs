//! The runs a trainer knows: each run's record, its event history for late watchers, its live
//! event channel and its cancel flag, with the order runs were started — all under one lock, so
//! a listing never sees a run the map lacks or the other way round.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;
use triad_proto::v1::{run_event, Run, RunEvent, RunState};

/// Step events kept per run for late watchers (states and checkpoints are all kept): memory per
/// run stays bounded however many steps it takes.
const MAX_STEP_EVENTS: usize = 1000;

struct Entry {
    run: Run,
    history: Vec<RunEvent>,
    events: broadcast::Sender<RunEvent>,
    cancel: Arc<AtomicBool>,
}

#[derive(Default)]
struct Runs {
    by_id: HashMap<String, Entry>,
    /// Ids in the order the runs were started (ListRuns' order).
    order: Vec<String>,
}

/// What a watcher starts from: the history so far, the live events after it, and whether the
/// run has already ended.
pub(super) struct Watch {
    pub(super) history: Vec<RunEvent>,
    pub(super) live: broadcast::Receiver<RunEvent>,
    pub(super) done: bool,
}

#[derive(Clone, Default)]
pub(super) struct Registry(Arc<Mutex<Runs>>);

/// Whether a run in state `s` has ended.
pub(super) fn terminal(s: i32) -> bool {
    [RunState::Succeeded, RunState::Failed, RunState::Cancelled]
        .iter()
        .any(|t| *t as i32 == s)
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Runs> {
        self.0.lock().expect("lock")
    }

    /// A new run, queued.
    pub(super) fn add(&self, run: Run) {
        let id = run.run_id.clone();
        let queued = RunEvent {
            run_id: id.clone(),
            event: Some(run_event::Event::State(RunState::Queued as i32)),
        };
        let (events, _) = broadcast::channel(1024);
        let mut runs = self.lock();
        runs.by_id.insert(
            id.clone(),
            Entry {
                run,
                history: vec![queued],
                events,
                cancel: Arc::new(AtomicBool::new(false)),
            },
        );
        runs.order.push(id);
    }

    pub(super) fn get(&self, id: &str) -> Option<Run> {
        self.lock().by_id.get(id).map(|e| e.run.clone())
    }

    /// Every run, in the order they were started.
    pub(super) fn list(&self) -> Vec<Run> {
        let runs = self.lock();
        runs.order
            .iter()
            .filter_map(|id| runs.by_id.get(id).map(|e| e.run.clone()))
            .collect()
    }

    /// The history and the live events, taken under one lock so none is missed or repeated.
    pub(super) fn watch(&self, id: &str) -> Option<Watch> {
        let runs = self.lock();
        runs.by_id.get(id).map(|e| Watch {
            history: e.history.clone(),
            live: e.events.subscribe(),
            done: terminal(e.run.state),
        })
    }

    /// The cancel flag of a run still queued (`None`: it was cancelled while it waited).
    pub(super) fn cancel_flag_if_queued(&self, id: &str) -> Option<Arc<AtomicBool>> {
        let runs = self.lock();
        match runs.by_id.get(id) {
            Some(e) if e.run.state == RunState::Queued as i32 => Some(e.cancel.clone()),
            _ => None,
        }
    }

    /// Ask a run to stop; whether it was still queued (then nothing will run it).
    pub(super) fn cancel(&self, id: &str) -> bool {
        let runs = self.lock();
        runs.by_id.get(id).is_some_and(|e| {
            e.cancel.store(true, Ordering::Relaxed);
            e.run.state == RunState::Queued as i32
        })
    }

    /// Change a run's record in place (its outcome, its error).
    pub(super) fn update(&self, id: &str, f: impl FnOnce(&mut Run)) {
        if let Some(e) = self.lock().by_id.get_mut(id) {
            f(&mut e.run);
        }
    }

    /// Record an event and send it to the watchers; `on_state(old, new)` sees a state change.
    pub(super) fn publish(&self, id: &str, ev: run_event::Event, on_state: impl FnOnce(i32, i32)) {
        let mut runs = self.lock();
        let Some(e) = runs.by_id.get_mut(id) else {
            return;
        };
        if let run_event::Event::State(s) = &ev {
            on_state(e.run.state, *s);
            e.run.state = *s;
        }
        let msg = RunEvent {
            run_id: id.to_string(),
            event: Some(ev),
        };
        e.history.push(msg.clone());
        keep_recent_steps(&mut e.history, MAX_STEP_EVENTS);
        let _ = e.events.send(msg);
    }
}

/// Drops the oldest step events beyond `max`, keeping every other event in order.
fn keep_recent_steps(history: &mut Vec<RunEvent>, max: usize) {
    let is_step = |e: &RunEvent| matches!(e.event, Some(run_event::Event::Step(_)));
    let steps = history.iter().filter(|e| is_step(e)).count();
    if steps > max {
        let mut drop = steps - max;
        history.retain(|e| {
            let gone = drop > 0 && is_step(e);
            drop -= gone as usize;
            !gone
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use triad_proto::v1::{CheckpointEvent, StepEvent};

    #[test]
    fn a_long_run_keeps_its_states_and_only_its_recent_steps() {
        let ev = |e: run_event::Event| RunEvent {
            run_id: "r".into(),
            event: Some(e),
        };
        let step = |n: u64| {
            ev(run_event::Event::Step(StepEvent {
                step: n,
                ..Default::default()
            }))
        };
        let mut h = vec![ev(run_event::Event::State(RunState::Running as i32))];
        for n in 1..=5000 {
            h.push(step(n));
            if n == 10 {
                h.push(ev(run_event::Event::Checkpoint(CheckpointEvent::default())));
            }
            keep_recent_steps(&mut h, 100);
        }
        assert_eq!(h.len(), 102);
        assert!(matches!(h[0].event, Some(run_event::Event::State(_))));
        assert!(matches!(h[1].event, Some(run_event::Event::Checkpoint(_))));
        let steps: Vec<u64> = h[2..]
            .iter()
            .map(|e| match &e.event {
                Some(run_event::Event::Step(s)) => s.step,
                _ => 0,
            })
            .collect();
        assert_eq!(steps, (4901..=5000).collect::<Vec<_>>());
    }
}
