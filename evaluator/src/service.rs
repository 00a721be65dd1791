//! The `triad.v1.Evaluator` gRPC service: Evaluate (a stream of progress ending with
//! METRICS.json) and ScoreTexts (per-token log-probs). Every path in a request is resolved
//! inside the data root; evaluations run one at a time (each one saturates the device).

use crate::error::EvalError;
use crate::eval::{evaluate, EvalSpec};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use triad_data::tokenizer::Tokenizer;
use triad_lm::paths::resolve_in_root;
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

/// Most texts one ScoreTexts request may carry.
pub const MAX_TEXTS: usize = 1024;
/// Longest text ScoreTexts accepts, in characters.
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Tokens one ScoreTexts request may hold in all: its work (and the time a scoring slot is
/// held) grows with them; memory per forward batch is bounded apart from this (see
/// `triad_lm::score`).
pub const MAX_REQUEST_TOKENS: usize = 131_072;
/// Largest canary candidate space an Evaluate request may have ranked exactly.
pub const MAX_EXPOSURE_EXACT: u64 = 1_000_000;
/// Most candidates an Evaluate request may have sampled per canary.
pub const MAX_EXPOSURE_SAMPLES: u32 = 100_000;

/// Errors reach clients through `triad_serve::status`: the error's kind decides the code and
/// messages name paths relative to the data root, never the server's layout.
fn status(root: &Path, e: &EvalError) -> Status {
    triad_serve::status(root, e)
}

/// The stream's end: the typed result, then the same as JSON text (deprecated field, kept one
/// release for clients that read it).
fn result_events(m: triad_proto::v1::Metrics) -> Vec<EvaluateEvent> {
    let json = serde_json::to_string(&m).expect("messages always serialise");
    vec![
        EvaluateEvent {
            event: Some(evaluate_event::Event::Metrics(m)),
        },
        #[allow(deprecated)]
        EvaluateEvent {
            event: Some(evaluate_event::Event::MetricsJson(json)),
        },
    ]
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
    metrics: crate::telemetry::EvaluatorMetrics,
    loaded: Arc<Mutex<Option<Loaded>>>,
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
            metrics: Default::default(),
            loaded: Arc::default(),
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
        if !(req.audit_delta >= 0.0 && req.audit_delta < 1.0) {
            return Err(Status::invalid_argument(
                "field `audit_delta`: must be in [0, 1) (0: the run's own δ, else 1e-5)",
            ));
        }
        if req.audit_delta > 0.0 {
            spec.audit_delta = Some(req.audit_delta);
        }
        if req.batch_size > 256 {
            return Err(Status::invalid_argument(
                "field `batch_size`: at most 256 (0 means 8)",
            ));
        }
        if req.batch_size > 0 {
            spec.batch_size = req.batch_size as usize;
        }
        // Each candidate is one scored text: bounded so one request cannot ask for days.
        if req.exposure_exact_max > MAX_EXPOSURE_EXACT {
            return Err(Status::invalid_argument(format!(
                "field `exposure_exact_max`: at most {MAX_EXPOSURE_EXACT} (0 means 10,000)"
            )));
        }
        if req.exposure_samples > MAX_EXPOSURE_SAMPLES {
            return Err(Status::invalid_argument(format!(
                "field `exposure_samples`: at most {MAX_EXPOSURE_SAMPLES} (0 means 2,000)"
            )));
        }
        if req.max_length as usize > MAX_REQUEST_TOKENS {
            return Err(Status::invalid_argument(format!(
                "field `max_length`: at most {MAX_REQUEST_TOKENS} (0 means the run's own)"
            )));
        }
        if req.exposure_exact_max > 0 {
            spec.exposure_exact_max = req.exposure_exact_max;
        }
        if req.exposure_samples > 0 {
            spec.exposure_samples = req.exposure_samples as usize;
        }
        if req.max_length == 1 {
            return Err(Status::invalid_argument(
                "field `max_length`: at least 2 (0 means the run's own)",
            ));
        }
        if req.max_length > 0 {
            spec.max_length = Some(req.max_length as usize);
        }
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
            if t.text.chars().count() > MAX_TEXT_CHARS {
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

#[tonic::async_trait]
impl Evaluator for EvaluatorService {
    type EvaluateStream = EventStream;

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let req = request.into_inner();
        let spec = self.spec(&req)?;
        let (tx, rx) = mpsc::channel::<Result<EvaluateEvent, Status>>(256);
        let (gate, root, metrics) = (self.gate.clone(), self.root.clone(), self.metrics.clone());
        tokio::spawn(async move {
            let _ = tx.send(Ok(progress("queued", 0, 1))).await;
            metrics.queued();
            let Ok(_permit) = gate.acquire_owned().await else {
                return;
            };
            metrics.started();
            let mut stages = metrics.stages();
            let span = tracing::info_span!("evaluate", base = %req.base_model,
                checkpoint = %req.checkpoint, adapter = %req.adapter);
            let progress_tx = tx.clone();
            let result = tokio::task::spawn_blocking(move || {
                let _span = span.entered();
                let _cpu = triad_lm::threads::lease();
                let t = std::time::Instant::now();
                let r = evaluate(&spec, &mut |stage, d, n| {
                    stages.progress(stage);
                    // A client that went away stops receiving; the evaluation still finishes
                    // and fills the base-score cache for the next request.
                    let _ = progress_tx.blocking_send(Ok(progress(stage, d, n)));
                });
                stages.end();
                tracing::info!(
                    ok = r.is_ok(),
                    seconds = t.elapsed().as_secs_f64(),
                    "evaluated"
                );
                r
            })
            .await;
            let tokens = match &result {
                Ok(Ok(m)) => m.timing.tokens,
                _ => 0,
            };
            metrics.finished(matches!(result, Ok(Ok(_))), tokens);
            let events = match result {
                Ok(Ok(mut m)) => {
                    // Report the client's own (relative) paths.
                    m.base = req.base_model.clone();
                    m.checkpoint = Some(req.checkpoint.clone()).filter(|s| !s.is_empty());
                    m.adapter = Some(req.adapter.clone()).filter(|s| !s.is_empty());
                    m.train_file = req.train_file.clone();
                    m.test_file = req.test_file.clone();
                    m.to_message()
                        .map_err(|e| status(&root, &e))
                        .map(result_events)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "evaluation failed");
                    Err(status(&root, &e))
                }
                Err(e) => Err(Status::internal(format!("evaluation task: {e}"))),
            };
            match events {
                Ok(events) => {
                    for ev in events {
                        let _ = tx.send(Ok(ev)).await;
                    }
                }
                Err(s) => {
                    let _ = tx.send(Err(s)).await;
                }
            }
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
        let span = tracing::info_span!("score_texts", model = %req.model, texts = req.texts.len());
        let svc = self.clone();
        self.metrics.queue.inc();
        let permit = self.gate.clone().acquire_owned().await;
        self.metrics.queue.dec();
        let _permit = permit.map_err(|_| Status::unavailable("shutting down"))?;
        tokio::task::spawn_blocking(move || {
            let _span = span.entered();
            let _cpu = triad_lm::threads::lease();
            svc.score_texts_blocking(req)
        })
        .await
        .map_err(|e| Status::internal(format!("scoring task: {e}")))?
        .map(Response::new)
    }
}
