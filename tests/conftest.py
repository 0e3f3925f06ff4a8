"""Shared test helpers: tiny configs, static-program building, reference data paths."""
import os

import numpy as np
import pytest

from ernie import _quiet          # before paddle, as the entry points (sets GLOG_minloglevel)
from ernie.config import ErnieConfig

import paddle  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORIGINAL = os.path.join(REPO, "..", "shared", "reference", "original-ernie")


def pytest_configure(config):
    # pytest resets the warning filters around each test: repeat the project's (ernie/_quiet.py).
    for message in _quiet.IGNORED_WARNINGS:
        config.addinivalue_line("filterwarnings", "ignore:%s:UserWarning" % message)


def tiny_config(**overrides):
    values = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=120,
                  max_position_embeddings=64, type_vocab_size=2, hidden_act="gelu",
                  hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, initializer_range=0.02)
    values.update(overrides)
    return ErnieConfig(values, source="<tiny>")


def original_path(*parts):
    """Path into the original toolkit's data (../shared); skips the test when it is absent."""
    path = os.path.join(ORIGINAL, *parts)
    if not os.path.exists(path):
        pytest.skip("original ERNIE reference data not found at %s (../shared is absent)" % path)
    return path


@pytest.fixture
def static_mode():
    """Run the test in static-graph mode with a fresh global scope."""
    paddle.enable_static()
    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        yield scope
    paddle.disable_static()


def random_encoder_feed(config, batch, seq_len, seed=0, lengths=None):
    """Random ids with right padding according to ``lengths`` (default: no padding)."""
    rng = np.random.RandomState(seed)
    lengths = lengths or [seq_len] * batch
    src = rng.randint(1, config.vocab_size, size=(batch, seq_len)).astype("int64")
    mask = np.zeros((batch, seq_len, 1), "float32")
    sent = np.zeros((batch, seq_len), "int64")
    pos = np.zeros((batch, seq_len), "int64")
    for i, n in enumerate(lengths):
        mask[i, :n] = 1.0
        src[i, n:] = 0
        pos[i, :n] = np.arange(n)
        sent[i, n // 2:n] = 1
    feed = dict(src_ids=src, pos_ids=pos, sent_ids=sent, input_mask=mask)
    if config.use_task_id:
        feed["task_ids"] = np.full((batch, seq_len), 1, "int64")
    return feed
