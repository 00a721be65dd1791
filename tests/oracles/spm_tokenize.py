"""SentencePiece as the reference tokenizer for GGUF `llama` (SPM) vocabularies.

usage: spm_tokenize.py (--gguf FILE | --vocab VOCAB.json) TEXTS.json

Builds a SentencePiece BPE ModelProto from the vocabulary's pieces, scores and token types
(GGUF `tokenizer.ggml.*`, or a synthetic VOCAB.json with the same fields), encodes each text of
TEXTS.json (a JSON list of strings) and prints one JSON list: per text its ids (BOS prepended
when the vocabulary says add_bos_token), pieces and the decoded text.

Settings that reproduce Gemma 3's ids: identity normalisation (no NFKC), spaces escaped to
U+2581, no dummy prefix unless add_space_prefix, whitespace kept as is, byte fallback.
llama.cpp stores user-defined pieces with real spaces (it matches them before escaping);
SentencePiece matches them after escaping, so they get their U+2581 back here.
"""
import json
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2 as pb

# GGUF token types (llama.cpp's llama_token_type) to SentencePiece piece types.
TYPES = {
    1: pb.ModelProto.SentencePiece.NORMAL,
    2: pb.ModelProto.SentencePiece.UNKNOWN,
    3: pb.ModelProto.SentencePiece.CONTROL,
    4: pb.ModelProto.SentencePiece.USER_DEFINED,
    5: pb.ModelProto.SentencePiece.UNUSED,
    6: pb.ModelProto.SentencePiece.BYTE,
}


def gguf_vocab(path):
    """The `tokenizer.ggml.*` fields of a GGUF file as a VOCAB.json-shaped dict."""
    from gguf import GGUFReader

    r = GGUFReader(path)

    def field(key, default=None):
        f = r.fields.get(key)
        return default if f is None else f.contents()

    return {
        "tokens": field("tokenizer.ggml.tokens"),
        "scores": field("tokenizer.ggml.scores"),
        "token_type": field("tokenizer.ggml.token_type"),
        "bos_token_id": field("tokenizer.ggml.bos_token_id"),
        "eos_token_id": field("tokenizer.ggml.eos_token_id"),
        "unknown_token_id": field("tokenizer.ggml.unknown_token_id"),
        "padding_token_id": field("tokenizer.ggml.padding_token_id"),
        "add_bos_token": field("tokenizer.ggml.add_bos_token", False),
        "add_space_prefix": field("tokenizer.ggml.add_space_prefix", True),
    }


def model_proto(v):
    m = pb.ModelProto()
    t = m.trainer_spec
    t.model_type = pb.TrainerSpec.BPE
    t.vocab_size = len(v["tokens"])
    t.byte_fallback = True
    ids = {"unk": v["unknown_token_id"], "bos": v["bos_token_id"], "eos": v["eos_token_id"],
           "pad": v["padding_token_id"]}
    for k, i in ids.items():
        setattr(t, f"{k}_id", -1 if i is None else i)
        if i is not None:
            setattr(t, f"{k}_piece", v["tokens"][i])
    n = m.normalizer_spec
    n.name = "identity"
    n.add_dummy_prefix = bool(v["add_space_prefix"])
    n.remove_extra_whitespaces = False
    n.escape_whitespaces = True
    for i, (tok, score, ty) in enumerate(zip(v["tokens"], v["scores"], v["token_type"])):
        p = m.pieces.add()
        p.piece = tok.replace(" ", "\u2581") if ty == 4 else tok
        p.score = score
        # SentencePiece wants exactly one UNKNOWN piece; GGUFs often mark <unk> as control.
        p.type = pb.ModelProto.SentencePiece.UNKNOWN if i == ids["unk"] else TYPES[ty]
    return m


def processor(v):
    return spm.SentencePieceProcessor(model_proto=model_proto(v).SerializeToString())


def encode(sp, v, text):
    return sp.encode(text, add_bos=bool(v["add_bos_token"]))


def main(args):
    if len(args) != 3 or args[0] not in ("--gguf", "--vocab"):
        sys.exit(__doc__)
    v = gguf_vocab(args[1]) if args[0] == "--gguf" else json.load(open(args[1]))
    sp = processor(v)
    out = []
    for text in json.load(open(args[2])):
        ids = encode(sp, v, text)
        out.append({"ids": ids, "pieces": [sp.id_to_piece(i) for i in ids], "decoded": sp.decode(ids)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1:])
