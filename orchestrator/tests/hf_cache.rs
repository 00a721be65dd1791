//! `--model org/name[@revision]` resolves in a Hugging Face hub cache laid out by
//! `huggingface_hub` (blobs, relative links in snapshots, refs for branches and tags), offline,
//! to the same snapshot `huggingface_hub.snapshot_download(local_files_only=True)` returns.

use std::path::{Path, PathBuf};
use std::process::Command;
use triad_lm::hub::{resolve_in, HubRef};

fn oracle_cache(tmp: &Path) -> (PathBuf, serde_json::Value) {
    let model = tmp.join("src");
    let tok = triad_tests::workspace_root().join("tests/oracles/tiny_tokenizer.json");
    triad_tests::run_oracle(
        "tiny_lm_with_tokenizer.py",
        &[model.to_str().unwrap(), tok.to_str().unwrap(), "qwen3"],
    );
    let cache = tmp.join("home/.cache/huggingface/hub");
    std::fs::create_dir_all(&cache).unwrap();
    triad_tests::run_oracle(
        "hf_cache.py",
        &[
            cache.to_str().unwrap(),
            model.to_str().unwrap(),
            "acme/tiny-qwen3",
        ],
    );
    let expected = serde_json::from_slice(&std::fs::read(cache.join("expected.json")).unwrap());
    (cache, expected.unwrap())
}

/// `triad model generate` with only the given cache variables set.
fn generate(model: &str, env: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_triad"));
    cmd.args([
        "model",
        "generate",
        "--model",
        model,
        "--prompt",
        "hello",
        "--max-new-tokens",
        "2",
    ])
    .args(["--device", "cpu"])
    .env_remove("HF_HUB_CACHE")
    .env_remove("HUGGINGFACE_HUB_CACHE")
    .env_remove("HF_HOME")
    .env_remove("XDG_CACHE_HOME")
    .env("HOME", "/nonexistent-home");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_model_resolves_by_name_revision_and_commit_as_huggingface_hub_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, expected) = oracle_cache(tmp.path());
    let old = expected["commits"]["old"].as_str().unwrap();
    for rev in ["main", "v1.0", old] {
        let r = HubRef::parse(&format!("acme/tiny-qwen3@{rev}")).unwrap();
        let got = resolve_in(&r, std::slice::from_ref(&cache)).unwrap();
        let want = PathBuf::from(expected[rev].as_str().unwrap());
        assert_eq!(
            got.canonicalize().unwrap(),
            want.canonicalize().unwrap(),
            "{rev}"
        );
        let cfg = std::fs::read_to_string(got.join("config.json")).unwrap();
        assert_eq!(cfg.contains("_triad_test_revision"), rev != "main", "{rev}");
        // The snapshot's files are links into blobs/: the model loads through them.
        let m =
            triad_lm::CausalLm::load(&got, triad_lm::tch::Kind::Float, triad_lm::tch::Device::Cpu)
                .unwrap_or_else(|e| panic!("{rev}: {e}"));
        assert_eq!(m.cfg.arch, triad_lm::Arch::Qwen3);
    }
    // The bare name is `main`.
    let bare = resolve_in(
        &HubRef::parse("acme/tiny-qwen3").unwrap(),
        std::slice::from_ref(&cache),
    )
    .unwrap();
    assert!(bare.ends_with(expected["commits"]["new"].as_str().unwrap()));

    // The CLI finds it through each of the places huggingface_hub reads, in its order.
    let home = tmp.path().join("home");
    let hf_home = home.join(".cache/huggingface");
    for env in [
        vec![("HF_HUB_CACHE", cache.as_path())],
        vec![("HF_HOME", hf_home.as_path())],
        vec![("HOME", home.as_path())],
        vec![
            ("HF_HUB_CACHE", Path::new("/nowhere")),
            ("HOME", home.as_path()),
        ],
    ] {
        let out = generate(&format!("acme/tiny-qwen3@{old}"), &env);
        assert!(
            out.status.success(),
            "{env:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Missing: the error names every place it looked, and nothing is fetched.
    let out = generate(
        "acme/absent@v2",
        &[("HF_HUB_CACHE", cache.as_path()), ("HOME", home.as_path())],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("acme/absent@v2"), "{err}");
    assert!(
        err.contains(&format!("{}/models--acme--absent/refs/v2", cache.display())),
        "{err}"
    );
    assert!(
        err.contains("huggingface-cli download acme/absent"),
        "{err}"
    );
    // A path that does not exist is not taken for a hub name.
    let out = generate("./no/such/folder", &[("HOME", home.as_path())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("does not exist"),
        "{err}"
    );
}
