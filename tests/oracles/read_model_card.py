"""Read model cards the way the Hugging Face Hub does (huggingface_hub.ModelCard) and print,
for each README.md given, its metadata as JSON: one object per line. NaN (YAML .nan) and
infinities are written as null, as Triad's cards have none."""
import json
import math
import sys

from huggingface_hub import ModelCard


def clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x


for path in sys.argv[1:]:
    card = ModelCard.load(path)
    print(json.dumps(clean(card.data.to_dict())))
