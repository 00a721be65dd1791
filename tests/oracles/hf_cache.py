"""Lay a model out in a Hugging Face hub cache the way huggingface_hub does, and ask
huggingface_hub itself (offline) where each revision resolves.

usage: hf_cache.py CACHE_DIR MODEL_DIR REPO_ID

Two commits: the older one is tagged `v1.0`, the newer one is `main`. Files are content-addressed
blobs; snapshot entries are relative symbolic links into blobs/, as on a real machine.
Writes CACHE_DIR/expected.json: revision -> the snapshot folder huggingface_hub returns.
"""
import hashlib
import json
import os
import sys

from huggingface_hub import snapshot_download

cache, model, repo = sys.argv[1:4]
root = os.path.join(cache, "models--" + repo.replace("/", "--"))
os.makedirs(os.path.join(root, "blobs"), exist_ok=True)
os.makedirs(os.path.join(root, "refs"), exist_ok=True)


def add_commit(commit, files):
    snap = os.path.join(root, "snapshots", commit)
    os.makedirs(snap, exist_ok=True)
    for name, data in files.items():
        blob = hashlib.sha256(data).hexdigest()
        with open(os.path.join(root, "blobs", blob), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", blob), os.path.join(snap, name))


files = {n: open(os.path.join(model, n), "rb").read() for n in os.listdir(model)
         if os.path.isfile(os.path.join(model, n))}
old = dict(files)
cfg = json.loads(files["config.json"])
cfg["_triad_test_revision"] = "v1.0"
old["config.json"] = json.dumps(cfg).encode()
commit_old = hashlib.sha1(b"old").hexdigest()
commit_new = hashlib.sha1(b"new").hexdigest()
add_commit(commit_old, old)
add_commit(commit_new, files)
with open(os.path.join(root, "refs", "main"), "w") as f:
    f.write(commit_new)
with open(os.path.join(root, "refs", "v1.0"), "w") as f:
    f.write(commit_old)

expected = {}
for rev in ["main", "v1.0", commit_old]:
    expected[rev] = snapshot_download(repo, revision=rev, cache_dir=cache, local_files_only=True)
expected["commits"] = {"old": commit_old, "new": commit_new}
with open(os.path.join(cache, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
