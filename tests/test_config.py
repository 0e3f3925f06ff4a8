"""ErnieConfig: the original JSON files load; bad files give errors naming the file and the key."""
import json
import os

import pytest

from conftest import REPO, original_path
from ernie.config import ConfigError, ErnieConfig

SHIPPED = ["config/ernie_config.json", "script/en_glue/ernie_base/ernie_config.json",
           "script/en_glue/ernie_large/ernie_config.json"]


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_configs_load(path):
    cfg = ErnieConfig.from_json(os.path.join(REPO, path))
    assert cfg.layer_norm_eps == 1e-5 and cfg.ffn_size == 4 * cfg.hidden_size
    assert cfg.use_task_id is False       # absent in the original files -> no task embedding


def test_zh_and_en_values():
    zh = ErnieConfig.from_json(os.path.join(REPO, SHIPPED[0]))
    assert (zh.hidden_size, zh.num_hidden_layers, zh.vocab_size, zh.sent_vocab_size, zh.hidden_act) == \
        (768, 12, 18000, 2, "relu")
    large = ErnieConfig.from_json(os.path.join(REPO, SHIPPED[2]))
    assert (large.hidden_size, large.num_hidden_layers, large.num_attention_heads) == (1024, 24, 16)
    assert large.sent_vocab_size == 4 and large.task_type_vocab_size == 16


@pytest.mark.parametrize("name", ["config/ernie_config.json", "en_base/ernie_config.json",
                                  "en_large/ernie_config.json"])
def test_original_files_load_unchanged(name):
    cfg = ErnieConfig.from_json(original_path(*name.split("/")))
    with open(original_path(*name.split("/"))) as f:
        raw = json.load(f)
    for key, value in raw.items():
        assert cfg[key] == value


def test_sent_type_vocab_size_takes_precedence_and_falls_back():
    base = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, vocab_size=10,
                max_position_embeddings=8, hidden_act="relu")
    assert ErnieConfig(dict(base, type_vocab_size=2)).sent_vocab_size == 2
    assert ErnieConfig(dict(base, type_vocab_size=2, sent_type_vocab_size=4)).sent_vocab_size == 4
    assert ErnieConfig(dict(base, sent_type_vocab_size=3)).sent_vocab_size == 3


def write(tmp_path, values):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(values))
    return str(path)


GOOD = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, vocab_size=10,
            max_position_embeddings=8, hidden_act="relu", type_vocab_size=2)


@pytest.mark.parametrize("change, message", [
    ({"hidden_size": None}, "required key 'hidden_size' is missing"),
    ({"vocab_size": "big"}, "key 'vocab_size' must be an integer"),
    ({"hidden_size": 9}, "not divisible by num_attention_heads"),
    ({"hidden_act": "swish"}, "key 'hidden_act' must be one of"),
    ({"type_vocab_size": None}, "neither 'sent_type_vocab_size' nor 'type_vocab_size'"),
    ({"use_task_id": True}, "'task_type_vocab_size' is missing"),
    ({"hidden_dropout_prob": 1.5}, "key 'hidden_dropout_prob' must be in [0, 1)"),
    ({"num_hidden_layers": 0}, "key 'num_hidden_layers' must be positive"),
    ({"use_task_id": "yes"}, "key 'use_task_id' must be true or false"),
])
def test_bad_values_name_file_and_key(tmp_path, change, message):
    values = dict(GOOD, **change)
    values = {k: v for k, v in values.items() if v is not None}
    path = write(tmp_path, values)
    with pytest.raises(ConfigError) as err:
        ErnieConfig.from_json(path)
    assert path in str(err.value) and message in str(err.value)


def test_unparsable_and_missing_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="error in parsing model config file '%s'" % bad):
        ErnieConfig.from_json(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        ErnieConfig.from_json(str(tmp_path / "nope.json"))
    arr = tmp_path / "arr.json"
    arr.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        ErnieConfig.from_json(str(arr))


def test_extension_keys(tmp_path):
    cfg = ErnieConfig.from_json(write(tmp_path, dict(GOOD, layer_norm_eps=1e-12, intermediate_size=20)))
    assert cfg.layer_norm_eps == 1e-12 and cfg.ffn_size == 20
    cfg.save(str(tmp_path / "again.json"))
    assert ErnieConfig.from_json(str(tmp_path / "again.json")).to_dict() == cfg.to_dict()


def test_check_inputs_names_the_flag_the_limit_and_the_files(tmp_path, caplog):
    cfg = ErnieConfig.from_json(os.path.join(REPO, SHIPPED[0]))          # 513 positions, 18000 ids
    cfg.check_inputs(513, os.path.join(REPO, "config", "vocab.txt"))
    with pytest.raises(ConfigError, match="--max_seq_len 514 exceeds max_position_embeddings 513 of .*ernie_config"):
        cfg.check_inputs(514)
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("".join("t%d\t%d\n" % (i, i) for i in (0, 18000)), encoding="utf-8")
    with pytest.raises(ConfigError, match="vocabulary .*vocab.txt has ids up to 18000 but vocab_size in .* is 18000"):
        cfg.check_inputs(128, str(vocab))
    with_task = cfg.replace(use_task_id=True, task_type_vocab_size=3)
    with_task.check_inputs(128, task_id=2)
    with pytest.raises(ConfigError, match=r"--task_id 3 is outside \[0, task_type_vocab_size=3\)"):
        with_task.check_inputs(128, task_id=3)
    with caplog.at_level("INFO", logger="ernie.config"):
        cfg.check_inputs(128, task_id=1)
    assert "--task_id 1 has no effect" in caplog.text
