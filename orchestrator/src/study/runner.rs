//! The schedule: runs spread over trainers (one run per trainer at a time), each checkpoint
//! evaluated while the next run trains, every state change in the ledger. Rerunning a study
//! skips finished runs and evaluations; an interrupted run resumes from its last checkpoint
//! (the trainer's own resume), and checkpoints left unevaluated are evaluated.

use super::cards;
use super::ledger::{base_run, Ledger, RunState, BASE_RUN};
use super::plan::{Inputs, PlannedRun};
use super::services;
use super::spec::EvalSettings;
use super::StudyError;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;
use triad_proto::v1::evaluator_client::EvaluatorClient;
use triad_proto::v1::trainer_client::TrainerClient;
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
    /// Whose inputs (base model, splits) the evaluation uses: [`Inputs::name`].
    model: String,
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

/// `max_length` of a planned run's RUN.toml, read as the trainer reads it (its default when
/// unset; the plan validated the file).
fn run_max_length(run_toml: &str) -> u32 {
    triad_trainer::config::RunConfig::from_toml(run_toml, Path::new("RUN.toml"))
        .map_or(triad_trainer::config::DEFAULT_MAX_LENGTH, |c| c.max_length) as u32
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

/// A checkpoint to evaluate, with what its evaluation needs from the run.
struct Written {
    epoch: u64,
    /// Relative to the data root.
    path: String,
    max_length: u32,
    /// The run's δ; 0 where it has none.
    delta: f64,
}

/// Checkpoints a run's `run.json` already lists (a finished run, or one interrupted).
fn recorded_checkpoints(study_dir: &Path, root: &Path, run: &PlannedRun) -> Vec<Written> {
    let dir = study_dir.join("runs").join(&run.id);
    let Ok(text) = std::fs::read_to_string(dir.join("run.json")) else {
        return vec![];
    };
    // A record that does not read is no record: the run is trained (or resumed) again.
    let Ok(record) = triad_proto::json::from_file_text::<triad_proto::v1::RunRecord>(&text) else {
        return vec![];
    };
    let out_rel = dir
        .strip_prefix(root)
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let max_length = record.config.as_ref().map_or(0, |c| c.max_length) as u32;
    record
        .epochs
        .iter()
        .filter_map(|e| {
            let name = Path::new(e.checkpoint.as_deref()?).file_name()?;
            Some(Written {
                epoch: e.epoch,
                path: out_rel
                    .join("checkpoints")
                    .join(name)
                    .to_string_lossy()
                    .into_owned(),
                max_length,
                delta: record.delta.unwrap_or(0.0),
            })
        })
        .collect()
}

/// What the trainer workers and the evaluation task share.
#[derive(Clone)]
struct Ctx {
    ledger: Arc<Mutex<Ledger>>,
    lines: Arc<Lines>,
    /// One per model, in plan order.
    inputs: Arc<Vec<Inputs>>,
    settings: EvalSettings,
    study_dir: PathBuf,
    root: PathBuf,
    device: i32,
    client: triad_serve::ClientSecurity,
    total_runs: u64,
    finished: Arc<std::sync::atomic::AtomicU64>,
}

/// Run every unfinished run and evaluation of `runs`.
pub async fn run(
    ledger: Arc<Mutex<Ledger>>,
    runs: Vec<PlannedRun>,
    inputs: Vec<Inputs>,
    settings: EvalSettings,
    study_dir: PathBuf,
    place: Placement,
) -> Result<(), StudyError> {
    let (eval_tx, eval_rx) = mpsc::unbounded_channel::<EvalJob>();
    let left = {
        let l = ledger.lock().expect("lock");
        leftovers(&l, &runs, &inputs, &study_dir, &place.root, &eval_tx)?
    };
    let total_runs = runs.len() as u64;
    let done_runs = total_runs - left.todo.len() as u64;
    eprintln!(
        "study: {total_runs} runs ({done_runs} already done, {} to train), {} checkpoint evaluations left over{}; {} trainer(s), evaluator {}",
        left.todo.len(),
        left.pending_evals,
        match left.base_pending {
            0 => String::new(),
            1 => " (+ the base model's reference evaluation)".to_string(),
            n => format!(" (+ {n} base models' reference evaluations)"),
        },
        place.trainers.len(),
        place.evaluator
    );
    let ctx = Ctx {
        ledger,
        lines: Arc::new(Lines {
            last: Mutex::default(),
            start: Instant::now(),
        }),
        inputs: Arc::new(inputs),
        settings,
        study_dir,
        root: place.root.clone(),
        device: place.device,
        client: place.client.clone(),
        total_runs,
        finished: Arc::new(std::sync::atomic::AtomicU64::new(done_runs)),
    };
    let queue = Arc::new(Mutex::new(left.todo));
    // The evaluator works through checkpoints while trainers train.
    let eval_task = tokio::spawn(evaluator_worker(
        ctx.clone(),
        place.evaluator.clone(),
        eval_rx,
    ));
    let workers: Vec<_> = place
        .trainers
        .iter()
        .map(|addr| {
            tokio::spawn(trainer_worker(
                ctx.clone(),
                addr.clone(),
                queue.clone(),
                eval_tx.clone(),
            ))
        })
        .collect();
    drop(eval_tx);
    let mut failures = join_all(workers, eval_task).await?;
    // Cards an interrupted study left without their evaluation (each was also written as its
    // evaluation landed).
    let (_, card_failures) = {
        let l = ctx.ledger.lock().expect("lock");
        cards::sweep(&l, &ctx.study_dir, &ctx.root, &runs, &ctx.inputs)?
    };
    failures.extend(card_failures);
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

type Worker = tokio::task::JoinHandle<Result<Vec<String>, StudyError>>;

/// Await every trainer worker and then the evaluation task — all of them, even when one
/// fails (a worker returning early must not leave the others running unobserved) — and
/// return the failed steps, or the first worker error once all have ended.
async fn join_all(workers: Vec<Worker>, eval_task: Worker) -> Result<Vec<String>, StudyError> {
    let mut failures = vec![];
    let mut first_error = None;
    for (what, handle) in workers
        .into_iter()
        .map(|w| ("trainer worker", w))
        .chain(std::iter::once(("evaluator worker", eval_task)))
    {
        match handle.await {
            Ok(Ok(f)) => failures.extend(f),
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(StudyError::Invalid(format!("{what}: {e}")));
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(failures),
    }
}

/// What a (re)started study still has to do.
struct Leftovers {
    todo: VecDeque<PlannedRun>,
    pending_evals: u64,
    /// Base models whose reference row is still to evaluate.
    base_pending: usize,
}

/// Queue the evaluations left over from earlier attempts (the base row first: the evaluator
/// is idle while the first run trains, and the base scores it computes are cached for every
/// checkpoint after it) and list the runs not yet done.
fn leftovers(
    l: &Ledger,
    runs: &[PlannedRun],
    inputs: &[Inputs],
    study_dir: &Path,
    root: &Path,
    eval_tx: &mpsc::UnboundedSender<EvalJob>,
) -> Result<Leftovers, StudyError> {
    let mut left = Leftovers {
        todo: VecDeque::new(),
        pending_evals: 0,
        base_pending: 0,
    };
    for m in inputs {
        let id = base_run(&m.name);
        if l.has_eval(&id, 0)? {
            continue;
        }
        left.base_pending += 1;
        // The base row scores what the runs trained on: their (shortest) `max_length`.
        let base_max_length = runs
            .iter()
            .filter(|r| r.model == m.name)
            .map(|r| run_max_length(&r.run_toml))
            .min()
            .unwrap_or(triad_trainer::config::DEFAULT_MAX_LENGTH as u32);
        let _ = eval_tx.send(EvalJob {
            run_id: id,
            model: m.name.clone(),
            method: "base".into(),
            epoch: 0,
            checkpoint: m.model.clone(),
            max_length: base_max_length,
            audit_delta: 0.0,
        });
    }
    let states: std::collections::HashMap<String, RunState> =
        l.runs()?.into_iter().map(|r| (r.id, r.state)).collect();
    for r in runs {
        for w in recorded_checkpoints(study_dir, root, r) {
            if !l.has_eval(&r.id, w.epoch)? {
                left.pending_evals += 1;
                let _ = eval_tx.send(eval_job(r, w));
            }
        }
        if states.get(&r.id) != Some(&RunState::Done) {
            left.todo.push_back(r.clone());
        }
    }
    Ok(left)
}

fn eval_job(run: &PlannedRun, w: Written) -> EvalJob {
    EvalJob {
        run_id: run.id.clone(),
        model: run.model.clone(),
        method: run.method.clone(),
        epoch: w.epoch,
        checkpoint: w.path,
        max_length: w.max_length,
        audit_delta: w.delta,
    }
}

/// Evaluate every checkpoint sent on `rx` not yet in the ledger; the failed ones are listed.
async fn evaluator_worker(
    ctx: Ctx,
    addr: String,
    mut rx: mpsc::UnboundedReceiver<EvalJob>,
) -> Result<Vec<String>, StudyError> {
    let mut client = services::evaluator(&addr, &ctx.client).await?;
    let mut failures = vec![];
    while let Some(job) = rx.recv().await {
        if ctx
            .ledger
            .lock()
            .expect("lock")
            .has_eval(&job.run_id, job.epoch)?
        {
            continue;
        }
        let what = if job.run_id == BASE_RUN {
            "eval base model (reference)".to_string()
        } else if job.method == "base" {
            format!("eval base model {} (reference)", job.model)
        } else {
            format!("eval {} epoch {}", job.run_id, job.epoch)
        };
        ctx.lines.say(&what, true, || format!("{what}: started"));
        let started = Instant::now();
        match evaluate_one(&mut client, evaluate_request(&ctx, &job), &what, &ctx.lines).await {
            Ok((m, records)) => {
                let records =
                    records.map(|r| serde_json::to_string(&r).expect("messages always serialise"));
                ctx.ledger.lock().expect("lock").add_eval(
                    &job.run_id,
                    job.epoch,
                    &job.checkpoint,
                    &serde_json::to_string(&m).expect("messages always serialise"),
                    records.as_deref(),
                )?;
                if !job.run_id.starts_with(BASE_RUN) {
                    let metrics = serde_json::to_string(&m).expect("messages always serialise");
                    let who = (job.run_id.as_str(), job.model.as_str());
                    if let Err(e) = cards::write_one(
                        &ctx.study_dir,
                        &ctx.root,
                        who,
                        &ctx.inputs,
                        job.epoch,
                        &metrics,
                    ) {
                        ctx.lines.say(&what, true, || format!("{what}: {e}"));
                    }
                }
                // Both attacks: the LOSS attack's AUC carries the luck of the split (it is
                // not 0.5 on the base model), the reference-calibrated one removes it.
                let mia = m.membership_inference.as_ref();
                let auc = |a: Option<&triad_proto::v1::Attack>| a.map_or(f64::NAN, |a| a.auc);
                let loss = auc(mia.and_then(|x| x.loss.as_ref()));
                let reference = auc(mia.and_then(|x| x.reference.as_ref()));
                let nll = m.utility.as_ref().map_or(f64::NAN, |u| u.nll);
                ctx.lines.say(&what, true, || {
                    format!(
                        "{what}: privacy loss {:.3}, utility NLL {nll:.3}, MIA AUC loss {loss:.3} / reference {reference:.3} ({:.0}s)",
                        m.privacy_loss,
                        started.elapsed().as_secs_f64()
                    )
                });
            }
            Err(s) => {
                ctx.lines
                    .say(&what, true, || format!("{what}: FAILED: {}", s.message()));
                failures.push(format!("{what}: {}", s.message()));
            }
        }
    }
    Ok(failures)
}

/// The Evaluate request for one checkpoint (a LoRA run's checkpoint is an adapter).
fn evaluate_request(ctx: &Ctx, job: &EvalJob) -> EvaluateRequest {
    let lora = job.method.ends_with("lora");
    let (checkpoint, adapter) = if lora {
        (String::new(), job.checkpoint.clone())
    } else {
        (job.checkpoint.clone(), String::new())
    };
    let s = &ctx.settings;
    let inputs = ctx
        .inputs
        .iter()
        .find(|i| i.name == job.model)
        .expect("every job's model was planned");
    let mut req = EvaluateRequest {
        base_model: inputs.model.clone(),
        checkpoint,
        adapter,
        train_file: inputs.train.clone(),
        test_file: inputs.test.clone(),
        canaries_file: inputs.canaries.clone().unwrap_or_default(),
        device: ctx.device,
        audit_file: inputs.audit.clone().unwrap_or_default(),
        ..Default::default()
    };
    s.settings().fill(&mut req);
    req.max_length = job.max_length;
    req.audit_delta = job.audit_delta;
    req
}

/// One Evaluate call, its progress printed; the METRICS.json it ends with, and the per-record
/// statistics sent before it (an evaluator from before they existed sends none).
async fn evaluate_one(
    client: &mut EvaluatorClient<services::Channel>,
    req: EvaluateRequest,
    what: &str,
    lines: &Lines,
) -> Result<
    (
        triad_proto::v1::Metrics,
        Option<triad_proto::v1::RecordStats>,
    ),
    tonic::Status,
> {
    let started = Instant::now();
    let mut records = None;
    let mut stream = client.evaluate(req).await?.into_inner();
    while let Some(ev) = stream.message().await? {
        match ev.event {
            Some(evaluate_event::Event::Progress(p)) => {
                let el = started.elapsed().as_secs_f64();
                lines.say(what, false, || {
                    format!(
                        "{what}: {} {}/{}{}",
                        p.stage,
                        p.done,
                        p.total,
                        eta(el, p.done, p.total)
                    )
                })
            }
            Some(evaluate_event::Event::Records(r)) => records = Some(r),
            Some(evaluate_event::Event::Metrics(m)) => return Ok((m, records)),
            None => {}
        }
    }
    Err(tonic::Status::unknown(
        "the evaluation stream ended without metrics",
    ))
}

/// Train runs from `queue` on the trainer at `addr` until it is empty; each checkpoint goes
/// to the evaluation task as it is written. The failed runs are listed.
async fn trainer_worker(
    ctx: Ctx,
    addr: String,
    queue: Arc<Mutex<VecDeque<PlannedRun>>>,
    eval_tx: mpsc::UnboundedSender<EvalJob>,
) -> Result<Vec<String>, StudyError> {
    let mut failures = vec![];
    if queue.lock().expect("lock").is_empty() {
        return Ok(failures);
    }
    let mut client = services::trainer(&addr, &ctx.client).await?;
    loop {
        let Some(run) = queue.lock().expect("lock").pop_front() else {
            break;
        };
        let out = super::inputs::relative(&ctx.root, &ctx.study_dir.join("runs").join(&run.id))?;
        ctx.ledger.lock().expect("lock").set_state(
            &run.id,
            RunState::Running,
            Some(&addr),
            None,
            None,
        )?;
        let what = format!("train {}", run.id);
        ctx.lines
            .say(&what, true, || format!("{what}: started on {addr}"));
        let started = Instant::now();
        let result = train_one(&mut client, &ctx, &run, out, &what, &eval_tx).await;
        if let Some(failed) = record_outcome(&ctx, &run, &what, started, result)? {
            failures.push(failed);
        }
    }
    Ok(failures)
}

/// What a run ended with: its state, run.json and error.
type Outcome = Result<(PbState, String, String), tonic::Status>;

/// One run on a trainer, watched to its end, its progress printed.
async fn train_one(
    client: &mut TrainerClient<services::Channel>,
    ctx: &Ctx,
    run: &PlannedRun,
    out: String,
    what: &str,
    eval_tx: &mpsc::UnboundedSender<EvalJob>,
) -> Outcome {
    let started = Instant::now();
    let id = client
        .start_run(StartRunRequest {
            config_toml: run.run_toml.clone(),
            output_dir: out,
            device: ctx.device,
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
                ctx.lines.say(what, false, || {
                    format!(
                        "{what}: step {}/{}{}{}{}",
                        s.step,
                        s.total_steps,
                        s.loss.map(|l| format!(" loss {l:.3}")).unwrap_or_default(),
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
                let w = Written {
                    epoch: c.epoch as u64,
                    path: c.path,
                    max_length: c.max_length,
                    delta: c.delta.unwrap_or(0.0),
                };
                let _ = eval_tx.send(eval_job(run, w));
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
        r.record
            .map(|rec| serde_json::to_string(&rec).expect("messages always serialise"))
            .unwrap_or_default(),
        r.error,
    ))
}

/// Write a run's outcome to the ledger and say it; the failure line when it failed.
fn record_outcome(
    ctx: &Ctx,
    run: &PlannedRun,
    what: &str,
    started: Instant,
    result: Outcome,
) -> Result<Option<String>, StudyError> {
    let l = ctx.ledger.lock().expect("lock");
    let msg = match result {
        Ok((PbState::Succeeded, record, _)) => {
            l.set_state(&run.id, RunState::Done, None, Some(&record), None)?;
            let n = ctx
                .finished
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                + 1;
            ctx.lines.say(what, true, || {
                format!(
                    "{what}: done in {} ({n}/{} runs)",
                    human(started.elapsed().as_secs_f64()),
                    ctx.total_runs
                )
            });
            return Ok(None);
        }
        Ok((state, _, error)) => format!("{}: {error}", state.as_str_name()),
        Err(s) => s.message().to_string(),
    };
    l.set_state(&run.id, RunState::Failed, None, None, Some(&msg))?;
    ctx.lines
        .say(what, true, || format!("{what}: FAILED: {msg}"));
    Ok(Some(format!("{what}: {msg}")))
}
