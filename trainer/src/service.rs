//! The `triad.v1.Trainer` gRPC service: runs queue (one at a time per device), stream their
//! events, and can be cancelled. Every path in a request is resolved inside the data root.

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::run::{train, Event};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use triad_lm::paths::{resolve_in_root, PathError};
use triad_proto::v1::{
    run_event, trainer_server::Trainer, CancelRunRequest, CheckpointEvent, GetRunRequest,
    ListRunsRequest, ListRunsResponse, Run, RunEvent, RunState, StartRunRequest, StartRunResponse,
    StepEvent, WatchRunRequest,
};

/// The one place a trainer error becomes a gRPC status.
fn status(e: &TrainError) -> Status {
    match e {
        TrainError::Config { .. } | TrainError::Data { .. } | TrainError::Invalid(_) => {
            Status::invalid_argument(e.to_string())
        }
        TrainError::Cancelled => Status::cancelled(e.to_string()),
        TrainError::Lm(triad_lm::LmError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Status::not_found(e.to_string())
        }
        TrainError::Lm(triad_lm::LmError::Device(_)) => Status::failed_precondition(e.to_string()),
        TrainError::Lm(_) => Status::invalid_argument(e.to_string()),
        TrainError::Io { .. } | TrainError::Torch(_) => Status::internal(e.to_string()),
    }
}

fn path_status(e: PathError) -> Status {
    Status::invalid_argument(e.to_string())
}

struct Entry {
    run: Run,
    history: Vec<RunEvent>,
    events: broadcast::Sender<RunEvent>,
    cancel: Arc<AtomicBool>,
}

struct Job {
    id: String,
    cfg: RunConfig,
    out: PathBuf,
}

#[derive(Clone)]
pub struct TrainerService {
    root: PathBuf,
    runs: Arc<Mutex<HashMap<String, Entry>>>,
    order: Arc<Mutex<Vec<String>>>,
    queue: mpsc::UnboundedSender<Job>,
    next: Arc<AtomicU64>,
}

fn terminal(s: i32) -> bool {
    [RunState::Succeeded, RunState::Failed, RunState::Cancelled]
        .iter()
        .any(|t| *t as i32 == s)
}

impl TrainerService {
    /// A service over `data_root`, with one worker that runs queued jobs in order.
    pub fn new(data_root: PathBuf) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let svc = TrainerService {
            root: data_root,
            runs: Arc::default(),
            order: Arc::default(),
            queue: tx,
            next: Arc::new(AtomicU64::new(1)),
        };
        let worker = svc.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let w = worker.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let _cpu = triad_lm::threads::lease();
                    w.execute(job)
                })
                .await;
            }
        });
        svc
    }

    fn publish(&self, id: &str, ev: run_event::Event) {
        let mut runs = self.runs.lock().expect("lock");
        if let Some(e) = runs.get_mut(id) {
            if let run_event::Event::State(s) = ev {
                e.run.state = s;
            }
            let msg = RunEvent {
                run_id: id.to_string(),
                event: Some(ev),
            };
            e.history.push(msg.clone());
            let _ = e.events.send(msg);
        }
    }

    fn execute(&self, job: Job) {
        let cancel = {
            let runs = self.runs.lock().expect("lock");
            match runs.get(&job.id) {
                Some(e) if e.run.state == RunState::Queued as i32 => e.cancel.clone(),
                _ => return, // cancelled while queued
            }
        };
        let _span = tracing::info_span!("run", id = %job.id).entered();
        self.publish(&job.id, run_event::Event::State(RunState::Running as i32));
        let root = self.root.clone();
        let result = train(&job.cfg, &job.out, Some(&cancel), |e| {
            let ev = match e {
                Event::Started { .. } => return,
                Event::Step {
                    step,
                    total_steps,
                    loss,
                    tokens_per_second,
                    epsilon,
                    ..
                } => run_event::Event::Step(StepEvent {
                    step: *step,
                    total_steps: *total_steps,
                    loss: *loss,
                    tokens_per_second: *tokens_per_second,
                    epsilon: *epsilon,
                }),
                Event::Checkpoint { epoch, path } => {
                    run_event::Event::Checkpoint(CheckpointEvent {
                        epoch: *epoch as u32,
                        path: path
                            .strip_prefix(&root)
                            .unwrap_or(path)
                            .to_string_lossy()
                            .into_owned(),
                    })
                }
            };
            self.publish(&job.id, ev);
        });
        let (state, error, record) = match result {
            Ok(r) => (
                RunState::Succeeded,
                String::new(),
                serde_json::to_string(&r).unwrap_or_default(),
            ),
            Err(TrainError::Cancelled) => (RunState::Cancelled, String::new(), String::new()),
            Err(e) => {
                tracing::warn!(error = %e, "run failed");
                (
                    RunState::Failed,
                    status(&e).message().to_string(),
                    String::new(),
                )
            }
        };
        {
            let mut runs = self.runs.lock().expect("lock");
            if let Some(e) = runs.get_mut(&job.id) {
                e.run.error = error;
                e.run.record_json = record;
            }
        }
        self.publish(&job.id, run_event::Event::State(state as i32));
    }

    fn get(&self, id: &str) -> Result<Run, Status> {
        if id.is_empty() {
            return Err(Status::invalid_argument(
                "field `run_id`: must not be empty",
            ));
        }
        let runs = self.runs.lock().expect("lock");
        runs.get(id)
            .map(|e| e.run.clone())
            .ok_or_else(|| Status::not_found(format!("no run `{id}`")))
    }

    /// Parse the request's config with its paths resolved inside the data root.
    fn config(&self, req: &StartRunRequest) -> Result<(RunConfig, PathBuf), Status> {
        if req.config_toml.trim().is_empty() {
            return Err(Status::invalid_argument(
                "field `config_toml`: must not be empty",
            ));
        }
        let mut cfg = RunConfig::from_toml(&req.config_toml, Path::new("config_toml"))
            .map_err(|e| status(&e))?;
        let rel = |p: &Path, field: &str| {
            resolve_in_root(&self.root, &p.to_string_lossy(), field).map_err(path_status)
        };
        cfg.model = rel(&cfg.model, "config_toml.model")?;
        cfg.train_file = rel(&cfg.train_file, "config_toml.train_file")?;
        let out =
            resolve_in_root(&self.root, &req.output_dir, "output_dir").map_err(path_status)?;
        if !cfg.model.join("config.json").is_file() {
            return Err(Status::not_found(format!(
                "field `config_toml.model`: no model folder at `{}`",
                cfg.model.display()
            )));
        }
        if !cfg.train_file.is_file() {
            return Err(Status::not_found(format!(
                "field `config_toml.train_file`: no file `{}`",
                cfg.train_file.display()
            )));
        }
        match triad_proto::v1::Device::try_from(req.device) {
            Ok(triad_proto::v1::Device::Cpu) => cfg.device = "cpu".into(),
            Ok(triad_proto::v1::Device::Cuda) => cfg.device = "cuda".into(),
            Ok(triad_proto::v1::Device::Unspecified) => {}
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "field `device`: unknown value {}",
                    req.device
                )))
            }
        }
        Ok((cfg, out))
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<RunEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Trainer for TrainerService {
    async fn start_run(
        &self,
        request: Request<StartRunRequest>,
    ) -> Result<Response<StartRunResponse>, Status> {
        let req = request.into_inner();
        let (cfg, out) = self.config(&req)?;
        let id = format!("run-{:06}", self.next.fetch_add(1, Ordering::Relaxed));
        let run = Run {
            run_id: id.clone(),
            state: RunState::Queued as i32,
            output_dir: req.output_dir.clone(),
            error: String::new(),
            record_json: String::new(),
        };
        let (events, _) = broadcast::channel(1024);
        let queued = RunEvent {
            run_id: id.clone(),
            event: Some(run_event::Event::State(RunState::Queued as i32)),
        };
        self.runs.lock().expect("lock").insert(
            id.clone(),
            Entry {
                run,
                history: vec![queued],
                events,
                cancel: Arc::new(AtomicBool::new(false)),
            },
        );
        self.order.lock().expect("lock").push(id.clone());
        tracing::info!(run = %id, output = %req.output_dir, "run queued");
        self.queue
            .send(Job {
                id: id.clone(),
                cfg,
                out,
            })
            .map_err(|_| Status::unavailable("the run queue is closed"))?;
        Ok(Response::new(StartRunResponse { run_id: id }))
    }

    type WatchRunStream = EventStream;

    async fn watch_run(
        &self,
        request: Request<WatchRunRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let id = request.into_inner().run_id;
        self.get(&id)?;
        // Subscribe and copy the history under one lock, so no event is missed or repeated.
        let (history, rx, done) = {
            let runs = self.runs.lock().expect("lock");
            let e = &runs[&id];
            (
                e.history.clone(),
                e.events.subscribe(),
                terminal(e.run.state),
            )
        };
        let stream = async_stream(history, done, rx);
        Ok(Response::new(stream))
    }

    async fn get_run(&self, request: Request<GetRunRequest>) -> Result<Response<Run>, Status> {
        Ok(Response::new(self.get(&request.into_inner().run_id)?))
    }

    async fn list_runs(
        &self,
        _request: Request<ListRunsRequest>,
    ) -> Result<Response<ListRunsResponse>, Status> {
        let order = self.order.lock().expect("lock").clone();
        let runs = self.runs.lock().expect("lock");
        Ok(Response::new(ListRunsResponse {
            runs: order
                .iter()
                .filter_map(|id| runs.get(id).map(|e| e.run.clone()))
                .collect(),
        }))
    }

    async fn cancel_run(
        &self,
        request: Request<CancelRunRequest>,
    ) -> Result<Response<Run>, Status> {
        let id = request.into_inner().run_id;
        let run = self.get(&id)?;
        if terminal(run.state) {
            return Err(Status::failed_precondition(format!(
                "run `{id}` has already ended"
            )));
        }
        let queued = {
            let runs = self.runs.lock().expect("lock");
            let e = &runs[&id];
            e.cancel.store(true, Ordering::Relaxed);
            e.run.state == RunState::Queued as i32
        };
        if queued {
            self.publish(&id, run_event::Event::State(RunState::Cancelled as i32));
        }
        self.get(&id).map(Response::new)
    }
}

/// History first, then live events, ending after a terminal state.
fn async_stream(
    history: Vec<RunEvent>,
    done: bool,
    mut live: broadcast::Receiver<RunEvent>,
) -> EventStream {
    let (tx, rx) = mpsc::channel::<Result<RunEvent, Status>>(64);
    tokio::spawn(async move {
        let is_end =
            |e: &RunEvent| matches!(e.event, Some(run_event::Event::State(s)) if terminal(s));
        for e in history {
            if tx.send(Ok(e)).await.is_err() {
                return;
            }
        }
        if done {
            return;
        }
        loop {
            match live.recv().await {
                Ok(e) => {
                    let end = is_end(&e);
                    if tx.send(Ok(e)).await.is_err() || end {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "slow watcher skipped events")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
