//! The `triad.v1.Trainer` gRPC service: runs queue (one at a time per device), stream their
//! events, and can be cancelled. Every path in a request is resolved inside the data root.

use crate::config::RunConfig;
use crate::error::TrainError;
use crate::run::{train, Event};
use ids::{RunIds, MAX_RUN_ID};
use registry::{terminal, Registry};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use triad_lm::paths::{resolve_in_root, PathError};
use triad_proto::v1::{
    run_event, trainer_server::Trainer, CancelRunRequest, CheckpointEvent, GetRunRequest,
    ListRunsRequest, ListRunsResponse, Run, RunEvent, RunState, StartRunRequest, StartRunResponse,
    StepEvent, WatchRunRequest,
};

mod ids;
mod registry;

/// The error a panicked run ends with: the panic's text goes to the server log only (it can
/// name server paths); the client gets an id to find it there.
fn panicked(payload: &(dyn std::any::Any + Send)) -> TrainError {
    TrainError::Internal(triad_serve::incident::incident("the run", payload))
}

fn path_status(e: PathError) -> Status {
    Status::invalid_argument(e.to_string())
}

struct Job {
    id: String,
    cfg: RunConfig,
    out: PathBuf,
}

#[derive(Clone)]
pub struct TrainerService {
    root: PathBuf,
    runs: Registry,
    queue: mpsc::UnboundedSender<Job>,
    ids: Arc<RunIds>,
    beat: Arc<crate::heartbeat::Heartbeat>,
    stall_after: std::time::Duration,
    metrics: crate::telemetry::TrainerMetrics,
    /// Faults a test injects into this service's runs.
    #[cfg(test)]
    inject: Arc<tests::Inject>,
}

/// A run silent this long (no step, checkpoint or state) is taken as stuck; see
/// [`TrainerService::stalled`].
pub const DEFAULT_STALL_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl TrainerService {
    /// A service over `data_root`, with one worker that runs queued jobs in order.
    pub fn new(data_root: PathBuf) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let svc = TrainerService {
            root: data_root,
            runs: Registry::default(),
            queue: tx,
            ids: Arc::new(RunIds::new()),
            beat: Arc::default(),
            stall_after: DEFAULT_STALL_AFTER,
            metrics: Default::default(),
            #[cfg(test)]
            inject: Arc::default(),
        };
        let worker = svc.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                let w = worker.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let _cpu = triad_lm::threads::lease();
                    w.beat.busy(true);
                    w.execute(job);
                    w.beat.busy(false);
                })
                .await;
            }
        });
        svc
    }

    /// Take a run as stuck after `limit` without an event (default [`DEFAULT_STALL_AFTER`]:
    /// longer than any step of a model this trainer can hold).
    pub fn with_stall_after(mut self, limit: std::time::Duration) -> Self {
        self.stall_after = limit;
        self
    }

    /// Serve this trainer's series (runs, queue, steps, throughput, ε) in `t`.
    pub fn register_metrics(&self, t: &triad_serve::Telemetry) {
        self.metrics.register(t);
    }

    /// How long the running run has been silent, when past the stall limit (health then
    /// says NOT_SERVING; the run goes on, and health returns when it moves).
    pub fn stalled(&self) -> Option<std::time::Duration> {
        self.beat.stalled(self.stall_after)
    }

    fn publish(&self, id: &str, ev: run_event::Event) {
        self.beat.beat();
        if let run_event::Event::Step(s) = &ev {
            self.metrics.step(s);
        }
        self.runs
            .publish(id, ev, |old, new| self.metrics.state(Some(old), new));
    }

    fn execute(&self, job: Job) {
        let Some(cancel) = self.runs.cancel_flag_if_queued(&job.id) else {
            return; // cancelled while queued
        };
        let _span = tracing::info_span!("run", id = %job.id).entered();
        self.publish(&job.id, run_event::Event::State(RunState::Running as i32));
        let root = self.root.clone();
        // A panic inside the run (libtorch refusing an allocation, a bug) must end the run
        // FAILED, not leave it RUNNING with its watchers waiting for good.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            #[cfg(test)]
            self.inject.at_start();
            // On a thread the kernel confines to the data root: whatever a link swapped in
            // since the request, or a path in a file on disk, says (`triad_serve::confine`).
            triad_serve::confine::confined(&[&root], || {
                train(&job.cfg, &job.out, Some(&cancel), |e| {
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
                        Event::Checkpoint {
                            epoch,
                            path,
                            max_length,
                            delta,
                        } => run_event::Event::Checkpoint(CheckpointEvent {
                            epoch: *epoch as u32,
                            max_length: *max_length as u32,
                            delta: *delta,
                            path: path
                                .strip_prefix(&root)
                                .unwrap_or(path)
                                .to_string_lossy()
                                .into_owned(),
                        }),
                    };
                    self.publish(&job.id, ev);
                })
            })
            .map_err(|e| TrainError::Internal(e.to_string()))
            .and_then(|r| r)
        }));
        let result = result
            .unwrap_or_else(|p| Err(panicked(&p)))
            .map(|r| r.to_message());
        let (state, failure, record) = match result {
            Ok(r) => (RunState::Succeeded, None, Some(self.client_record(&r))),
            Err(TrainError::Cancelled) => (RunState::Cancelled, None, None),
            Err(e) => {
                tracing::warn!(error = ?e, "run failed");
                (RunState::Failed, Some(self.status(&e)), None)
            }
        };
        self.runs.update(&job.id, |run| {
            if let Some(s) = failure {
                run.error = s.message().to_string();
                run.error_code = s.code() as i32;
            }
            if let Some(r) = record {
                run.record = Some(r);
            }
        });
        self.publish(&job.id, run_event::Event::State(state as i32));
    }

    fn get(&self, id: &str) -> Result<Run, Status> {
        if id.is_empty() {
            return Err(Status::invalid_argument(
                "field `run_id`: must not be empty",
            ));
        }
        if id.len() > MAX_RUN_ID {
            // Not echoed: a client must not make the server repeat a megabyte back.
            return Err(Status::invalid_argument(format!(
                "field `run_id`: {} bytes, run ids are at most {MAX_RUN_ID}",
                id.len()
            )));
        }
        self.runs
            .get(id)
            .ok_or_else(|| Status::not_found(format!("no run `{id}`")))
    }

    /// Text for a client: no path of the server's (see `triad_serve::status::scrub`).
    fn scrub(&self, text: &str) -> String {
        triad_serve::status::scrub(&self.root, text)
    }

    /// The record as a client receives it, its paths scrubbed.
    fn client_record(&self, r: &triad_proto::v1::RunRecord) -> triad_proto::v1::RunRecord {
        let json = self.scrub(&serde_json::to_string(r).expect("messages always serialise"));
        // Scrubbing only shortens paths inside strings; should it ever break the JSON, the
        // client gets an empty record rather than one with the server's paths.
        triad_proto::json::from_file_text(&json).unwrap_or_else(|e| {
            tracing::error!(error = %e, "scrubbed run record does not parse");
            Default::default()
        })
    }

    fn status(&self, e: &TrainError) -> Status {
        triad_serve::status(&self.root, e)
    }

    /// Parse the request's config with its paths resolved inside the data root.
    fn config(&self, req: &StartRunRequest) -> Result<(RunConfig, PathBuf), Status> {
        if req.config_toml.trim().is_empty() {
            return Err(Status::invalid_argument(
                "field `config_toml`: must not be empty",
            ));
        }
        let mut cfg = RunConfig::from_toml(&req.config_toml, Path::new("config_toml"))
            .map_err(|e| self.status(&e))?;
        let rel = |p: &Path, field: &str| {
            resolve_in_root(&self.root, &p.to_string_lossy(), field).map_err(path_status)
        };
        // Messages name the paths as the client wrote them, never the server's own.
        let (model_arg, train_arg) = (cfg.model.clone(), cfg.train_file.clone());
        cfg.model = rel(&cfg.model, "config_toml.model")?;
        cfg.train_file = rel(&cfg.train_file, "config_toml.train_file")?;
        let out =
            resolve_in_root(&self.root, &req.output_dir, "output_dir").map_err(path_status)?;
        if out.exists() && !out.is_dir() {
            return Err(Status::invalid_argument(format!(
                "field `output_dir`: `{}` is a file, not a folder",
                req.output_dir
            )));
        }
        if !cfg.model.join("config.json").is_file() {
            return Err(Status::not_found(format!(
                "field `config_toml.model`: no model folder at `{}`",
                model_arg.display()
            )));
        }
        if !cfg.train_file.is_file() {
            return Err(Status::not_found(format!(
                "field `config_toml.train_file`: no file `{}`",
                train_arg.display()
            )));
        }
        // Unspecified keeps the config's own `device`.
        match triad_proto::v1::Device::from_wire(req.device).map_err(Status::invalid_argument)? {
            triad_proto::v1::Device::Unspecified => {}
            d => cfg.device = d.config_name().into(),
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
        // Parsing the config and resolving its paths touch the filesystem: off the runtime
        // that answers health checks.
        let svc = self.clone();
        let (req, checked) = tokio::task::spawn_blocking(move || {
            let checked = svc.config(&req);
            (req, checked)
        })
        .await
        .map_err(|_| Status::internal("checking the request stopped on an internal error"))?;
        let (cfg, out) = checked.map_err(|e| Status::new(e.code(), self.scrub(e.message())))?;
        let id = self
            .ids
            .next()
            .map_err(|e| Status::internal(format!("{e}")))?;
        self.runs.add(Run {
            run_id: id.clone(),
            state: RunState::Queued as i32,
            output_dir: req.output_dir.clone(),
            ..Default::default()
        });
        self.metrics.state(None, RunState::Queued as i32);
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
        let w = self
            .runs
            .watch(&id)
            .ok_or_else(|| Status::not_found(format!("no run `{id}`")))?;
        let stream = async_stream(w.history, w.done, w.live);
        Ok(Response::new(stream))
    }

    async fn get_run(&self, request: Request<GetRunRequest>) -> Result<Response<Run>, Status> {
        Ok(Response::new(self.get(&request.into_inner().run_id)?))
    }

    async fn list_runs(
        &self,
        _request: Request<ListRunsRequest>,
    ) -> Result<Response<ListRunsResponse>, Status> {
        Ok(Response::new(ListRunsResponse {
            runs: self.runs.list(),
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
        let queued = self.runs.cancel(&id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Default)]
    pub(super) struct Inject {
        /// Runs panic at their start (the boundary's test).
        panic: AtomicBool,
        /// Runs wait at their start while set (the stall detector's test).
        stall: AtomicBool,
    }

    impl Inject {
        pub(super) fn at_start(&self) {
            if self.panic.load(Ordering::Relaxed) {
                panic!("injected by a test at /srv/triad/secret");
            }
            while self.stall.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    /// A data root whose model folder and training file pass StartRun's checks (nothing
    /// loads: the runs fail once they start).
    fn fixture(root: &Path) {
        std::fs::create_dir_all(root.join("m")).unwrap();
        std::fs::write(root.join("m/config.json"), "{}").unwrap();
        std::fs::write(root.join("t.jsonl"), "{\"text\": \"a\"}\n").unwrap();
    }

    fn request(output_dir: &str) -> StartRunRequest {
        StartRunRequest {
            config_toml: "model = \"m\"\ntrain_file = \"t.jsonl\"\nmethod = \"full\"\nepochs = 1\n[optimizer]\nlr = 0.001\n".into(),
            output_dir: output_dir.into(),
            ..Default::default()
        }
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let t = std::time::Instant::now();
        while !done() {
            assert!(t.elapsed().as_secs() < 60, "never: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_run_is_reported_stalled_until_it_moves() {
        let root = tempfile::tempdir().unwrap();
        fixture(root.path());
        let limit = std::time::Duration::from_millis(200);
        let svc = TrainerService::new(root.path().to_path_buf()).with_stall_after(limit);
        svc.inject.stall.store(true, Ordering::Relaxed);
        let id = svc
            .start_run(Request::new(request("stall")))
            .await
            .unwrap()
            .into_inner()
            .run_id;
        wait_until("the run starts", || {
            svc.get(&id).unwrap().state == RunState::Running as i32
        })
        .await;
        assert_eq!(svc.stalled(), None, "just started");
        wait_until("the stall is seen", || svc.stalled().is_some()).await;
        assert!(svc.stalled().unwrap() > limit);
        svc.inject.stall.store(false, Ordering::Relaxed);
        wait_until("the run ends", || terminal(svc.get(&id).unwrap().state)).await;
        assert_eq!(svc.stalled(), None, "an idle worker is not stalled");
    }

    /// A folder swapped for a link to outside the root while the run waits is not followed:
    /// the run's thread is confined by the kernel, not by the check the request passed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_swapped_in_while_queued_leads_nowhere() {
        let d = tempfile::tempdir().unwrap();
        let (root, outside) = (d.path().join("root"), d.path().join("outside"));
        for dir in [root.join("m"), root.join("runs"), outside.clone()] {
            std::fs::create_dir_all(dir).unwrap();
        }
        fixture(&root);
        let svc = TrainerService::new(root.clone());
        svc.inject.stall.store(true, Ordering::Relaxed);
        let id = svc
            .start_run(Request::new(request("runs/a")))
            .await
            .unwrap()
            .into_inner()
            .run_id;
        wait_until("the run starts", || {
            svc.get(&id).unwrap().state == RunState::Running as i32
        })
        .await;
        std::fs::remove_dir(root.join("runs")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("runs")).unwrap();
        svc.inject.stall.store(false, Ordering::Relaxed);
        wait_until("the run ends", || terminal(svc.get(&id).unwrap().state)).await;
        let run = svc.get(&id).unwrap();
        assert_eq!(run.state, RunState::Failed as i32);
        if triad_serve::confine::available() {
            let written: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
            assert!(
                written.is_empty(),
                "the run wrote outside the root: {written:?}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_that_panics_ends_failed_and_the_next_run_still_starts() {
        let root = tempfile::tempdir().unwrap();
        fixture(root.path());
        let svc = TrainerService::new(root.path().to_path_buf());
        svc.inject.panic.store(true, Ordering::Relaxed);
        let req = request("out");
        let start = |svc: TrainerService, req: StartRunRequest| async move {
            let id = svc
                .start_run(Request::new(req))
                .await
                .unwrap()
                .into_inner()
                .run_id;
            let t = std::time::Instant::now();
            loop {
                let run = svc.get(&id).unwrap();
                if terminal(run.state) {
                    return run;
                }
                assert!(t.elapsed().as_secs() < 60, "the run never ended: {run:?}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        let run = start(svc.clone(), req.clone()).await;
        assert_eq!(run.state, RunState::Failed as i32);
        assert!(
            run.error.contains("internal error (incident"),
            "{}",
            run.error
        );
        assert!(!run.error.contains("/srv"), "{}", run.error);
        // The worker survived: a second run is taken up (and fails on its empty model).
        svc.inject.panic.store(false, Ordering::Relaxed);
        let run = start(svc, req).await;
        assert_eq!(run.state, RunState::Failed as i32);
        assert!(!run.error.contains("internal error"), "{}", run.error);
        let root_text = root.path().to_string_lossy().to_string();
        assert!(
            !run.error.contains(&root_text),
            "a server path: {}",
            run.error
        );
        assert!(run.run_id.starts_with("run-20"), "{}", run.run_id);
    }

    /// Two trainers started in the same second (same stamp, same counter) give their first
    /// runs different ids.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trainers_started_together_give_different_run_ids() {
        let root = tempfile::tempdir().unwrap();
        fixture(root.path());
        let (a, b) = (
            TrainerService::new(root.path().to_path_buf()),
            TrainerService::new(root.path().to_path_buf()),
        );
        let mut ids = vec![];
        for (svc, out) in [(a.clone(), "a"), (b.clone(), "b")] {
            let mut svc = svc;
            svc.ids = Arc::new(RunIds::started_at("20260101000000"));
            let id = svc
                .start_run(Request::new(request(out)))
                .await
                .unwrap()
                .into_inner()
                .run_id;
            ids.push(id);
        }
        assert_ne!(ids[0], ids[1]);
    }

    #[tokio::test]
    async fn a_huge_run_id_is_refused_without_being_echoed() {
        let root = tempfile::tempdir().unwrap();
        let svc = TrainerService::new(root.path().to_path_buf());
        let id = "x".repeat(1 << 20);
        let e = svc.get(&id).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().len() < 200, "{}", e.message());
        assert_eq!(svc.get("run-1").unwrap_err().code(), tonic::Code::NotFound);
    }

    #[test]
    fn a_panic_becomes_an_internal_error_without_its_text() {
        let e = std::panic::catch_unwind(|| panic!("can't allocate at /srv/secret/path"))
            .map(|_: ()| ())
            .unwrap_err();
        let msg = triad_serve::status(Path::new("/srv"), &panicked(&*e))
            .message()
            .to_string();
        assert!(msg.contains("internal error (incident "), "{msg}");
        assert!(!msg.contains("/srv"), "{msg}");
        assert_eq!(
            triad_serve::status(Path::new("/srv"), &panicked(&*e)).code(),
            tonic::Code::Internal
        );
    }
}
