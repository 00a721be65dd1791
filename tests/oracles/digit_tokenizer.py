"""A small byte-level BPE tokenizer (vocabulary ~400) that gives every digit its own token, as
SmolLM2's, Llama's and Qwen's do, trained on the given text files: fast exposure tests.

usage: digit_tokenizer.py OUT.json TEXT_FILE...
"""
import json
import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

out, *files = sys.argv[1:]
texts = []
for f in files:
    for line in open(f, encoding="utf-8"):
        line = line.strip()
        if line:
            texts.append(json.loads(line)["text"])
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.Sequence(
    [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
tok.train_from_iterator(texts, trainer)
tok.save(out)
