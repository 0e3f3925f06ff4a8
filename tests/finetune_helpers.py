"""Helpers shared by the fine-tuning tests (classification, sequence labelling, reading comprehension)."""
import contextlib
import json
import logging
import os
import re
import shutil

import paddle

from ernie.checkpoint import save_checkpoint
from ernie.cli.embed import build_encoder_program
from ernie.config import ErnieConfig


class Logs(logging.Handler):
    """Collects the formatted messages of every log record."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def matching(self, pattern):
        """The match objects of ``pattern`` (a regex or a string) in the messages, in order."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        return [m for m in (pattern.search(x) for x in self.messages) if m]


@contextlib.contextmanager
def capture_logs():
    """Root-logger INFO records while the block runs; static mode is left off afterwards (an entry point
    that failed half-way may have left it on)."""
    handler, root = Logs(), logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        paddle.disable_static()


def save_random_params(config, params_dir, seed=3):
    """Initialise the encoder of ``config`` (an ErnieConfig) from ``seed`` and save it as a params directory."""
    paddle.enable_static()
    try:
        main, startup, *_ = build_encoder_program(config)
        scope = paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            paddle.seed(seed)
            paddle.static.Executor(paddle.CPUPlace()).run(startup)
        save_checkpoint(params_dir, main, scope=scope, params_only=True)
    finally:
        paddle.disable_static()


def make_model(root, vocab, vocab_size, max_len=64, dropout=0.1):
    """A random tiny ERNIE (2 layers, hidden 32) as a release dir: params/, vocab.txt, ernie_config.json."""
    os.makedirs(root, exist_ok=True)
    cfg = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=vocab_size,
               max_position_embeddings=max_len, type_vocab_size=2, hidden_act="gelu", hidden_dropout_prob=dropout,
               attention_probs_dropout_prob=dropout, initializer_range=0.02)
    with open(os.path.join(root, "ernie_config.json"), "w") as f:
        json.dump(cfg, f)
    shutil.copyfile(vocab, os.path.join(root, "vocab.txt"))
    save_random_params(ErnieConfig(cfg), os.path.join(root, "params"))
    return str(root)
