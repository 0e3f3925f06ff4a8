"""Helpers shared by the conversion / export tests: random releases, ernie_encoder outputs, text data."""
import json
import os

import numpy as np

from ernie.cli.convert_bert import release_shapes, write_release
from ernie.config import ErnieConfig
from ernie.tensor_file import read_tensor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZH_VOCAB = os.path.join(REPO, "config", "vocab.txt")           # token<TAB>id, ERNIE 1.0 Chinese
EN_VOCAB = os.path.join(REPO, "tests", "fixtures", "vocab_tiny.txt")  # one token per line

ZH_TEXTS = [("我们爱学习", "今天天气很好"), ("中国的首都是北京", "你好"), ("百度", "")]
EN_TEXTS = [("the quick brown fox", "jumps over the lazy dog"), ("a dog", "the fox"), ("quick", "")]

# ERNIE 1.0 (relu, two sentence types) and ERNIE 2.0 (gelu, four sentence types, task embedding)
# shapes at a tiny width; the base-size counterparts are in bench/interop_check.py.
TINY_ERNIE1 = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=3909,
                   max_position_embeddings=64, type_vocab_size=2, hidden_act="relu",
                   hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)
TINY_ERNIE2 = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=70,
                   max_position_embeddings=64, sent_type_vocab_size=4, use_task_id=True, task_type_vocab_size=3,
                   hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
                   initializer_range=0.02)


def random_params(config, seed=0, heads=True, scale=0.1):
    """name -> float32 array for every parameter of ``config`` (values far from an initialisation's)."""
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in release_shapes(config, heads).items():
        value = rng.normal(0.0, scale, size=shape)
        if name.endswith("_scale"):
            value += 1.0
        params[name] = value.astype(np.float32)
    return params


def make_release(path, config_values, vocab, seed=0, heads=True):
    """A release directory (params/, ernie_config.json, vocab.txt) with random weights; returns the config."""
    config = ErnieConfig(config_values)
    write_release(str(path), random_params(config, seed, heads), config_values, vocab)
    return ErnieConfig.from_json(os.path.join(str(path), "ernie_config.json"))


# The two kinds of release the interop tests cover: (model values, vocabulary, texts, pre-training heads, task id)
# -- an ERNIE 1.0 Chinese model with its heads, and an ERNIE 2.0 English encoder read with a non-zero task id.
RELEASE_CASES = {
    "ernie1_zh_heads": (TINY_ERNIE1, ZH_VOCAB, ZH_TEXTS, True, 0),
    "ernie2_en_task": (TINY_ERNIE2, EN_VOCAB, EN_TEXTS, False, 2),
}


def case_release(tmp_path, case, seed):
    """A random release of ``RELEASE_CASES[case]`` in tmp_path/release -> (release, config, texts, heads, task_id)."""
    values, vocab, texts, heads, task_id = RELEASE_CASES[case]
    release = tmp_path / "release"
    return release, make_release(release, values, vocab, seed=seed, heads=heads), texts, heads, task_id


def write_texts(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text_a\ttext_b\n")
        for a, b in texts:
            f.write("%s\t%s\n" % (a, b))
    return str(path)


def encoder_outputs(release, data, task_id=0, max_seq_len=32, do_lower_case=True):
    """(pooled [N,H], per-example token vectors [len_i,H] list, seq_lens, token id rows) of ernie_encoder.py."""
    import paddle

    from ernie.cli.embed import extract_embeddings
    from reader.task_reader import ExtractEmbeddingReader
    config = ErnieConfig.from_json(os.path.join(release, "ernie_config.json"))
    vocab = os.path.join(release, "vocab.txt")
    was_dynamic = paddle.in_dynamic_mode()
    try:
        cls_emb, top, lens = extract_embeddings(config, os.path.join(release, "params"), data, vocab,
                                                max_seq_len=max_seq_len, batch_size=2, task_id=task_id,
                                                do_lower_case=do_lower_case, progress=False)
    finally:
        if was_dynamic:
            paddle.disable_static()
    reader = ExtractEmbeddingReader(vocab, max_seq_len=max_seq_len, do_lower_case=do_lower_case, task_id=task_id)
    ids, types = [], []
    for batch in reader.data_generator(data, 8, epoch=1, shuffle=False, phase="encode")():
        for i, n in enumerate(batch["seq_lens"]):
            ids.append(batch["src_ids"][i, :n].tolist())
            types.append(batch["sent_ids"][i, :n].tolist())
    return cls_emb, np.split(top, np.cumsum(lens)[:-1]), lens, ids, types


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_params(params_dir):
    """{name: array} of every tensor file in a params/ directory."""
    return {n: read_tensor(os.path.join(params_dir, n)) for n in sorted(os.listdir(params_dir))}
