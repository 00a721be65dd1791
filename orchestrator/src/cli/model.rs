//! `triad model …`: import-gguf, score, generate, bench-forward.

use crate::progress::Progress;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Instant;
use triad_data::tokenizer::Tokenizer;
use triad_lm::device::{parse_device, resolve_kind};
use triad_lm::tch::{self, Device, Kind, Tensor};
use triad_lm::weights::Weights;
use triad_lm::{CausalLm, ModelConfig};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Convert a GGUF file (Llama architecture) into a Hugging Face folder.
    ImportGguf {
        /// The .gguf file.
        file: PathBuf,
        /// Output folder (config.json, model.safetensors, tokenizer.json).
        out_dir: PathBuf,
    },
    /// Per-token log-probabilities of each text in a JSONL file.
    Score {
        #[command(flatten)]
        model: ModelArgs,
        /// JSONL input, one {"id": ..., "text": "..."} a line.
        #[arg(long)]
        input: PathBuf,
        /// JSONL output, one {"id", "tokens", "offsets", "logprobs"} a line, in input order.
        #[arg(long)]
        output: PathBuf,
        #[arg(long, default_value_t = 8)]
        batch_size: usize,
    },
    /// Greedy continuation of a prompt.
    Generate {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long)]
        prompt: String,
        #[arg(long, default_value_t = 32)]
        max_new_tokens: usize,
    },
    /// Time forward passes on random tokens; prints one JSON line (tokens/s).
    BenchForward {
        #[command(flatten)]
        model: ModelArgs,
        #[arg(long, default_value_t = 8)]
        batch: i64,
        #[arg(long, default_value_t = 128)]
        seq: i64,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        #[arg(long, default_value_t = 5)]
        iters: usize,
    },
}

impl ModelCommand {
    fn name(&self) -> &'static str {
        match self {
            ModelCommand::ImportGguf { .. } => "import-gguf",
            ModelCommand::Score { .. } => "score",
            ModelCommand::Generate { .. } => "generate",
            ModelCommand::BenchForward { .. } => "bench-forward",
        }
    }
}

#[derive(Args)]
pub struct ModelArgs {
    /// Hugging Face model folder, or `org/name[@revision]` from the Hugging Face cache
    /// (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub; offline).
    #[arg(long)]
    model: String,
    /// PEFT LoRA adapter folder, merged into the model.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Weights' dtype: auto (fp32, as the trainer and evaluator), f32, bf16 or f16.
    #[arg(long, default_value = "auto")]
    dtype: String,
}

impl ModelArgs {
    fn load(&self) -> Result<(CausalLm, Device)> {
        let device = parse_device(&self.device)?;
        let kind = resolve_kind(&self.dtype).with_context(|| {
            format!("--dtype `{}`: expected auto, f32, bf16 or f16", self.dtype)
        })?;
        Ok((
            load_model(&self.model_dir()?, self.adapter.as_deref(), kind, device)?,
            device,
        ))
    }

    /// `--model` as a folder: itself, or found in the Hugging Face cache.
    fn model_dir(&self) -> Result<PathBuf> {
        Ok(triad_lm::hub::resolve(&self.model)?)
    }

    fn tokenizer(&self) -> Result<Tokenizer> {
        let dir = self.model_dir()?;
        anyhow::ensure!(
            dir.is_dir(),
            "{}: model folder does not exist",
            dir.display()
        );
        Ok(Tokenizer::from_file(dir.join("tokenizer.json"))?)
    }
}

fn load_model(dir: &Path, adapter: Option<&Path>, kind: Kind, device: Device) -> Result<CausalLm> {
    anyhow::ensure!(
        dir.is_dir(),
        "{}: model folder does not exist",
        dir.display()
    );
    let cfg = ModelConfig::from_file(dir.join("config.json"))?;
    let mut weights = Weights::load_dir(dir, kind, device)?;
    if let Some(a) = adapter {
        anyhow::ensure!(a.is_dir(), "{}: adapter folder does not exist", a.display());
        let n = triad_lm::adapter::merge_into(&mut weights, a)?;
        tracing::info!(matrices = n, adapter = %a.display(), "merged LoRA adapter");
    }
    let model = CausalLm::from_weights(cfg, weights, kind, device)?;
    tracing::info!(model = %dir.display(), ?device, ?kind, parameters = model.num_parameters(), "model loaded");
    Ok(model)
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    let _span = tracing::info_span!("model", command = cmd.name()).entered();
    match cmd {
        ModelCommand::ImportGguf { file, out_dir } => {
            let t = Instant::now();
            eprintln!("importing {} …", file.display());
            let s = triad_lm::gguf::import_gguf(&file, &out_dir)?;
            eprintln!(
                "wrote {}: {} architecture, {} tensors ({}), {} parameters, vocab {} — {:.1}s",
                out_dir.display(),
                s.architecture,
                s.tensors,
                s.quant_types
                    .iter()
                    .map(|(k, v)| format!("{v}×{k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.parameters,
                s.vocab_size,
                t.elapsed().as_secs_f64()
            );
            if let Some(terms) = s.terms {
                eprintln!(
                    "this model is under {terms}; NOTICE in {} says so",
                    out_dir.display()
                );
            }
        }
        ModelCommand::Score {
            model,
            input,
            output,
            batch_size,
        } => {
            anyhow::ensure!(batch_size > 0, "--batch-size must be positive");
            // Validate the input before the (slow) model load.
            let records = triad_data::jsonl::read_texts(&input)?;
            let tok = model.tokenizer()?;
            let (lm, _) = model.load()?;
            let t = Instant::now();
            let mut p = Progress::new("scoring");
            let tokens = triad_lm::score::score_records(
                &lm,
                &tok,
                &records,
                &input,
                &output,
                batch_size,
                |d, n| p.update(d, n),
            )?;
            eprintln!(
                "scored {} texts, {tokens} tokens in {:.1}s ({:.0} tokens/s) → {}",
                records.len(),
                t.elapsed().as_secs_f64(),
                tokens as f64 / t.elapsed().as_secs_f64(),
                output.display()
            );
        }
        ModelCommand::Generate {
            model,
            prompt,
            max_new_tokens,
        } => {
            let tok = model.tokenizer()?;
            let (lm, _) = model.load()?;
            let ids = tok.encode(&prompt)?.ids;
            anyhow::ensure!(!ids.is_empty(), "--prompt tokenises to nothing");
            let new = triad_lm::generate::greedy(&lm, &ids, max_new_tokens, &lm.cfg.eos_token_ids);
            println!("{}", tok.decode(&new, true)?);
        }
        ModelCommand::BenchForward {
            model,
            batch,
            seq,
            warmup,
            iters,
        } => {
            anyhow::ensure!(
                batch > 0 && seq > 1 && iters > 0,
                "--batch, --seq and --iters must be positive"
            );
            let (lm, device) = model.load()?;
            tch::manual_seed(0);
            let ids = Tensor::randint(lm.cfg.vocab_size, [batch, seq], (Kind::Int64, device));
            let step = || {
                tch::no_grad(|| {
                    let logits = lm.forward(&ids, None, None);
                    // Force completion (CUDA is asynchronous).
                    logits.sum(Kind::Float).double_value(&[])
                })
            };
            for _ in 0..warmup {
                step();
            }
            let t = Instant::now();
            for _ in 0..iters {
                step();
            }
            let s = t.elapsed().as_secs_f64() / iters as f64;
            println!(
                "{}",
                serde_json::json!({"impl": "triad", "batch": batch, "seq": seq, "threads": tch::get_num_threads(),
                    "s_per_forward": s, "tokens_per_s": (batch * seq) as f64 / s})
            );
        }
    }
    Ok(())
}
