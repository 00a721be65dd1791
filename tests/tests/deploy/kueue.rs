//! What Kueue needs of the rendered `overlays/kueue`, beyond the CRD schemas validate.py checks:
//! every workload names the LocalQueue (on its pod template too, for Deployments and
//! StatefulSets) and every Job starts suspended; the LocalQueue leads to a ClusterQueue that
//! selects its namespace and whose flavors exist and list every covered resource (a CEL rule of
//! the CRD, which no JSON-schema validator runs); and the quota admits the whole deployment at
//! its largest, each pod on the flavor Kueue would give it: GPU pods on GPU nodes, the rest not.

use serde_json::Value;
use std::collections::BTreeMap;

pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";

/// The workload kinds this overlay may hold: those whose Kueue integration it relies on.
const QUEUED_KINDS: [&str; 3] = ["Job", "Deployment", "StatefulSet"];

/// What the issue asks to be admitted through Kueue: the study Job and the services.
const WORKLOADS: [&str; 3] = ["triad-evaluator", "triad-study", "triad-trainer"];

pub fn check(objects: &[Value]) {
    let local = only(objects, "LocalQueue");
    let queue = str_at(local, "/metadata/name");
    let namespace = str_at(local, "/metadata/namespace");
    let workloads = workloads_are_queued(objects, queue, namespace);
    let names: Vec<&str> = workloads.iter().map(|w| name(w)).collect();
    assert_eq!(names, WORKLOADS, "the workloads of the overlay");
    let cluster_queue = queues_are_wired(objects, local);
    quota_admits_every_pod(objects, &workloads, cluster_queue);
}

fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}");
    found[0]
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{} has no {pointer}", v["kind"]))
}

fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name")
}

fn label<'a>(v: &'a Value, labels: &str) -> Option<&'a str> {
    v.pointer(labels)?.get(QUEUE_LABEL)?.as_str()
}

/// Objects that make pods, sorted by name; each checked for its queue label (and suspension).
fn workloads_are_queued<'a>(objects: &'a [Value], queue: &str, namespace: &str) -> Vec<&'a Value> {
    let mut workloads: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Pod"
                || o.pointer("/spec/template/spec/containers").is_some()
                || o.pointer("/spec/jobTemplate").is_some()
        })
        .collect();
    workloads.sort_by_key(|w| name(w));
    for w in &workloads {
        let (kind, n) = (w["kind"].as_str().unwrap(), name(w));
        assert!(
            QUEUED_KINDS.contains(&kind),
            "{kind} {n}: not a kind this overlay queues through Kueue"
        );
        // A queue label names a LocalQueue of the workload's own namespace.
        assert_eq!(str_at(w, "/metadata/namespace"), namespace, "{kind} {n}");
        assert_eq!(label(w, "/metadata/labels"), Some(queue), "{kind} {n}");
        if kind == "Job" {
            assert_eq!(w.pointer("/spec/suspend"), Some(&Value::Bool(true)), "{n}");
        } else {
            assert_eq!(
                label(w, "/spec/template/metadata/labels"),
                Some(queue),
                "{kind} {n}: pod template"
            );
            // The selector is immutable: a label added there would break every later apply.
            assert_eq!(label(w, "/spec/selector/matchLabels"), None, "{kind} {n}");
        }
    }
    workloads
}

/// LocalQueue → ClusterQueue → ResourceFlavors, as Kueue resolves them; the ClusterQueue.
fn queues_are_wired<'a>(objects: &'a [Value], local: &Value) -> &'a Value {
    let cq = only(objects, "ClusterQueue");
    assert_eq!(str_at(local, "/spec/clusterQueue"), name(cq));
    let selects = cq.pointer("/spec/namespaceSelector/matchLabels/kubernetes.io~1metadata.name");
    assert_eq!(
        selects.and_then(Value::as_str),
        Some(str_at(local, "/metadata/namespace")),
        "the ClusterQueue admits from the LocalQueue's namespace"
    );
    let flavors: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "ResourceFlavor")
        .map(name)
        .collect();
    let mut gpu_covered = false;
    for group in cq["spec"]["resourceGroups"].as_array().unwrap() {
        let covered: Vec<&str> = group["coveredResources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        gpu_covered |= covered.contains(&"nvidia.com/gpu");
        for f in group["flavors"].as_array().unwrap() {
            assert!(flavors.contains(&name_of(f)), "flavor {}", name_of(f));
            let listed: Vec<&str> = f["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(name_of)
                .collect();
            assert_eq!(listed, covered, "flavor {}: its resources", name_of(f));
        }
    }
    assert!(gpu_covered, "the ClusterQueue has no nvidia.com/gpu quota");
    cq
}

fn name_of(v: &Value) -> &str {
    v["name"].as_str().unwrap()
}

/// A pod's resource requests in milli-units; limits stand in for requests a container lacks,
/// as Kueue (and the scheduler) read them.
fn pod_requests(workload: &Value) -> BTreeMap<String, u128> {
    let mut sum = BTreeMap::new();
    for c in workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
    {
        let mut res = c["resources"]["limits"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        res.extend(
            c["resources"]["requests"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        for (r, q) in res {
            *sum.entry(r).or_insert(0) += quantity(&q);
        }
    }
    sum
}

/// Pods a workload may have at once: the HorizontalPodAutoscaler's maximum where one scales
/// it, else its replicas (a Job: its parallelism).
fn most_pods(objects: &[Value], w: &Value) -> u64 {
    let hpa = objects.iter().find(|o| {
        o["kind"] == "HorizontalPodAutoscaler"
            && o["spec"]["scaleTargetRef"]["kind"] == w["kind"]
            && o["spec"]["scaleTargetRef"]["name"] == w["metadata"]["name"]
    });
    let field = match (hpa, w["kind"].as_str()) {
        (Some(h), _) => &h["spec"]["maxReplicas"],
        (None, Some("Job")) => &w["spec"]["parallelism"],
        (None, _) => &w["spec"]["replicas"],
    };
    field.as_u64().unwrap_or(1)
}

struct Flavor<'a> {
    name: &'a str,
    node_labels: BTreeMap<String, Value>,
    left: BTreeMap<String, u128>,
}

/// The first flavor (in the ClusterQueue's order) whose node labels agree with the pod's node
/// selector and whose remaining quota covers every resource it requests: Kueue's assignment
/// for a queue without borrowing or preemption.
fn assign<'f, 'a>(
    flavors: &'f mut [Flavor<'a>],
    requests: &BTreeMap<String, u128>,
    selector: &serde_json::Map<String, Value>,
) -> Option<&'f mut Flavor<'a>> {
    flavors.iter_mut().find(|f| {
        let agrees = f
            .node_labels
            .iter()
            .all(|(k, v)| selector.get(k).is_none_or(|s| s == v));
        let fits = requests
            .iter()
            .all(|(r, q)| f.left.get(r).is_some_and(|left| left >= q));
        agrees && fits
    })
}

fn quota_admits_every_pod(objects: &[Value], workloads: &[&Value], cq: &Value) {
    let group = &cq["spec"]["resourceGroups"][0];
    assert_eq!(
        cq["spec"]["resourceGroups"].as_array().unwrap().len(),
        1,
        "this check models one resource group"
    );
    let mut flavors: Vec<Flavor> = group["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let object = objects
                .iter()
                .find(|o| o["kind"] == "ResourceFlavor" && name(o) == name_of(f))
                .unwrap();
            Flavor {
                name: name_of(f),
                node_labels: object["spec"]["nodeLabels"]
                    .as_object()
                    .map(|m| m.clone().into_iter().collect())
                    .unwrap_or_default(),
                left: f["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| (name_of(r).to_string(), quantity(&r["nominalQuota"])))
                    .collect(),
            }
        })
        .collect();
    for w in workloads {
        let requests = pod_requests(w);
        let selector = w["spec"]["template"]["spec"]["nodeSelector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let gpu = requests.get("nvidia.com/gpu").is_some_and(|g| *g > 0);
        for pod in 0..most_pods(objects, w) {
            let f = assign(&mut flavors, &requests, &selector).unwrap_or_else(|| {
                panic!(
                    "{} pod {}: the ClusterQueue has no quota left for {requests:?}",
                    name(w),
                    pod + 1
                )
            });
            // GPU pods go to GPU nodes; the rest are not pinned there.
            let on_gpu_nodes =
                f.node_labels.get("nvidia.com/gpu.present") == Some(&Value::String("true".into()));
            assert_eq!(on_gpu_nodes, gpu, "{} on flavor {}", name(w), f.name);
            for (r, q) in &requests {
                *f.left.get_mut(r).unwrap() -= q;
            }
        }
        println!(
            "{}: {} pods admitted at most, each {requests:?} (milli-units)",
            name(w),
            most_pods(objects, w)
        );
    }
}

/// A Kubernetes quantity (`500m`, `2`, `24Gi`, `1.5G`, or a JSON number) in milli-units.
pub fn quantity(v: &Value) -> u128 {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("not a quantity: {other}"),
    };
    let digits = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits);
    let milli_per_unit: u128 = match suffix {
        "m" => 1,
        "" => 1_000,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "Ki" => 1_000 << 10,
        "Mi" => 1_000 << 20,
        "Gi" => 1_000 << 30,
        "Ti" => 1_000 << 40,
        _ => panic!("quantity {text}: unknown suffix {suffix:?}"),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mantissa: u128 = format!("{whole}{fraction}")
        .parse()
        .unwrap_or_else(|_| panic!("quantity {text}: not a number"));
    let scale = 10u128.pow(fraction.len() as u32);
    assert_eq!(
        mantissa * milli_per_unit % scale,
        0,
        "quantity {text}: finer than a milli-unit"
    );
    mantissa * milli_per_unit / scale
}

#[test]
fn quantities_read_as_kubernetes_reads_them() {
    let q = |s: &str| quantity(&Value::String(s.into()));
    assert_eq!(q("500m"), 500);
    assert_eq!(q("2"), 2_000);
    assert_eq!(q("0.5"), 500);
    assert_eq!(q("1.5G"), 1_500_000_000_000);
    assert_eq!(q("24Gi"), 24 * (1 << 30) * 1_000);
    assert_eq!(quantity(&serde_json::json!(19)), 19_000);
    assert_eq!(quantity(&serde_json::json!(0)), 0);
}
