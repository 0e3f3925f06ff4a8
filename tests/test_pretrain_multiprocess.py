"""train.py launched as two CPU processes: ranks whose data ends at different steps stop together."""
import json
import os
import sys

from conftest import REPO
from demo_data import demo_filelist
from test_distributed import _run


def test_uneven_shards_stop_together_without_hanging(tmp_path):
    # One data file shared by two trainers (line i -> rank i % 2): 5 lines in batches of 2 samples
    # give rank 0 two batches and rank 1 one; without agreement rank 0 would block in its second
    # gradient all-reduce forever.
    train_filelist = demo_filelist(tmp_path, "train", 5)
    config = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, vocab_size=3909,
                  max_position_embeddings=130, type_vocab_size=2, hidden_act="relu")
    (tmp_path / "config.json").write_text(json.dumps(config))
    log_dir = str(tmp_path / "log")
    _run([sys.executable, "-m", "paddle.distributed.launch", "--nproc_per_node", "2", "--max_restart", "0",
          "--log_dir", log_dir, os.path.join(REPO, "train.py"),
          "--ernie_config_path", str(tmp_path / "config.json"), "--vocab_path", os.path.join(REPO, "config", "vocab.txt"),
          "--train_filelist", train_filelist, "--valid_filelist", "",
          "--in_tokens", "false", "--batch_size", "2", "--epoch", "1", "--max_seq_len", "128",
          "--num_train_steps", "50", "--skip_steps", "1", "--save_steps", "1000",
          "--checkpoints", str(tmp_path / "ckpt"), "--use_cuda", "false"], log_dir, timeout=120)
    with open(os.path.join(log_dir, "workerlog.0"), encoding="utf-8", errors="replace") as f:
        rank0 = f.read()
    assert "another rank's training data is exhausted: all ranks stop at step 1" in rank0
    with open(tmp_path / "ckpt" / "step_1" / "train_state.json", encoding="utf-8") as f:
        assert json.load(f)["step"] == 1
