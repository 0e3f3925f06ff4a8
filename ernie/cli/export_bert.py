"""Export an ERNIE model as a Hugging Face BERT directory (the inverse of ``ernie.cli.convert_bert``).

Output, as ``transformers`` saves a ``BertModel`` / ``BertForPreTraining``::

    OUT/config.json              model_type bert, hidden_act, layer_norm_eps, sizes
    OUT/model.safetensors        float32, PyTorch layout (Linear weights [out, in])
    OUT/vocab.txt                one token per line, line number = id
    OUT/tokenizer_config.json    BertTokenizer, do_lower_case, model_max_length
    OUT/special_tokens_map.json

ERNIE and BERT compute the same encoder (see ``ernie.cli.convert_bert``).  The
mapping is that converter's, inverted; every fully connected weight is
transposed.  The config carries what BERT would otherwise assume wrongly:
``layer_norm_eps`` (ERNIE's 1e-5, not BERT's 1e-12) and ``hidden_act``
(``relu`` for ERNIE 1.0, ``gelu`` = exact erf gelu, ``gelu_new`` for
``gelu_approx``).

What does not carry over:

* the **task embedding** (ERNIE 2.0 ``use_task_id``): BERT has none.  The
  row of ``--task_id`` is added to every row of ``token_type_embeddings``
  (the two are summed into every token's embedding alike, so the output is
  unchanged up to float rounding) and the other rows are dropped: the
  exported model is the ERNIE model for that one task id.  Converting it back
  with ``ernie.cli.convert_bert`` gives a model without ``task_embedding`` whose
  ``sent_embedding`` holds the sum.
* parameters BERT has no place for (fine-tuning heads such as ``cls_out_w``,
  ERNIE 2.0 task heads, optimizer state): left out and listed.
* ``[PAD]``-row semantics are the same; the padding id is written as ``pad_token_id``.

The pre-training heads (``mask_lm_*``, ``next_sent_fc``) are exported as
``cls.predictions`` / ``cls.seq_relationship`` of a ``BertForPreTraining``
when all are present (``--encoder_only`` drops them).

Command line::

    python -m ernie.cli.export_bert --params_dir P --ernie_config_path C --vocab_path V --output_dir OUT \\
        [--task_id 0] [--do_lower_case true] [--max_seq_len 512] [--encoder_only]
"""
import argparse
import collections
import json
import logging
import os
import struct
import sys

import numpy as np

from ernie.args import number_type, str2bool
from ernie.cli.convert_bert import (BERT_NAMES, ConversionError, atomic_output_dir, check_vocab, read_safetensors,
                                    run_export)
from ernie.cli.convert_paddlenlp import HEAD_PARAMS, read_params_dir, write_token_per_line_vocab
from ernie.config import ErnieConfig
from reader.vocab import load_vocab

logger = logging.getLogger(__name__)

# ERNIE hidden_act -> the HF name of the same function.
HF_ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "tanh": "tanh", "gelu_approx": "gelu_new"}

def bert_name(name, prefix=""):
    """(HF name, transpose?) of an ERNIE parameter; None when BERT has no place for it.

    The inverse of ``ernie.cli.convert_bert.map_bert_name``: both read ``BERT_NAMES`` (a test checks both ways).
    """
    target = BERT_NAMES.theirs(name, prefix)
    return (target, name.endswith(".w_0")) if target else None


def hf_config(config, pad_token_id, with_heads, tied=True):
    """The ``config.json`` dict of the exported BERT."""
    if config.hidden_act not in HF_ACTIVATIONS:
        raise ConversionError("%s: hidden_act %r has no Hugging Face name" % (config.source, config.hidden_act))
    return {
        "architectures": ["BertForPreTraining" if with_heads else "BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": config.attention_probs_dropout_prob,
        "hidden_act": HF_ACTIVATIONS[config.hidden_act],
        "hidden_dropout_prob": config.hidden_dropout_prob,
        "hidden_size": config.hidden_size,
        "initializer_range": config.initializer_range,
        "intermediate_size": config.ffn_size,
        "layer_norm_eps": config.layer_norm_eps,
        "max_position_embeddings": config.max_position_embeddings,
        "num_attention_heads": config.num_attention_heads,
        "num_hidden_layers": config.num_hidden_layers,
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "tie_word_embeddings": tied,
        "type_vocab_size": config.sent_vocab_size,
        "vocab_size": config.vocab_size,
    }


def write_safetensors(path, tensors, metadata=None):
    """Write float32 arrays as a safetensors file (8-byte header length, JSON header, raw little-endian data)."""
    header, offset = collections.OrderedDict(), 0
    if metadata:
        header["__metadata__"] = metadata
    for name, arr in tensors.items():
        nbytes = arr.size * 4
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)   # data aligned to 8 bytes, as the reference writer does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr, dtype="<f4").tobytes())


def bert_tensors(params, config, task_id=0, encoder_only=False):
    """(HF tensors, left_out, with_heads, tied) for ERNIE ``params`` (name -> array)."""
    params = dict(params)
    left_out = []
    if config.use_task_id:
        if not 0 <= task_id < config.task_type_vocab_size:
            raise ConversionError("task_id %d is outside [0, task_type_vocab_size=%d)"
                                  % (task_id, config.task_type_vocab_size))
        task = params.pop("task_embedding")
        params["sent_embedding"] = params["sent_embedding"] + task[task_id][None, :]
        left_out.append("task_embedding (row %d folded into token_type_embeddings)" % task_id)
    heads = [n for n in HEAD_PARAMS if n in params]
    with_heads = not encoder_only and len(heads) == len(HEAD_PARAMS)
    if not encoder_only and heads and not with_heads:
        raise ConversionError("only some pre-training head parameters are present (%s); give --encoder_only"
                              % ", ".join(heads))
    if not with_heads and "mask_lm_out_fc.w_0" in params:
        heads.append("mask_lm_out_fc.w_0")
    if not with_heads:
        for n in heads:
            left_out.append(n)
            del params[n]
    prefix = "bert." if with_heads else ""
    tensors = collections.OrderedDict()
    for name, value in params.items():
        mapped = bert_name(name, prefix)
        if mapped is None:
            left_out.append(name)
            continue
        target, transpose = mapped
        tensors[target] = np.ascontiguousarray(value.T if transpose else value, dtype=np.float32)
    return tensors, left_out, with_heads


def export_bert(params_dir, config, vocab_path, output_dir, task_id=0, do_lower_case=True, max_seq_len=None,
                encoder_only=False, overwrite=False):
    """Write the Hugging Face BERT directory; returns a report dict.  The safetensors file is read back and
    compared value for value before the directory is renamed into place."""
    params, left_out = read_params_dir(params_dir, config)
    if "pooled_fc.w_0" not in params:
        raise ConversionError("%s has no pooled_fc parameters: a BERT checkpoint has a pooler" % params_dir)
    check_vocab(vocab_path, config.vocab_size)
    vocab = load_vocab(vocab_path)
    tensors, more_left_out, with_heads = bert_tensors(params, config, task_id, encoder_only)
    tied = "cls.predictions.decoder.weight" not in tensors
    values = hf_config(config, vocab.get("[PAD]", 0), with_heads, tied=tied)
    tokenizer = {
        "tokenizer_class": "BertTokenizer", "do_lower_case": do_lower_case, "strip_accents": None,
        "tokenize_chinese_chars": True, "model_max_length": max_seq_len or config.max_position_embeddings,
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }
    special = {k: tokenizer[k] for k in ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token")}
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        write_safetensors(os.path.join(tmp, "model.safetensors"), tensors, {"format": "pt"})
        for name, content in (("config.json", values), ("tokenizer_config.json", tokenizer),
                              ("special_tokens_map.json", special)):
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(content, f, indent=2, sort_keys=True)
                f.write("\n")
        write_token_per_line_vocab(vocab_path, os.path.join(tmp, "vocab.txt"))
        back = read_safetensors(os.path.join(tmp, "model.safetensors"))
        bad = [n for n in tensors if n not in back or not np.array_equal(back[n], tensors[n])]
        if bad or len(back) != len(tensors):
            raise ConversionError("model.safetensors read back differs for %s" % (", ".join(bad) or "the tensor set"))
    return {"output_dir": os.path.abspath(output_dir), "tensors": len(tensors),
            "architecture": values["architectures"][0], "left_out": left_out + more_left_out}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export ERNIE params/ as a Hugging Face BERT directory "
                                                 "(config.json, model.safetensors, vocab.txt, tokenizer settings).")
    parser.add_argument("--params_dir", required=True, help="a params/ or checkpoint directory")
    parser.add_argument("--ernie_config_path", required=True)
    parser.add_argument("--vocab_path", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--task_id", type=number_type(int, 0), default=0,
                        help="with use_task_id: the task whose embedding row is folded into token_type_embeddings")
    parser.add_argument("--do_lower_case", type=str2bool, default=True)
    parser.add_argument("--max_seq_len", type=number_type(int, 1),
                        help="tokenizer model_max_length (default: max_position_embeddings)")
    parser.add_argument("--encoder_only", action="store_true", help="leave the pre-training heads out")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def export():
        return export_bert(args.params_dir, ErnieConfig.from_json(args.ernie_config_path), args.vocab_path,
                           args.output_dir, task_id=args.task_id, do_lower_case=args.do_lower_case,
                           max_seq_len=args.max_seq_len, encoder_only=args.encoder_only, overwrite=args.overwrite)
    return run_export(logger, export, lambda report: (report["architecture"], "%d tensors" % report["tensors"]))


if __name__ == "__main__":
    sys.exit(main())
