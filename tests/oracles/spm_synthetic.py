"""Small SentencePiece BPE models trained here, written as GGUF vocabularies, with their ids.

usage: spm_synthetic.py OUT_DIR TEXTS.json

Trains two tiny BPE models with SentencePiece's own trainer (byte fallback, identity
normalisation, a user-defined and a control symbol; one with a dummy space prefix, one
without), writes each as OUT_DIR/NAME.gguf the way llama.cpp converts a tokenizer.model (pieces,
scores, token types, special ids; user-defined pieces with real spaces) and prints
{NAME: [{"ids": [...], "decoded": "..."}]} for the texts of TEXTS.json, encoded by the trained
model itself (BOS prepended).
"""
import io
import json
import os
import sys

import sentencepiece as spm
from gguf import GGUFWriter
from sentencepiece import sentencepiece_model_pb2 as pb

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a capital city is where the government of a country sits",
    "call me at 555-0123 or email jane.doe@example.com",
    "numbers like 1234 and 98765 appear in invoices and addresses",
    "Größe, naïve café and résumé are words with accents",
    "indentation    uses    runs of spaces\tand tabs",
    "<tag> marks a user symbol, then the sentence goes on",
]


def train(prefix):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 20), model_writer=model, model_type="bpe",
        vocab_size=420, byte_fallback=True, character_coverage=0.995,
        normalization_rule_name="identity", add_dummy_prefix=prefix,
        remove_extra_whitespaces=False, user_defined_symbols=["<tag>"],
        control_symbols=["<ctrl>"], bos_id=1, eos_id=2, unk_id=0, pad_id=3,
        allow_whitespace_only_pieces=True, split_digits=True, minloglevel=2)
    return model.getvalue()


def write_gguf(path, proto_bytes, prefix):
    m = pb.ModelProto()
    m.ParseFromString(proto_bytes)
    types = {pb.ModelProto.SentencePiece.NORMAL: 1, pb.ModelProto.SentencePiece.UNKNOWN: 2,
             pb.ModelProto.SentencePiece.CONTROL: 3, pb.ModelProto.SentencePiece.USER_DEFINED: 4,
             pb.ModelProto.SentencePiece.UNUSED: 5, pb.ModelProto.SentencePiece.BYTE: 6}
    tokens, scores, toktypes = [], [], []
    for p in m.pieces:
        ty = types[p.type]
        tokens.append(p.piece.replace("\u2581", " ") if ty == 4 else p.piece)
        scores.append(p.score)
        toktypes.append(ty)
    w = GGUFWriter(path, arch="llama")
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(toktypes)
    w.add_unk_token_id(m.trainer_spec.unk_id)
    w.add_bos_token_id(m.trainer_spec.bos_id)
    w.add_eos_token_id(m.trainer_spec.eos_id)
    w.add_pad_token_id(m.trainer_spec.pad_id)
    w.add_add_bos_token(True)
    w.add_add_space_prefix(prefix)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(out_dir, texts_path):
    os.makedirs(out_dir, exist_ok=True)
    texts = json.load(open(texts_path))
    out = {}
    for name, prefix in (("prefix", True), ("no_prefix", False)):
        proto = train(prefix)
        write_gguf(os.path.join(out_dir, f"{name}.gguf"), proto, prefix)
        sp = spm.SentencePieceProcessor(model_proto=proto)
        out[name] = [{"ids": sp.encode(t, add_bos=True), "decoded": sp.decode(sp.encode(t))}
                     for t in texts]
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
