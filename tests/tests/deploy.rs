//! The Kubernetes manifests render with `kubectl kustomize` (base and every overlay) into the
//! objects docs/deploy.md describes, with the security settings every container must have.

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
            dir.ends_with("gpu"),
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

const OVERLAYS: [&str; 4] = [
    "base",
    "overlays/cpu",
    "overlays/gpu",
    "overlays/monitoring",
];

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
