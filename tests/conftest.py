"""Shared test helpers: tiny configs, static-program building, reference data paths."""
import os

import numpy as np
import pytest

from ernie import _quiet          # before paddle, as the entry points (sets GLOG_minloglevel)
from ernie.config import ErnieConfig

import paddle  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ERNIE_ORIGINAL_DIR: a copy of the original PaddlePaddle/ERNIE repository (its demo data, vocabulary, scripts)
ORIGINAL = os.environ.get("ERNIE_ORIGINAL_DIR") or os.path.join(REPO, "..", "shared", "reference", "original-ernie")


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


REFERENCE_SKIP = "needs the original toolkit's files"


def original_path(*parts):
    """Path into a copy of the original toolkit's repository (``ERNIE_ORIGINAL_DIR``; never part of a clone);
    skips the test when it is absent.  Such tests compare with
    the original's own data or scripts; the end of the test run counts them (pytest_terminal_summary)."""
    path = os.path.join(ORIGINAL, *parts)
    if not os.path.exists(path):
        pytest.skip("%s: %s is absent" % (REFERENCE_SKIP, path))
    return path


def pytest_terminal_summary(terminalreporter):
    """Say how many tests were skipped because the original toolkit's files are absent, and why that is fine."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and REFERENCE_SKIP in str(r.longrepr[2])]
    if skipped:
        terminalreporter.write_line(
            "%d test(s) skipped because they compare with the original ERNIE toolkit's files, expected at %s "
            "(a development-machine reference that a clone does not have); everything else ran."
            % (len(skipped), os.path.normpath(ORIGINAL)))


@pytest.fixture(autouse=True)
def dynamic_mode_after_each_test():
    """Drivers (train.py's run, the fine-tuning runs) switch Paddle to static mode and leave it there, as a
    process would; tests share one process, so each test ends back in dynamic mode, Paddle's default."""
    yield
    if not paddle.in_dynamic_mode():
        paddle.disable_static()


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
