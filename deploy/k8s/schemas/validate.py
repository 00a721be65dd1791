"""Validates rendered manifests against the Kubernetes and Kueue API schemas, offline.

usage: validate.py [-k VERSION]... FILE
       kubectl kustomize deploy/k8s/overlays/kueue | validate.py -

Runs with the Python of `make kubernetes-validate` (.venv-k8s: the `kubernetes-validate`
package, which ships the Kubernetes API's JSON schemas for each minor version, with PyYAML and
jsonschema). Every object of FILE (a multi-document YAML stream, `-` for stdin) is checked:

- a Kubernetes kind against that package's strict schemas (unknown fields are errors, as with
  `kubectl apply --validate=strict`) for each VERSION (default: 1.29, the oldest Kubernetes
  Kueue supports, and 1.37, the newest the package knows);
- a Kueue kind against the CRD schema of a Kueue release kept in kueue/ (made strict the same
  way, its metadata checked as Kubernetes' ObjectMeta), and its scope: cluster-scoped objects
  must not name a namespace, namespaced ones must;
- any other kind (e.g. the Prometheus operator's ServiceMonitor) is reported without a schema.

What a schema cannot say is not checked here: the CRDs' CEL rules (x-kubernetes-validations)
and Kueue's admission webhooks (the deploy test checks the few that matter to these manifests).

Prints a JSON list, one entry per object in order: {"schema": the schema it was validated
against, or null, "object": the object}. Exits 1 with every error on stderr, 2 on bad usage.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

DEFAULT_VERSIONS = ("1.29", "1.37")
KUEUE_DIR = Path(__file__).parent / "kueue"
OBJECT_META = "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the known ones.

    A CRD's structural schema lets the API server prune unknown fields silently; strict field
    validation (kubectl's default since 1.27) refuses them instead, and a misspelt field in an
    example is exactly what this check is for.
    """
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


class KueueSchemas:
    """The Kueue CRD schemas of kueue/, by (apiVersion, kind)."""

    def __init__(self, directory: Path) -> None:
        self.by_kind: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(directory.glob("*.json")):
            doc = json.loads(path.read_text())
            schema = strict(doc["openAPIV3Schema"])
            schema["properties"]["metadata"] = {"$ref": OBJECT_META}
            self.by_kind[(doc["apiVersion"], doc["kind"])] = {
                "schema": schema, "scope": doc["scope"], "source": doc["source"]}

    def get(self, api_version: str, kind: str) -> dict[str, Any] | None:
        return self.by_kind.get((api_version, kind))


def schema_dir(version: str) -> Any:
    """kubernetes-validate's strict schemas of one minor version (`1.29`), or None."""
    path = resources.files(kubernetes_validate).joinpath(f"kubernetes-json-schema/v{version}.0-local-strict")
    return path if path.is_dir() else None


def object_meta_registry(version: str) -> Registry:
    """Kubernetes' shared definitions (ObjectMeta among them) from kubernetes-validate."""
    definitions = schema_dir(version).joinpath("_definitions.json")
    return Resource.from_contents(json.loads(definitions.read_text())) @ Registry()


def documents(stream: str) -> Iterator[Any]:
    """The stream's documents, empty ones skipped (`---` at the end of a file)."""
    for doc in yaml.safe_load_all(stream):
        if doc is not None:
            yield doc


def describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {ns}{meta.get('name')}"


def check_kueue(obj: dict[str, Any], entry: dict[str, Any], registry: Registry) -> list[str]:
    errors = [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in jsonschema.Draft202012Validator(entry["schema"], registry=registry).iter_errors(obj)]
    namespaced = bool((obj.get("metadata") or {}).get("namespace"))
    if entry["scope"] == "Cluster" and namespaced:
        errors.append("metadata.namespace: set on a cluster-scoped kind")
    if entry["scope"] == "Namespaced" and not namespaced:
        errors.append("metadata.namespace: missing (the object would land in kubectl's current namespace)")
    return errors


def check_kubernetes(obj: dict[str, Any], versions: list[str]) -> tuple[str | None, list[str]]:
    errors = []
    for v in versions:
        try:
            kubernetes_validate.validate(copy.deepcopy(obj), v, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return None, []
        except kubernetes_validate.ValidationError as e:
            errors.append(f"Kubernetes {v}: {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
    return f"Kubernetes {', '.join(versions)} (strict)", errors


def validate(objects: list[Any], versions: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    kueue = KueueSchemas(KUEUE_DIR)
    registry = object_meta_registry(versions[-1])
    report, errors = [], []
    for obj in objects:
        if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
            errors.append(f"not an object with apiVersion and kind: {str(obj)[:80]}")
            continue
        entry = kueue.get(obj.get("apiVersion", ""), obj.get("kind", ""))
        if entry is not None:
            schema, problems = f"{obj['apiVersion']} ({entry['source']}, strict)", check_kueue(obj, entry, registry)
        elif obj.get("apiVersion", "").startswith("kueue.x-k8s.io/"):
            schema, problems = None, [f"no schema for {obj['apiVersion']} in {KUEUE_DIR}"]
        else:
            schema, problems = check_kubernetes(obj, versions)
        errors.extend(f"{describe(obj)}: {p}" for p in problems)
        report.append({"schema": schema, "object": obj})
    return report, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="rendered manifests (YAML documents); - for stdin")
    parser.add_argument("-k", "--kubernetes-version", action="append", dest="versions",
                        help="Kubernetes minor version to validate against (repeatable)")
    args = parser.parse_args()
    versions = args.versions or list(DEFAULT_VERSIONS)
    unknown = [v for v in versions if schema_dir(v) is None]
    if unknown:
        parser.error(f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for "
                     f"Kubernetes {', '.join(unknown)} (give a minor version such as 1.29)")
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
    try:
        objects = list(documents(text))
    except yaml.YAMLError as e:
        print(f"error: {args.file} is not YAML: {e}", file=sys.stderr)
        return 1
    report, errors = validate(objects, versions)
    json.dump(report, sys.stdout)
    print()
    for e in errors:
        print(f"error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
