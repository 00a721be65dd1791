//! The Kubernetes manifests render with `kubectl kustomize` (base and every overlay) into the
//! objects docs/deploy.md describes, with the security settings every container must have; they
//! pass checkov and the Kubernetes and Kueue API schemas (deploy/k8s/schemas/validate.py); and
//! the Kueue overlay puts every workload in its queue, with quota for all of them (kueue.rs).

#[path = "deploy/kueue.rs"]
mod kueue;

use serde_json::Value;
use std::process::Command;

fn render(dir: &str) -> String {
    let path = triad_tests::workspace_root().join("deploy/k8s").join(dir);
    let out = Command::new("kubectl")
        .args(["kustomize", path.to_str().unwrap()])
        .output()
        .expect("kubectl is on the machine image");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_overlay_renders_with_the_expected_objects() {
    for dir in OVERLAYS {
        let y = render(dir);
        for kind in [
            "kind: Namespace",
            "kind: PersistentVolumeClaim",
            "kind: HorizontalPodAutoscaler",
            "kind: PodDisruptionBudget",
            "kind: Job",
            "kind: NetworkPolicy",
            "clusterIP: None",
            "ReadWriteMany",
        ] {
            assert!(y.contains(kind), "{dir}: no `{kind}`");
        }
        assert_eq!(y.matches("\nkind: Deployment\n").count(), 2, "{dir}");
        // Every container (trainer, evaluator, study Job) is locked down and has limits.
        for needle in [
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "runAsNonRoot: true",
            "limits:",
        ] {
            assert_eq!(y.matches(needle).count(), 3, "{dir}: `{needle}`");
        }
        assert_eq!(y.matches("grpc:\n").count(), 4, "{dir}: gRPC probes");
        assert_eq!(
            y.contains("nvidia.com/gpu: 1"),
            GPU_OVERLAYS.contains(&dir),
            "{dir}"
        );
        // Prometheus finds both services: pod annotations everywhere, the health port named
        // `metrics` on both Services, ServiceMonitors in the monitoring overlay.
        assert_eq!(
            y.matches("prometheus.io/scrape: \"true\"").count(),
            2,
            "{dir}"
        );
        for port in ["50061", "50062"] {
            assert!(
                y.contains(&format!("prometheus.io/port: \"{port}\"")),
                "{dir}: {port}"
            );
        }
        assert_eq!(
            y.matches("name: metrics\n").count(),
            2,
            "{dir}: metrics ports"
        );
        assert_eq!(
            y.matches("kind: ServiceMonitor").count(),
            if dir.ends_with("monitoring") { 2 } else { 0 },
            "{dir}"
        );
    }
}

const OVERLAYS: [&str; 5] = [
    "base",
    "overlays/cpu",
    "overlays/gpu",
    "overlays/monitoring",
    "overlays/kueue",
];

/// The overlays whose trainers ask for a GPU (the Kueue overlay is built on the GPU one).
const GPU_OVERLAYS: [&str; 2] = ["overlays/gpu", "overlays/kueue"];

/// Kinds no schema is kept for, and the overlays that bring them (custom resources of operators
/// other than Kueue).
const WITHOUT_SCHEMA: &[(&str, &str)] = &[("ServiceMonitor", "overlays/monitoring")];

/// The rendered objects of `dir`, each validated by deploy/k8s/schemas/validate.py against the
/// Kubernetes API schemas (strict, Kubernetes 1.29 and 1.37) or a Kueue CRD schema, with the
/// schema it passed (None: a kind without one).
fn validated(dir: &str) -> Vec<(Option<String>, Value)> {
    let root = triad_tests::workspace_root();
    let python = root.join(".venv-k8s/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make kubernetes-validate`",
        python.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("rendered.yaml");
    std::fs::write(&file, render(dir)).unwrap();
    let out = Command::new(python)
        .arg(root.join("deploy/k8s/schemas/validate.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{dir} does not pass the API schemas:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    report
        .into_iter()
        .map(|r| (r["schema"].as_str().map(String::from), r["object"].clone()))
        .collect()
}

#[test]
fn every_overlay_passes_the_kubernetes_and_kueue_schemas() {
    for dir in OVERLAYS {
        let objects = validated(dir);
        let kinds = |o: &Value| o["kind"].as_str().unwrap().to_string();
        let unchecked: Vec<String> = objects
            .iter()
            .filter(|(schema, _)| schema.is_none())
            .map(|(_, o)| kinds(o))
            .collect();
        for kind in &unchecked {
            assert!(
                WITHOUT_SCHEMA.contains(&(kind.as_str(), dir)),
                "{dir}: no schema checked {kind}"
            );
        }
        // Kueue's kinds were checked against Kueue's schemas, not passed over.
        for (schema, o) in &objects {
            if o["apiVersion"]
                .as_str()
                .unwrap()
                .starts_with("kueue.x-k8s.io/")
            {
                let schema = schema.as_deref().unwrap_or("none");
                assert!(schema.contains("Kueue v"), "{dir} {}: {schema}", kinds(o));
            }
        }
        println!(
            "{dir}: {} objects, {} without a schema ({unchecked:?})",
            objects.len(),
            unchecked.len()
        );
    }
}

#[test]
fn kueue_overlay_queues_every_workload_and_suspends_the_job() {
    let objects: Vec<Value> = validated("overlays/kueue")
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    kueue::check(&objects);
    // The other overlays leave Kueue out altogether.
    for dir in OVERLAYS.iter().filter(|d| **d != "overlays/kueue") {
        let y = render(dir);
        assert!(!y.contains("kueue.x-k8s.io"), "{dir}");
        assert!(!y.contains("suspend: true"), "{dir}");
    }
}

/// Checks waived, each with its reason in docs/deploy.md.
const WAIVED: &[&str] = &["CKV_K8S_43"];

fn checkov(args: &[&str]) -> String {
    let bin = triad_tests::workspace_root().join(".venv-checkov/bin/checkov");
    assert!(
        bin.exists(),
        "{} is missing: run `make checkov`",
        bin.display()
    );
    let out = Command::new(bin)
        .args(args)
        .args(["--compact", "--quiet", "--skip-download", "--skip-check"])
        .arg(WAIVED.join(","))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("Failed checks: 0"),
        "checkov {args:?}:\n{text}"
    );
    text
}

#[test]
fn checkov_passes_on_every_rendered_overlay_and_the_dockerfile() {
    let tmp = tempfile::tempdir().unwrap();
    for dir in OVERLAYS {
        let file = tmp.path().join(format!("{}.yaml", dir.replace('/', "-")));
        std::fs::write(&file, render(dir)).unwrap();
        let out = checkov(&["-f", file.to_str().unwrap(), "--framework", "kubernetes"]);
        println!(
            "{dir}: {}",
            out.lines().find(|l| l.contains("Passed")).unwrap_or("")
        );
    }
    let dockerfile = triad_tests::workspace_root().join("deploy/docker/Dockerfile");
    let out = checkov(&[
        "-f",
        dockerfile.to_str().unwrap(),
        "--framework",
        "dockerfile",
    ]);
    println!(
        "Dockerfile: {}",
        out.lines().find(|l| l.contains("Passed")).unwrap_or("")
    );
}
