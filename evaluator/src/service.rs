//! The `triad.v1.Evaluator` gRPC service: Evaluate (a stream of progress ending with
//! METRICS.json) and ScoreTexts (per-token log-probs). Every path in a request is resolved
//! inside the data root, off the async runtime; evaluations run one at a time (each one
//! saturates the device), at most [`MAX_PENDING`] wait or run, and one whose client has gone
//! stops at its next batch. Both RPCs run behind a panic boundary: a panic answers INTERNAL
//! with an incident id, its text only in the log.

use crate::error::EvalError;
use crate::eval::Evaluation;
pub use crate::limits::{MAX_REQUEST_TOKENS, MAX_TEXT_CHARS};
use crate::spec::{EvalSpec, Settings};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use triad_data::tokenizer::Tokenizer;
use triad_lm::paths::{quoted, resolve_in_root};
use triad_lm::score::score_sequences;
use triad_lm::tch::{Device, Kind};
use triad_lm::weights::Weights;
use triad_lm::{CausalLm, ModelConfig};
use triad_proto::v1::{
    evaluate_event, evaluator_server::Evaluator, EvaluateEvent, EvaluateRequest, Progress,
    ScoreTextsRequest, ScoreTextsResponse, TokenScores,
};

/// What a request's path must name.
#[derive(Clone, Copy)]
enum Want {
    File,
    /// A Hugging Face model folder.
    Model,
    /// A PEFT adapter folder.
    Adapter,
}

/// Most texts one ScoreTexts request may carry ([`MAX_TEXT_CHARS`] each; [`MAX_REQUEST_TOKENS`]
/// in all: the work, and the time the device is held, grow with them; memory per forward batch
/// is bounded apart from this, see `triad_lm::score`).
pub const MAX_TEXTS: usize = 1024;
/// Most evaluations waiting or running at once; one more is answered RESOURCE_EXHAUSTED.
pub const MAX_PENDING: usize = 8;

/// Errors reach clients through `triad_serve::status`: the error's kind decides the code and
/// messages name paths relative to the data root, never the server's layout.
fn status(root: &Path, e: &EvalError) -> Status {
    triad_serve::status(root, e)
}

/// The stream's end: the result.
/// The stream's last events: the per-record statistics, then the metrics.
fn result_events(e: Evaluation) -> Vec<EvaluateEvent> {
    let metrics = e.metrics.to_message();
    [
        evaluate_event::Event::Records(e.records),
        evaluate_event::Event::Metrics(metrics),
    ]
    .into_iter()
    .map(|ev| EvaluateEvent { event: Some(ev) })
    .collect()
}

/// What an evaluation unwinds with when its client has gone: raised by `resume_unwind` (no
/// panic hook runs, nothing is logged as a panic) from the progress report after a batch, and
/// caught by [`guarded`].
struct Abandoned;

/// Why work behind [`guarded`] did not return.
enum Stopped {
    /// The client went away.
    Abandoned,
    /// A panic: the message a client gets (an incident id; the text went to the log).
    Panicked(String),
}

/// `f` behind the panic boundary.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Stopped> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        if p.is::<Abandoned>() {
            Stopped::Abandoned
        } else {
            Stopped::Panicked(triad_serve::incident::incident(what, &*p))
        }
    })
}

/// A blocking task that did not finish: a panic outside [`guarded`], or the runtime stopping.
fn join_status(e: tokio::task::JoinError, what: &str) -> Status {
    match e.try_into_panic() {
        Ok(p) => Status::internal(triad_serve::incident::incident(what, &*p)),
        Err(_) => Status::unavailable("shutting down"),
    }
}

fn device(value: i32) -> Result<Device, Status> {
    let name = triad_proto::v1::Device::from_wire(value)
        .map_err(Status::invalid_argument)?
        .config_name();
    triad_lm::device::parse_device(name)
        .map_err(|e| Status::failed_precondition(format!("field `device`: {e}")))
}

/// The last model ScoreTexts loaded, kept for the next request (clients score in batches).
struct Loaded {
    key: (PathBuf, Option<PathBuf>, Device),
    model: CausalLm,
    tokenizer: Tokenizer,
}

#[derive(Clone)]
pub struct EvaluatorService {
    root: PathBuf,
    cache_dir: Option<PathBuf>,
    gate: Arc<Semaphore>,
    /// [`MAX_PENDING`] places: an evaluation holds one from its request to its last event.
    pending: Arc<Semaphore>,
    metrics: crate::telemetry::EvaluatorMetrics,
    loaded: Arc<Mutex<Option<Loaded>>>,
    /// Faults a test injects into this service's evaluations.
    #[cfg(test)]
    inject: Arc<tests::Inject>,
}

impl EvaluatorService {
    /// Serve this evaluator's series (queue, running, outcomes, stage durations) in `t`.
    pub fn register_metrics(&self, t: &triad_serve::Telemetry) {
        self.metrics.register(t);
    }

    /// A service over `data_root`, caching base-model scores in `cache_dir`.
    pub fn new(data_root: PathBuf, cache_dir: Option<PathBuf>) -> Self {
        EvaluatorService {
            root: data_root,
            cache_dir,
            gate: Arc::new(Semaphore::new(1)),
            pending: Arc::new(Semaphore::new(MAX_PENDING)),
            metrics: Default::default(),
            loaded: Arc::default(),
            #[cfg(test)]
            inject: Arc::default(),
        }
    }

    fn path(&self, rel: &str, field: &str) -> Result<PathBuf, Status> {
        resolve_in_root(&self.root, rel, field).map_err(|e| Status::invalid_argument(e.to_string()))
    }

    fn existing(&self, rel: &str, field: &str, want: Want) -> Result<PathBuf, Status> {
        let p = self.path(rel, field)?;
        let (model, adapter) = (
            p.join("config.json").is_file(),
            p.join("adapter_config.json").is_file(),
        );
        let rel = quoted(rel);
        let wrong = |is: &str, use_: &str| {
            Err(Status::invalid_argument(format!(
                "field `{field}`: `{rel}` is {is}; give it as `{use_}`"
            )))
        };
        let ok = match want {
            Want::File => p.is_file(),
            Want::Model if adapter && !model => {
                return wrong("a PEFT adapter folder (adapter_config.json)", "adapter")
            }
            Want::Adapter if model && !adapter => {
                return wrong("a model folder (config.json), not an adapter", "checkpoint")
            }
            Want::Model => model,
            Want::Adapter => adapter,
        };
        if !ok {
            let what = match want {
                Want::File => "file",
                Want::Model => "model folder (config.json)",
                Want::Adapter => "PEFT adapter folder (adapter_config.json)",
            };
            return Err(Status::not_found(format!(
                "field `{field}`: no {what} at `{rel}`"
            )));
        }
        Ok(p)
    }

    /// The evaluation a request asks for, every field checked before any work starts.
    fn spec(&self, req: &EvaluateRequest) -> Result<EvalSpec, Status> {
        let (has_ckpt, has_adapter) = (!req.checkpoint.is_empty(), !req.adapter.is_empty());
        if has_ckpt == has_adapter {
            return Err(Status::invalid_argument(
                "fields `checkpoint` and `adapter`: give exactly one",
            ));
        }
        let mut spec = EvalSpec::new(
            self.existing(&req.base_model, "base_model", Want::Model)?,
            self.existing(&req.train_file, "train_file", Want::File)?,
            self.existing(&req.test_file, "test_file", Want::File)?,
            device(req.device)?,
        );
        if has_ckpt {
            spec.checkpoint = Some(self.existing(&req.checkpoint, "checkpoint", Want::Model)?);
        } else {
            spec.adapter = Some(self.existing(&req.adapter, "adapter", Want::Adapter)?);
        }
        if !req.canaries_file.is_empty() {
            spec.canaries = Some(self.existing(&req.canaries_file, "canaries_file", Want::File)?);
        }
        if !req.audit_file.is_empty() {
            spec.audit = Some(self.existing(&req.audit_file, "audit_file", Want::File)?);
        }
        Settings::from_request(req)
            .apply(&mut spec)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        spec.cache_dir = self.cache_dir.clone();
        Ok(spec)
    }

    fn score_texts_blocking(&self, req: ScoreTextsRequest) -> Result<ScoreTextsResponse, Status> {
        if req.texts.is_empty() {
            return Err(Status::invalid_argument("field `texts`: must not be empty"));
        }
        if req.texts.len() > MAX_TEXTS {
            return Err(Status::invalid_argument(format!(
                "field `texts`: {} texts, at most {MAX_TEXTS} per request",
                req.texts.len()
            )));
        }
        for (i, t) in req.texts.iter().enumerate() {
            if t.text.is_empty() {
                return Err(Status::invalid_argument(format!(
                    "field `texts[{i}].text`: must not be empty"
                )));
            }
            if crate::limits::too_long(&t.text).is_some() {
                return Err(Status::invalid_argument(format!(
                    "field `texts[{i}].text`: longer than {MAX_TEXT_CHARS} characters"
                )));
            }
        }
        let model_dir = self.existing(&req.model, "model", Want::Model)?;
        let adapter = match req.adapter.as_str() {
            "" => None,
            a => Some(self.existing(a, "adapter", Want::Adapter)?),
        };
        let key = (model_dir, adapter, device(req.device)?);
        let mut slot = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().map(|l| &l.key) != Some(&key) {
            *slot = None; // free the previous model first
            *slot = Some(self.load(&key).map_err(|e| status(&self.root, &e))?);
        }
        let l = slot.as_ref().expect("loaded");
        let mut encoded = Vec::with_capacity(req.texts.len());
        for (i, t) in req.texts.iter().enumerate() {
            let e = l
                .tokenizer
                .encode(&t.text)
                .map_err(|e| Status::invalid_argument(format!("field `texts[{i}].text`: {e}")))?;
            if e.ids.iter().any(|&x| x as i64 >= l.model.cfg.vocab_size) {
                return Err(Status::invalid_argument(format!(
                    "field `texts[{i}].text`: the tokenizer produced ids beyond the model's vocabulary"
                )));
            }
            encoded.push(e);
        }
        let seqs: Vec<Vec<u32>> = encoded.iter().map(|e| e.ids.clone()).collect();
        let tokens: usize = seqs.iter().map(Vec::len).sum();
        if tokens > MAX_REQUEST_TOKENS {
            return Err(Status::resource_exhausted(format!(
                "field `texts`: {tokens} tokens in all, at most {MAX_REQUEST_TOKENS} per request; split it"
            )));
        }
        let logprobs = score_sequences(&l.model, &seqs, 8, |_, _| {});
        let scores = req
            .texts
            .iter()
            .zip(encoded)
            .zip(logprobs)
            .map(|((t, e), lp)| TokenScores {
                id: t.id.clone(),
                tokens: e.ids,
                offset_starts: e.offsets.iter().map(|o| o.0 as u32).collect(),
                offset_ends: e.offsets.iter().map(|o| o.1 as u32).collect(),
                logprobs: lp.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect(),
            })
            .collect();
        Ok(ScoreTextsResponse { scores })
    }

    fn load(&self, key: &(PathBuf, Option<PathBuf>, Device)) -> crate::Result<Loaded> {
        let (dir, adapter, device) = key;
        // fp32 like Evaluate, so both RPCs give the same numbers.
        let kind = Kind::Float;
        let cfg = ModelConfig::from_file(dir.join("config.json"))?;
        let mut w = Weights::load_dir(dir, kind, *device)?;
        if let Some(a) = adapter {
            triad_lm::adapter::merge_into(&mut w, a)?;
        }
        Ok(Loaded {
            key: key.clone(),
            model: CausalLm::from_weights(cfg, w, kind, *device)?,
            tokenizer: Tokenizer::from_file(dir.join("tokenizer.json"))?,
        })
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<EvaluateEvent, Status>> + Send>>;

fn progress(stage: &str, done: usize, total: usize) -> EvaluateEvent {
    EvaluateEvent {
        event: Some(evaluate_event::Event::Progress(Progress {
            stage: stage.to_string(),
            done: done as u64,
            total: total as u64,
        })),
    }
}

impl EvaluatorService {
    /// Run `work` on a thread the kernel confines to the data root and the cache
    /// (`triad_serve::confine`): whatever a link swapped in since the request says.
    fn confined<T: Send>(
        &self,
        work: impl FnOnce() -> T + Send,
    ) -> Result<T, triad_serve::confine::ConfineError> {
        let mut roots = vec![self.root.as_path()];
        if let Some(c) = &self.cache_dir {
            // The cache folder is made on first use; it must exist to be allowed.
            if std::fs::create_dir_all(c).is_ok() {
                roots.push(c.as_path());
            }
        }
        triad_serve::confine::confined(&roots, work)
    }

    /// The request checked (its paths resolved) on a blocking thread: the checks touch the
    /// filesystem, which must not stall the runtime that answers health checks.
    async fn checked(&self, req: EvaluateRequest) -> Result<(EvaluateRequest, EvalSpec), Status> {
        let svc = self.clone();
        let (req, spec) = tokio::task::spawn_blocking(move || {
            let spec = svc.spec(&req);
            (req, spec)
        })
        .await
        .map_err(|e| join_status(e, "checking the request"))?;
        Ok((req, spec?))
    }

    /// One evaluation on a blocking thread, its progress sent on `tx`; `None` when the client
    /// went away (seen after a batch: the evaluation stops there).
    async fn run(
        &self,
        spec: EvalSpec,
        req: &EvaluateRequest,
        tx: &mpsc::Sender<Result<EvaluateEvent, Status>>,
    ) -> Option<Result<Evaluation, EvalError>> {
        let mut stages = self.metrics.stages();
        let span = tracing::info_span!("evaluate", base = %quoted(&req.base_model),
            checkpoint = %quoted(&req.checkpoint), adapter = %quoted(&req.adapter));
        let progress_tx = tx.clone();
        #[cfg(test)]
        let inject = self.inject.clone();
        let svc = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _span = span.entered();
            let _cpu = triad_lm::threads::lease();
            let t = std::time::Instant::now();
            let r = guarded("the evaluation", || {
                #[cfg(test)]
                inject.at_start();
                svc.confined(|| {
                    crate::eval::run(&spec, &mut |stage, d, n| {
                        if progress_tx.is_closed() {
                            std::panic::resume_unwind(Box::new(Abandoned));
                        }
                        stages.progress(stage);
                        // A reader too slow for the progress misses some, rather than hold
                        // the device; the results at the end are waited for.
                        let _ = progress_tx.try_send(Ok(progress(stage, d, n)));
                    })
                })
                .map_err(|e| EvalError::Internal(e.to_string()))
                .and_then(|r| r)
            });
            stages.end();
            let seconds = t.elapsed().as_secs_f64();
            let r = match r {
                Ok(r) => r,
                Err(Stopped::Panicked(m)) => Err(EvalError::Internal(m)),
                Err(Stopped::Abandoned) => {
                    tracing::info!(seconds, "evaluation abandoned by its client");
                    return None;
                }
            };
            tracing::info!(ok = r.is_ok(), seconds, "evaluated");
            Some(r)
        })
        .await;
        result.unwrap_or_else(|e| {
            let s = join_status(e, "the evaluation");
            Some(Err(EvalError::Internal(s.message().to_string())))
        })
    }

    /// The stream's last events: the metrics with the client's own paths, or the error.
    fn outcome(
        &self,
        result: Result<Evaluation, EvalError>,
        req: &EvaluateRequest,
    ) -> Result<Vec<EvaluateEvent>, Status> {
        match result {
            Ok(mut e) => {
                let m = &mut e.metrics;
                // Report the client's own (relative) paths.
                m.base = req.base_model.clone();
                m.checkpoint = Some(req.checkpoint.clone()).filter(|s| !s.is_empty());
                m.adapter = Some(req.adapter.clone()).filter(|s| !s.is_empty());
                m.train_file = req.train_file.clone();
                m.test_file = req.test_file.clone();
                Ok(result_events(e))
            }
            Err(e) => {
                tracing::warn!(error = %e, "evaluation failed");
                Err(status(&self.root, &e))
            }
        }
    }

    /// Queued, run, reported: the task behind one Evaluate stream.
    async fn serve_evaluation(
        self,
        req: EvaluateRequest,
        spec: EvalSpec,
        tx: mpsc::Sender<Result<EvaluateEvent, Status>>,
    ) {
        let _ = tx.send(Ok(progress("queued", 0, 1))).await;
        self.metrics.queued();
        // A client that leaves while queued frees its place at once.
        let permit = tokio::select! {
            p = self.gate.clone().acquire_owned() => p,
            () = tx.closed() => {
                self.metrics.queue.dec();
                tracing::info!("evaluation abandoned by its client while queued");
                return;
            }
        };
        let Ok(permit) = permit else {
            return;
        };
        self.metrics.started();
        let result = self.run(spec, &req, &tx).await;
        drop(permit);
        let tokens = match &result {
            Some(Ok(e)) => e.metrics.timing.tokens,
            _ => 0,
        };
        self.metrics.finished(matches!(result, Some(Ok(_))), tokens);
        let Some(result) = result else {
            return;
        };
        match self.outcome(result, &req) {
            Ok(events) => {
                for ev in events {
                    let _ = tx.send(Ok(ev)).await;
                }
            }
            Err(s) => {
                let _ = tx.send(Err(s)).await;
            }
        }
    }
}

#[tonic::async_trait]
impl Evaluator for EvaluatorService {
    type EvaluateStream = EventStream;

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let place = self.pending.clone().try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "{MAX_PENDING} evaluations are already waiting or running; try again later"
            ))
        })?;
        let (req, spec) = self.checked(request.into_inner()).await?;
        let (tx, rx) = mpsc::channel::<Result<EvaluateEvent, Status>>(256);
        let svc = self.clone();
        tokio::spawn(async move {
            let _place = place;
            svc.serve_evaluation(req, spec, tx).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn score_texts(
        &self,
        request: Request<ScoreTextsRequest>,
    ) -> Result<Response<ScoreTextsResponse>, Status> {
        let req = request.into_inner();
        let span = tracing::info_span!("score_texts", model = %quoted(&req.model), texts = req.texts.len());
        let svc = self.clone();
        self.metrics.queue.inc();
        let permit = self.gate.clone().acquire_owned().await;
        self.metrics.queue.dec();
        let _permit = permit.map_err(|_| Status::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let _span = span.entered();
            let _cpu = triad_lm::threads::lease();
            let scored = || {
                svc.confined(|| svc.score_texts_blocking(req))
                    .map_err(|e| Status::internal(e.to_string()))
                    .and_then(|r| r)
            };
            guarded("scoring", scored).unwrap_or_else(|s| match s {
                Stopped::Panicked(m) => Err(Status::internal(m)),
                Stopped::Abandoned => Err(Status::cancelled("the client went away")),
            })
        })
        .await
        .map_err(|e| join_status(e, "scoring"))?
        .map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_stream::StreamExt;

    #[derive(Default)]
    pub(super) struct Inject {
        /// Evaluations panic at their start (the boundary's test).
        panic: AtomicBool,
        /// Evaluations wait at their start while set (the queue's test).
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

    /// A data root whose model folders and files pass the request checks (nothing loads).
    fn root() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("m")).unwrap();
        std::fs::write(d.path().join("m/config.json"), "{}").unwrap();
        std::fs::write(
            d.path().join("t.jsonl"),
            "{\"text\": \"a b\", \"spans\": []}\n",
        )
        .unwrap();
        d
    }

    fn request() -> EvaluateRequest {
        EvaluateRequest {
            base_model: "m".into(),
            checkpoint: "m".into(),
            train_file: "t.jsonl".into(),
            test_file: "t.jsonl".into(),
            ..Default::default()
        }
    }

    async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
        let t = std::time::Instant::now();
        while !done() {
            assert!(t.elapsed().as_secs() < 120, "never: {what}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_evaluation_answers_internal_with_an_incident_id() {
        let root = root();
        let svc = EvaluatorService::new(root.path().to_path_buf(), None);
        svc.inject.panic.store(true, Ordering::Relaxed);
        let mut events = svc
            .evaluate(Request::new(request()))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(e) = events.next().await {
            last = Some(e);
        }
        let e = last.unwrap().unwrap_err();
        assert_eq!(e.code(), tonic::Code::Internal);
        assert!(
            e.message().contains("internal error (incident "),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("/srv"), "{}", e.message());
        // The service goes on: the next evaluation runs (and fails on its empty model).
        svc.inject.panic.store(false, Ordering::Relaxed);
        let mut events = svc
            .evaluate(Request::new(request()))
            .await
            .unwrap()
            .into_inner();
        let mut last = None;
        while let Some(e) = events.next().await {
            last = Some(e);
        }
        let e = last.unwrap().unwrap_err();
        assert!(!e.message().contains("incident"), "{}", e.message());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evaluations_past_the_queue_bound_are_refused_and_leavers_free_their_place() {
        let root = root();
        let svc = EvaluatorService::new(root.path().to_path_buf(), None);
        svc.inject.stall.store(true, Ordering::Relaxed);
        let mut streams = vec![];
        for _ in 0..MAX_PENDING {
            let s = svc.evaluate(Request::new(request())).await.unwrap();
            streams.push(s.into_inner());
        }
        let e = match svc.evaluate(Request::new(request())).await {
            Err(e) => e,
            Ok(_) => panic!("a request past the queue bound was taken"),
        };
        assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e:?}");
        // Clients that leave while queued give their places back at once.
        let running = streams.remove(0);
        drop(streams);
        wait_until("the queued evaluations' places are freed", || {
            svc.pending.available_permits() == MAX_PENDING - 1
        })
        .await;
        assert!(svc.evaluate(Request::new(request())).await.is_ok());
        svc.inject.stall.store(false, Ordering::Relaxed);
        drop(running);
    }

    /// A model folder swapped for a link to outside the root while the evaluation waits is not
    /// read: the evaluation's thread is confined by the kernel, not by the request's check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_swapped_in_while_queued_is_not_followed() {
        let root = root();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(outside.path().join("m")).unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::write(outside.path().join("m").join(f), "outside, not JSON").unwrap();
        }
        let svc = EvaluatorService::new(root.path().to_path_buf(), None);
        svc.inject.stall.store(true, Ordering::Relaxed);
        let mut events = svc
            .evaluate(Request::new(request()))
            .await
            .unwrap()
            .into_inner();
        wait_until("the evaluation starts", || {
            svc.pending.available_permits() < MAX_PENDING
        })
        .await;
        std::fs::remove_dir_all(root.path().join("m")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("m"), root.path().join("m")).unwrap();
        svc.inject.stall.store(false, Ordering::Relaxed);
        let mut last = None;
        while let Some(e) = events.next().await {
            last = Some(e);
        }
        let e = last.unwrap().unwrap_err();
        if triad_serve::confine::available() {
            assert!(e.message().contains("ermission denied"), "{}", e.message());
        }
    }

    #[tokio::test]
    async fn a_megabyte_path_is_refused_with_a_short_message() {
        let root = root();
        let svc = EvaluatorService::new(root.path().to_path_buf(), None);
        let mut req = request();
        req.train_file = "x".repeat(1 << 20);
        let e = match svc.evaluate(Request::new(req)).await {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().len() < 4096, "{} bytes", e.message().len());
        assert!(
            e.message().contains("field `train_file`"),
            "{}",
            e.message()
        );
        // A path short enough to be checked, but missing, is quoted in part.
        let mut req = request();
        req.test_file = format!("{}.jsonl", "y".repeat(4000));
        let e = match svc.evaluate(Request::new(req)).await {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(e.message().len() < 400, "{}", e.message());
    }

    /// A tiny model (transformers, random weights) and `n` records of `words` words each.
    fn tiny_world(n: usize, words: usize) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        triad_tests::run_oracle(
            "tiny_lm_with_tokenizer.py",
            &[
                d.path().join("tiny").to_str().unwrap(),
                triad_tests::neox_tokenizer().to_str().unwrap(),
            ],
        );
        let text = vec!["ward"; words].join(" ");
        let lines: String = (0..n)
            .map(|i| format!("{{\"id\": \"r{i}\", \"text\": \"{i} {text}\", \"spans\": []}}\n"))
            .collect();
        std::fs::write(d.path().join("train.jsonl"), &lines).unwrap();
        std::fs::write(d.path().join("test.jsonl"), &lines).unwrap();
        d
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_evaluation_stops_at_its_next_batch() {
        let root = tiny_world(400, 60);
        let cache = root.path().join("cache");
        let svc = EvaluatorService::new(root.path().to_path_buf(), Some(cache.clone()));
        let req = EvaluateRequest {
            base_model: "tiny".into(),
            checkpoint: "tiny".into(),
            train_file: "train.jsonl".into(),
            test_file: "test.jsonl".into(),
            batch_size: 1,
            ..Default::default()
        };
        let mut events = svc.evaluate(Request::new(req)).await.unwrap().into_inner();
        loop {
            let e = events.next().await.expect("events").expect("no error");
            if let Some(evaluate_event::Event::Progress(p)) = e.event {
                if p.stage == "base train" {
                    break;
                }
            }
        }
        drop(events);
        wait_until("the evaluation stops", || {
            svc.pending.available_permits() == MAX_PENDING
        })
        .await;
        // It stopped inside the base train scores: they were never finished, so never cached.
        let cached = std::fs::read_dir(&cache).map_or(0, |d| d.count());
        assert_eq!(
            cached, 0,
            "the abandoned evaluation ran on and cached its scores"
        );
        assert_eq!(svc.gate.available_permits(), 1);
    }
}
