"""Writes the schema files of this folder from Kueue's CRD manifests.

usage: extract.py KUEUE_TAG CRD_YAML...   (from a Kueue checkout at that tag, with a Python that has PyYAML)

Each CRD (e.g. config/components/crd/bases/kueue.x-k8s.io_clusterqueues.yaml of a Kueue
release) gives one `<kind>-<version>.json` per API version this folder validates against: the
version's openAPIV3Schema without its descriptions (they are documentation, and most of the
bytes), with the kind, API version and scope beside it. Nothing else is changed, so a schema can
be compared with the release it came from.
"""
import json
import sys
from pathlib import Path

import yaml

VERSIONS = ("v1beta2",)


def without_descriptions(node):
    if isinstance(node, dict):
        return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [without_descriptions(v) for v in node]
    return node


def main(tag: str, crds: list[str]) -> None:
    out = Path(__file__).parent
    for path in crds:
        crd = yaml.safe_load(Path(path).read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            if version["name"] not in VERSIONS:
                continue
            kind = spec["names"]["kind"]
            doc = {
                "source": f"Kueue {tag}, {path}, version {version['name']} (Apache-2.0)",
                "apiVersion": f"{spec['group']}/{version['name']}",
                "kind": kind,
                "scope": spec["scope"],
                "openAPIV3Schema": without_descriptions(version["schema"]["openAPIV3Schema"]),
            }
            target = out / f"{kind.lower()}-{version['name']}.json"
            target.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
            print(target.name)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
