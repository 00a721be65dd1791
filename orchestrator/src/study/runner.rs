//! The schedule: runs spread over trainers (one run per trainer at a time), each checkpoint
//! evaluated while the next run trains, every state change in the ledger. Rerunning a study
//! skips finished runs and evaluations; an interrupted run resumes from its last checkpoint
//! (the trainer's own resume), and checkpoints left unevaluated are evaluated.

use super::ledger::{Ledger, RunState, BASE_RUN};
use super::plan::{Inputs, PlannedRun};
use super::services;
use super::spec::EvalSettings;
use super::StudyError;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use triad_proto::v1::{
    evaluate_event, run_event, EvaluateRequest, GetRunRequest, RunState as PbState,
    StartRunRequest, WatchRunRequest,
};

/// Where the services are and what they see.
pub struct Placement {
    pub trainers: Vec<String>,
    pub evaluator: String,
    /// The data root the services resolve paths in (absolute); the study folder is inside it.
    pub root: PathBuf,
    pub device: i32,
    /// TLS and token for remote services.
    pub client: triad_serve::ClientSecurity,
}

#[derive(Debug, Clone)]
struct EvalJob {
    run_id: String,
    method: String,
    epoch: u64,
    /// Relative to the data root.
    checkpoint: String,
    /// Tokens of each record the run trained on, sent with the request: the checkpoint is
    /// evaluated the moment it is written, before the run's run.json may say.
    max_length: u32,
    /// The run's `dp.delta` (0: the trainer's default), for the audit's (ε, δ).
    audit_delta: f64,
}

/// `[dp] delta` of a RUN.toml (0 when unset: the evaluator applies the trainer's default).
fn run_delta(run_toml: &str) -> f64 {
    toml::from_str::<toml::Table>(run_toml)
        .ok()
        .and_then(|t| t.get("dp")?.get("delta")?.as_float())
        .unwrap_or(0.0)
}

/// `max_length` of a RUN.toml (the trainer's default when unset).
fn run_max_length(run_toml: &str) -> u32 {
    toml::from_str::<toml::Table>(run_toml)
        .ok()
        .and_then(|t| t.get("max_length").and_then(|v| v.as_integer()))
        .unwrap_or(triad_trainer::config::DEFAULT_MAX_LENGTH as i64) as u32
}

/// A progress line, printed at most every few seconds per key.
struct Lines {
    last: Mutex<std::collections::HashMap<String, Instant>>,
    start: Instant,
}

impl Lines {
    fn say(&self, key: &str, force: bool, msg: impl FnOnce() -> String) {
        let mut last = self.last.lock().expect("lock");
        let due = last
            .get(key)
            .is_none_or(|t| t.elapsed().as_secs_f64() >= 5.0);
        if force || due {
            last.insert(key.to_string(), Instant::now());
            eprintln!("[{:>6.0}s] {}", self.start.elapsed().as_secs_f64(), msg());
        }
    }
}

fn eta(elapsed: f64, done: u64, total: u64) -> String {
    if done == 0 || done >= total {
        return String::new();
    }
    let s = elapsed / done as f64 * (total - done) as f64;
    format!(", ETA {}", human(s))
}

pub fn human(s: f64) -> String {
    if s >= 3600.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.0}s")
    }
}

/// Checkpoints a run's `run.json` already lists (a finished run, or one interrupted).
fn recorded_checkpoints(study_dir: &Path, root: &Path, run: &PlannedRun) -> Vec<(u64, String)> {
    let path = study_dir.join("runs").join(&run.id).join("run.json");
    let Ok(bytes) = std::fs::read(&path) else {
        return vec![];
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return vec![];
    };
    let out_rel = study_dir
        .join("runs")
        .join(&run.id)
        .strip_prefix(root)
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    v["epochs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let epoch = e["epoch"].as_u64()?;
            let name = Path::new(e["checkpoint"].as_str()?).file_name()?.to_owned();
            Some((
                epoch,
                out_rel
                    .join("checkpoints")
                    .join(name)
                    .to_string_lossy()
                    .into_owned(),
            ))
        })
        .collect()
}

/// Run every unfinished run and evaluation of `runs`.
pub async fn run(
    ledger: Arc<Mutex<Ledger>>,
    runs: Vec<PlannedRun>,
    inputs: Inputs,
    settings: EvalSettings,
    study_dir: PathBuf,
    place: Placement,
) -> Result<(), StudyError> {
    let lines = Arc::new(Lines {
        last: Mutex::default(),
        start: Instant::now(),
    });
    let (eval_tx, mut eval_rx) = mpsc::unbounded_channel::<EvalJob>();
    // The base row scores what the runs trained on: their (shortest) `max_length`.
    let base_max_length = runs
        .iter()
        .map(|r| run_max_length(&r.run_toml))
        .min()
        .unwrap_or(triad_trainer::config::DEFAULT_MAX_LENGTH as u32);
    let mut todo = VecDeque::new();
    let mut pending_evals = 0u64;
    let mut base_pending = false;
    {
        let l = ledger.lock().expect("lock");
        // The reference row first: the evaluator is idle while the first run trains, and the
        // base scores it computes are cached for every checkpoint after it.
        if !l.has_eval(BASE_RUN, 0)? {
            base_pending = true;
            let _ = eval_tx.send(EvalJob {
                run_id: BASE_RUN.into(),
                method: "base".into(),
                epoch: 0,
                checkpoint: inputs.model.clone(),
                max_length: base_max_length,
                audit_delta: 0.0,
            });
        }
        let states: std::collections::HashMap<String, RunState> =
            l.runs()?.into_iter().map(|r| (r.id, r.state)).collect();
        for r in &runs {
            for (epoch, ckpt) in recorded_checkpoints(&study_dir, &place.root, r) {
                if !l.has_eval(&r.id, epoch)? {
                    pending_evals += 1;
                    let _ = eval_tx.send(EvalJob {
                        run_id: r.id.clone(),
                        method: r.method.clone(),
                        epoch,
                        checkpoint: ckpt,
                        max_length: run_max_length(&r.run_toml),
                        audit_delta: run_delta(&r.run_toml),
                    });
                }
            }
            if states.get(&r.id) != Some(&RunState::Done) {
                todo.push_back(r.clone());
            }
        }
    }
    let total_runs = runs.len() as u64;
    let done_runs = total_runs - todo.len() as u64;
    eprintln!(
        "study: {total_runs} runs ({done_runs} already done, {} to train), {pending_evals} checkpoint evaluations left over{}; {} trainer(s), evaluator {}",
        todo.len(),
        if base_pending {
            " (+ the base model's reference evaluation)"
        } else {
            ""
        },
        place.trainers.len(),
        place.evaluator
    );
    let queue = Arc::new(Mutex::new(todo));
    let finished = Arc::new(std::sync::atomic::AtomicU64::new(done_runs));

    // The evaluator works through checkpoints while trainers train.
    let evaluator_addr = place.evaluator.clone();
    let (l2, lines2, inputs2) = (ledger.clone(), lines.clone(), inputs.clone());
    let device = place.device;
    let client_security = place.client.clone();
    let eval_task =
        tokio::spawn(async move {
            let mut client = services::evaluator(&evaluator_addr, &client_security).await?;
            let mut failures = vec![];
            while let Some(job) = eval_rx.recv().await {
                if l2.lock().expect("lock").has_eval(&job.run_id, job.epoch)? {
                    continue;
                }
                let lora = job.method.ends_with("lora");
                let req = EvaluateRequest {
                    base_model: inputs2.model.clone(),
                    checkpoint: if lora {
                        String::new()
                    } else {
                        job.checkpoint.clone()
                    },
                    adapter: if lora {
                        job.checkpoint.clone()
                    } else {
                        String::new()
                    },
                    train_file: inputs2.train.clone(),
                    test_file: inputs2.test.clone(),
                    canaries_file: inputs2.canaries.clone().unwrap_or_default(),
                    device,
                    batch_size: settings.batch_size,
                    exposure_exact_max: settings.exposure_exact_max,
                    exposure_samples: settings.exposure_samples,
                    max_length: job.max_length,
                    audit_file: inputs2.audit.clone().unwrap_or_default(),
                    audit_delta: job.audit_delta,
                };
                let what = if job.run_id == BASE_RUN {
                    "eval base model (reference)".to_string()
                } else {
                    format!("eval {} epoch {}", job.run_id, job.epoch)
                };
                lines2.say(&what, true, || format!("{what}: started"));
                let started = Instant::now();
                let result: Result<String, tonic::Status> = async {
                    let mut stream = client.evaluate(req).await?.into_inner();
                    while let Some(ev) = stream.message().await? {
                        match ev.event {
                            Some(evaluate_event::Event::Progress(p)) => {
                                let el = started.elapsed().as_secs_f64();
                                lines2.say(&what, false, || {
                                    format!(
                                        "{what}: {} {}/{}{}",
                                        p.stage,
                                        p.done,
                                        p.total,
                                        eta(el, p.done, p.total)
                                    )
                                })
                            }
                            Some(evaluate_event::Event::MetricsJson(m)) => return Ok(m),
                            None => {}
                        }
                    }
                    Err(tonic::Status::unknown(
                        "the evaluation stream ended without metrics",
                    ))
                }
                .await;
                match result {
                    Ok(m) => {
                        l2.lock().expect("lock").add_eval(
                            &job.run_id,
                            job.epoch,
                            &job.checkpoint,
                            &m,
                        )?;
                        let v: serde_json::Value = serde_json::from_str(&m).unwrap_or_default();
                        lines2.say(&what, true, || {
                            format!(
                            "{what}: privacy loss {:.3}, utility NLL {:.3}, MIA AUC {:.3} ({:.0}s)",
                            v["privacy_loss"].as_f64().unwrap_or(f64::NAN),
                            v["utility"]["nll"].as_f64().unwrap_or(f64::NAN),
                            v["membership_inference"]["loss"]["auc"].as_f64().unwrap_or(f64::NAN),
                            started.elapsed().as_secs_f64()
                        )
                        });
                    }
                    Err(s) => {
                        lines2.say(&what, true, || format!("{what}: FAILED: {}", s.message()));
                        failures.push(format!("{what}: {}", s.message()));
                    }
                }
            }
            Ok::<Vec<String>, StudyError>(failures)
        });

    let mut workers = vec![];
    for addr in place.trainers.clone() {
        let (queue, ledger, eval_tx, lines) = (
            queue.clone(),
            ledger.clone(),
            eval_tx.clone(),
            lines.clone(),
        );
        let (study_dir, root, finished) = (study_dir.clone(), place.root.clone(), finished.clone());
        let security = place.client.clone();
        workers.push(tokio::spawn(async move {
            let mut failures = vec![];
            if queue.lock().expect("lock").is_empty() {
                return Ok(failures);
            }
            let mut client = services::trainer(&addr, &security).await?;
            loop {
                let Some(run) = queue.lock().expect("lock").pop_front() else {
                    break;
                };
                let out = super::inputs::relative(&root, &study_dir.join("runs").join(&run.id))?;
                ledger.lock().expect("lock").set_state(
                    &run.id,
                    RunState::Running,
                    Some(&addr),
                    None,
                    None,
                )?;
                let what = format!("train {}", run.id);
                lines.say(&what, true, || format!("{what}: started on {addr}"));
                let started = Instant::now();
                let result: Result<(PbState, String, String), tonic::Status> = async {
                    let id = client
                        .start_run(StartRunRequest {
                            config_toml: run.run_toml.clone(),
                            output_dir: out.clone(),
                            device: place.device,
                        })
                        .await?
                        .into_inner()
                        .run_id;
                    let mut stream = client
                        .watch_run(WatchRunRequest { run_id: id.clone() })
                        .await?
                        .into_inner();
                    while let Some(ev) = stream.message().await? {
                        match ev.event {
                            Some(run_event::Event::Step(s)) => {
                                let el = started.elapsed().as_secs_f64();
                                lines.say(&what, false, || {
                                    format!(
                                        "{what}: step {}/{} loss {:.3}{}{}",
                                        s.step,
                                        s.total_steps,
                                        s.loss,
                                        if s.epsilon > 0.0 {
                                            format!(" ε {:.2}", s.epsilon)
                                        } else {
                                            String::new()
                                        },
                                        eta(el, s.step, s.total_steps)
                                    )
                                })
                            }
                            Some(run_event::Event::Checkpoint(c)) => {
                                let _ = eval_tx.send(EvalJob {
                                    run_id: run.id.clone(),
                                    method: run.method.clone(),
                                    epoch: c.epoch as u64,
                                    checkpoint: c.path.clone(),
                                    max_length: run_max_length(&run.run_toml),
                                    audit_delta: run_delta(&run.run_toml),
                                });
                            }
                            Some(run_event::Event::State(_)) | None => {}
                        }
                    }
                    let r = client
                        .get_run(GetRunRequest { run_id: id })
                        .await?
                        .into_inner();
                    Ok((
                        PbState::try_from(r.state).unwrap_or(PbState::Unspecified),
                        r.record_json,
                        r.error,
                    ))
                }
                .await;
                let l = ledger.lock().expect("lock");
                match result {
                    Ok((PbState::Succeeded, record, _)) => {
                        l.set_state(&run.id, RunState::Done, None, Some(&record), None)?;
                        let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        lines.say(&what, true, || {
                            format!(
                                "{what}: done in {} ({n}/{total_runs} runs)",
                                human(started.elapsed().as_secs_f64())
                            )
                        });
                    }
                    Ok((state, _, error)) => {
                        let msg = format!("{}: {error}", state.as_str_name());
                        l.set_state(&run.id, RunState::Failed, None, None, Some(&msg))?;
                        lines.say(&what, true, || format!("{what}: FAILED: {msg}"));
                        failures.push(format!("{what}: {msg}"));
                    }
                    Err(s) => {
                        l.set_state(&run.id, RunState::Failed, None, None, Some(s.message()))?;
                        lines.say(&what, true, || format!("{what}: FAILED: {}", s.message()));
                        failures.push(format!("{what}: {}", s.message()));
                    }
                }
            }
            Ok::<Vec<String>, StudyError>(failures)
        }));
    }
    drop(eval_tx);
    let mut failures = vec![];
    for w in workers {
        failures.extend(
            w.await
                .map_err(|e| StudyError::Invalid(format!("trainer worker: {e}")))??,
        );
    }
    failures.extend(
        eval_task
            .await
            .map_err(|e| StudyError::Invalid(format!("evaluator worker: {e}")))??,
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(StudyError::Invalid(format!(
            "{} step(s) failed (the report shows what finished; rerun to retry):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )))
    }
}
