"""Reference numbers for Gemma 3 imported by `triad model import-gguf`, from one transformers load.

usage: gemma3_reference.py GGUF_FILE TEXTS.json OUT_DIR [FOLDER]

Loads the GGUF with transformers' own GGUF reader (an independent dequantiser) in fp32 and writes:
- OUT_DIR/state_dict.safetensors: every `model.*` tensor of `model.state_dict()`;
- OUT_DIR/reference.json: per text of TEXTS.json (a JSON list of strings) the SentencePiece ids
  (see spm_tokenize.py), per-token log-probs of those ids (null for the first), and the greedy
  continuation of the first text (ids and text, 8 tokens), plus the loaded config; with FOLDER
  (the imported Hugging Face folder), also the log-probs of that folder loaded by transformers.

transformers' GGUF *tokenizer* conversion for gemma3 is not used: it drops BOS and splits words.
"""
import json
import os
import sys

import torch
import transformers as T
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spm_tokenize  # noqa: E402


def logprobs(model, ids):
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]


def main(gguf, texts_path, out_dir, folder=None):
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(out_dir, exist_ok=True)
    vocab = spm_tokenize.gguf_vocab(gguf)
    sp = spm_tokenize.processor(vocab)
    model = T.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf),
        dtype=torch.float32).eval()
    # lm_head is tied to the embedding (safetensors refuses shared storage anyway).
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if k.startswith("model.")}
    save_file(sd, os.path.join(out_dir, "state_dict.safetensors"))
    texts = json.load(open(texts_path))
    report = {"config": model.config.to_dict(), "texts": []}
    for text in texts:
        ids = spm_tokenize.encode(sp, vocab, text)
        report["texts"].append({"text": text, "ids": ids, "logprobs": logprobs(model, ids)})
    prompt = torch.tensor([report["texts"][0]["ids"]])
    with torch.no_grad():
        out = model.generate(input_ids=prompt, max_new_tokens=8, do_sample=False)
    new = out[0, prompt.shape[1]:].tolist()
    report["greedy"] = {"ids": new, "text": sp.decode(new)}
    if folder:
        del model
        imported = T.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        for t in report["texts"]:
            t["folder_logprobs"] = logprobs(imported, t["ids"])
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(report, f, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
