"""Independent numpy reference of a Hugging Face BERT forward pass (float64).

Used to check converted checkpoints: it reads the ``model.safetensors`` file
itself (its own few-line reader) and uses the Hugging Face tensor names
directly.  It deliberately shares no code with ``ernie.cli.convert_bert`` (name
mapping, transposes, safetensors reader) nor with ``ernie.modeling``, so a
mistake in either shows up as a mismatch.

Computation (BERT, post-LN):
    x = LN(word[ids] + pos[0..L-1] + type[types])
    per layer: a = LN(x + Attn(x)); x = LN(a + W2 gelu(W1 a + b1) + b2)
    Attn: softmax(q k^T / sqrt(d) + mask) v per head, mask = -1e9 on padded keys
    pooled = tanh(Wp x[:, 0] + bp)
with PyTorch Linear weights ``[out, in]``: ``y = x @ W.T + b``; gelu is the
exact erf form (``math.erf``).
"""
import json
import math
import os
import struct

import numpy as np

_DT = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path):
    """name -> float64/int array of every tensor of a safetensors file."""
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=_DT[info["dtype"]])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        arr = arr.reshape(info["shape"])
        out[name] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr.astype(np.int64)
    return out


def load_checkpoint(hf_dir):
    """(weights, config) of an HF BERT directory (config.json + model.safetensors)."""
    with open(os.path.join(hf_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return read_safetensors(os.path.join(hf_dir, "model.safetensors")), config


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


class _W:
    """Weight access with or without the ``bert.`` prefix; LayerNorm as weight/bias or gamma/beta."""

    def __init__(self, weights):
        self.w = weights
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def __call__(self, name):
        full = self.prefix + name
        if full in self.w:
            return self.w[full]
        alt = full.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        return self.w[alt]

    def linear(self, x, name):
        return x @ self(name + ".weight").T + self(name + ".bias")


def bert_forward(weights, config, input_ids, token_type_ids=None, attention_mask=None):
    """(sequence_output [B, L, H], pooled_output [B, H]) in float64.

    ``input_ids``/``token_type_ids``: int [B, L]; ``attention_mask``: [B, L]
    with 1 for real tokens and 0 for padding (positions are 0..L-1 for every
    row, as BERT uses them).  Rows at padded positions are computed but
    meaningless.
    """
    W = _W(weights)
    ids = np.asarray(input_ids)
    b, l = ids.shape
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)
    mask = np.ones((b, l)) if attention_mask is None else np.asarray(attention_mask, dtype=np.float64)
    eps = config.get("layer_norm_eps", 1e-12)
    h, n = config["hidden_size"], config["num_attention_heads"]
    d = h // n
    act = {"gelu": gelu, "relu": lambda t: np.maximum(t, 0.0)}[config.get("hidden_act", "gelu")]

    x = (W("embeddings.word_embeddings.weight")[ids] + W("embeddings.position_embeddings.weight")[np.arange(l)][None]
         + W("embeddings.token_type_embeddings.weight")[types])
    x = layer_norm(x, W("embeddings.LayerNorm.weight"), W("embeddings.LayerNorm.bias"), eps)
    key_bias = (1.0 - mask)[:, None, None, :] * -1e9        # [B, 1, 1, L]: padded keys get no weight

    def heads(t):  # [B, L, H] -> [B, n, L, d]
        return t.reshape(b, l, n, d).transpose(0, 2, 1, 3)

    for i in range(config["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        q = heads(W.linear(x, p + "attention.self.query"))
        k = heads(W.linear(x, p + "attention.self.key"))
        v = heads(W.linear(x, p + "attention.self.value"))
        logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + key_bias
        logits -= logits.max(-1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(b, l, h)
        a = layer_norm(x + W.linear(ctx, p + "attention.output.dense"),
                       W(p + "attention.output.LayerNorm.weight"), W(p + "attention.output.LayerNorm.bias"), eps)
        f = W.linear(act(W.linear(a, p + "intermediate.dense")), p + "output.dense")
        x = layer_norm(a + f, W(p + "output.LayerNorm.weight"), W(p + "output.LayerNorm.bias"), eps)
    pooled = np.tanh(W.linear(x[:, 0], "pooler.dense"))
    return x, pooled


def bert_heads(weights, config, sequence_output, pooled_output):
    """BertForPreTraining heads: (MLM logits [B, L, V], NSP logits [B, 2]).

    The MLM decoder uses ``cls.predictions.decoder.weight`` when present,
    else the word embedding (they are tied in BERT).
    """
    act = {"gelu": gelu, "relu": lambda t: np.maximum(t, 0.0)}[config.get("hidden_act", "gelu")]
    eps = config.get("layer_norm_eps", 1e-12)
    w = weights
    t = act(sequence_output @ w["cls.predictions.transform.dense.weight"].T + w["cls.predictions.transform.dense.bias"])
    t = layer_norm(t, w["cls.predictions.transform.LayerNorm.weight"], w["cls.predictions.transform.LayerNorm.bias"], eps)
    decoder = w.get("cls.predictions.decoder.weight", w.get("bert.embeddings.word_embeddings.weight"))
    mlm = t @ decoder.T + w["cls.predictions.bias"]
    nsp = pooled_output @ w["cls.seq_relationship.weight"].T + w["cls.seq_relationship.bias"]
    return mlm, nsp
