"""Builds triad-client, generating its `triad_client.v1` modules from Triad's .proto files.

The generated code is not kept in the repository: every build makes it from the protos it is
built with (grpcio-tools, pinned in pyproject.toml), so an installed client speaks exactly the
contract of the checkout it came from. The version says which: `0.1.0+proto.<12 hex>`, the
first digits of the protos' SHA-256 (`triad_client.PROTO_SHA256` holds all of it).

The protos are found in `proto/` beside this file (an sdist: `sdist` below copies them there)
or in the repository's `proto/`, two folders up.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
# The workspace's version (Cargo.toml); the integration test checks that they agree.
BASE_VERSION = "0.1.0"
PACKAGE = "triad_client"
PROTO_GLOB = "triad/v1/*.proto"
# protoc writes `from triad.v1 import x_pb2` (the protos' folder); the modules live in
# triad_client.v1 instead, so that no top-level `triad` package is claimed.
GENERATED_IMPORT = re.compile(r"^from triad\.v1 import (\w+)", re.MULTILINE)


def proto_root() -> Path:
    for root in (HERE / "proto", HERE.parent.parent / "proto"):
        if any(root.glob(PROTO_GLOB)):
            return root
    raise SystemExit(
        "triad-client: no proto/triad/v1/*.proto found; build it from the Triad repository "
        "(pip install ./clients/python) or from its sdist"
    )


def proto_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.glob(PROTO_GLOB))


def proto_digest(root: Path) -> str:
    """SHA-256 over each proto's path and bytes, in path order (docs/python-client.md)."""
    h = hashlib.sha256()
    for rel in proto_files(root):
        h.update(rel.encode() + b"\0" + (root / rel).read_bytes() + b"\0")
    return h.hexdigest()


def version() -> str:
    return f"{BASE_VERSION}+proto.{proto_digest(proto_root())[:12]}"


def generate(package_dir: Path) -> None:
    """Writes package_dir/v1 (messages, their .pyi types, stubs) and package_dir/_version.py."""
    import grpc_tools
    from grpc_tools import protoc

    root = proto_root()
    files = proto_files(root)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out = package_dir / "v1"
    with tempfile.TemporaryDirectory() as tmp:
        args = ["grpc_tools.protoc", f"-I{root}", f"-I{well_known}", f"--python_out={tmp}",
                f"--pyi_out={tmp}", f"--grpc_python_out={tmp}", *files]
        if protoc.main(args) != 0:
            raise SystemExit(f"triad-client: grpc_tools.protoc failed on {root}/{PROTO_GLOB}")
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for f in sorted((Path(tmp) / "triad" / "v1").iterdir()):
            text = GENERATED_IMPORT.sub(rf"from {PACKAGE}.v1 import \1", f.read_text())
            if re.search(r"^(from|import) triad\.", text, re.MULTILINE):
                raise SystemExit(f"triad-client: {f.name} imports triad.* in a form this build does not rewrite")
            (out / f.name).write_text(text)
    (out / "__init__.py").write_text(
        '"""The triad.v1 messages and gRPC stubs, generated from proto/triad/v1 when this package '
        'was built (do not edit)."""\n')
    (package_dir / "_version.py").write_text(
        '"""Written by setup.py when this package was built."""\n'
        f"__version__ = {version()!r}\n"
        f"PROTO_SHA256 = {proto_digest(root)!r}\n"
        f"PROTO_FILES = {tuple(files)!r}\n")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        # An editable install imports from src/ (where git ignores the generated files); any
        # other build packs the build folder.
        base = HERE / "src" if getattr(self, "editable_mode", False) else Path(self.build_lib)
        generate(base / PACKAGE)


class Sdist(sdist):
    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        root = proto_root()
        for rel in proto_files(root):
            target = Path(base_dir) / "proto" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, target)


setup(version=version(), cmdclass={"build_py": BuildPy, "sdist": Sdist})
