"""Issue 12, items 6 and 9-12: bad input is a clear error naming file and reason before any work starts,
or a counted, reported skip with file and line."""
import gzip
import json
import os
import sys

import pytest
from conftest import REPO, tiny_config

from ernie.args import reports_errors
from ernie.cli.pretrain import parse_args, run
from ernie.config import ConfigError, ErnieConfig
from ernie.scheduler import ScheduleError
from reader.files import read_json, read_text_lines
from reader.pretraining import DataFileError, read_filelist
from reader.task_reader import DataError, load_label_map, read_tsv
from reader.vocab import VocabError, load_vocab

sys.path.insert(0, os.path.join(REPO, "tests"))
import kill_during_training  # noqa: E402
from demo_data import TINY_DEMO_CONFIG  # noqa: E402

VOCAB = os.path.join(REPO, "config", "vocab.txt")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return kill_during_training.make_data(str(tmp_path_factory.mktemp("strict_data")), lines=40)


def argv(data, ckpt, steps, *extra):
    return kill_during_training.train_cmd(data, str(ckpt), steps)[2:] + [str(x) for x in extra]


def write_gz(path, lines):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(lines)
    return path


# --------------------------------------------------------------------------- item 9: config keys and flags
def test_unknown_config_key_names_the_closest_one(tmp_path):
    values = dict(tiny_config().to_dict(), hiden_dropout_prob=0.3)
    with pytest.raises(ConfigError, match="unknown key 'hiden_dropout_prob' \\(did you mean 'hidden_dropout_prob'"):
        ErnieConfig(values, source="x.json")
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(dict(TINY_DEMO_CONFIG)).replace('"initializer_range": 0.02',
                                                                          '"initializer_range": NaN'))
    with pytest.raises(ConfigError, match="'initializer_range' must be a finite number"):
        ErnieConfig.from_json(str(path))


@pytest.mark.parametrize("flag,value,message", [
    ("--do_test", "flase", "'flase' is not a boolean"),
    ("--in_tokens", "yes", "'yes' is not a boolean"),
    ("--warmup_steps", "-5", "must be >= 0, got -5"),
    ("--learning_rate", "nan", "'nan' is not a finite number"),
    ("--epoch", "0", "must be >= 1, got 0"),
    ("--max_bad_line_ratio", "2", "must be <= 1, got 2"),
])
def test_flags_are_checked(flag, value, message, capsys):
    with pytest.raises(SystemExit):
        parse_args(["--train_filelist", "x", flag, value])
    assert message in capsys.readouterr().err
    assert parse_args(["--do_test", "TRUE", "--in_tokens", "0"]).do_test is True


@pytest.mark.parametrize("weight", ["nan", "-7", "inf"])
def test_filelist_weight_must_be_a_probability(tmp_path, weight):
    gz = write_gz(tmp_path / "a.gz", ["1 2;0 0;0 1;0 0;0\n"])
    (tmp_path / "list").write_text("%s\t%s\n" % (gz, weight))
    with pytest.raises(DataFileError, match=r"list:1: mask_word_prob .* must be a finite number >= 0"):
        read_filelist(str(tmp_path / "list"))


# --------------------------------------------------------------------------- item 11: ids outside the tables
def test_ids_outside_the_embedding_tables_are_counted_skips(data, tmp_path, caplog):
    with gzip.open(os.path.join(data, "demo_train_set.gz"), "rt", encoding="utf-8") as f:
        good = f.readlines()
    fields = good[0].rstrip("\n").split(";")
    n = len(fields[0].split())
    bad_pos = ";".join([fields[0], fields[1], " ".join(["200"] * n), fields[3], fields[4]]) + "\n"
    bad_sent = ";".join([fields[0], " ".join(["5"] * n), fields[2], fields[3], fields[4]]) + "\n"
    bad_seg = ";".join([fields[0], fields[1], fields[2], " ".join(["9"] * n), fields[4]]) + "\n"
    gz = write_gz(tmp_path / "mixed.gz", [bad_pos] + good + [bad_sent, bad_seg])
    (tmp_path / "list").write_text("%s\t1.1\n" % gz.name.replace("mixed.gz", str(gz)))
    caplog.set_level("INFO")
    trainer = run(parse_args(argv(data, tmp_path / "c", 3, "--train_filelist", tmp_path / "list",
                                  "--max_bad_line_ratio", "0.2")))
    assert trainer.step == 3
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "%s:1: skipped line (id_out_of_table): position id 200 >= max_position_embeddings 130" % gz in text
    assert "%s:%d: skipped line (id_out_of_table): sentence_type id 5 >= the 2 rows" % (gz, len(good) + 2) in text
    assert "%s:%d: skipped line (bad_seg_label): seg_label 9" % (gz, len(good) + 3) in text


# --------------------------------------------------------------------------- item 10: empty training data
def test_empty_training_data_is_an_error(data, tmp_path):
    gz = write_gz(tmp_path / "empty.gz", [])
    (tmp_path / "list").write_text("%s\t1.1\n" % gz)
    with pytest.raises(ScheduleError, match=r"task knowledge_masking: a whole pass over .*list produced no batch"):
        run(parse_args(argv(data, tmp_path / "c", 3, "--train_filelist", tmp_path / "list")))
    assert not (tmp_path / "c").exists()


def test_header_only_training_tsv_is_an_error(tmp_path):
    from finetune_helpers import make_model

    from ernie.cli.finetune.classifier import parse_args as ft_parse, run as ft_run
    fix = os.path.join(REPO, "tests", "fixtures", "finetune")
    model = make_model(tmp_path / "model", os.path.join(fix, "vocab.txt"), 260)
    (tmp_path / "train.tsv").write_text("text_a\tlabel\n")
    args = ft_parse(["--use_cuda", "false", "--for_cn", "false", "--ernie_config_path",
                     os.path.join(model, "ernie_config.json"), "--vocab_path", os.path.join(model, "vocab.txt"),
                     "--train_set", str(tmp_path / "train.tsv"), "--do_val", "false", "--do_test", "false",
                     "--checkpoints", str(tmp_path / "c"), "--max_seq_len", "32", "--batch_size", "4"])
    with pytest.raises(DataError, match="train.tsv holds no example"):
        ft_run(args)


# --------------------------------------------------------------------------- items 6, 12: files
@pytest.mark.parametrize("text,message", [
    ("[PAD]\n[CLS]\n[SEP]\nhello\n[CLS]\n", r"vocab.txt:5: token '\[CLS\]' is already on line 2"),
    ("[PAD]\t0\n[CLS]\t1\nhello\t2\nworld\t1\n", r"vocab.txt:4: id 1 of 'world' is already the id of line 2"),
])
def test_a_vocabulary_giving_a_token_two_ids_or_an_id_two_tokens_is_an_error(tmp_path, text, message):
    # the original let the later line win: an id left without its token, or decoded as the wrong one
    (tmp_path / "vocab.txt").write_text(text, encoding="utf-8")
    with pytest.raises(VocabError, match=message):
        load_vocab(str(tmp_path / "vocab.txt"))
    (tmp_path / "ok.txt").write_text("[PAD]\t0\n[CLS]\t5\nhello\t2\n", encoding="utf-8")
    assert load_vocab(str(tmp_path / "ok.txt")) == {"[PAD]": 0, "[CLS]": 5, "hello": 2}
    (tmp_path / "blank.txt").write_text("[PAD]\n\n[CLS]\n \n", encoding="utf-8")      # blank lines may repeat
    assert load_vocab(str(tmp_path / "blank.txt"))["[CLS]"] == 2


def test_label_map_with_a_shared_id_is_an_error(tmp_path):
    (tmp_path / "map.json").write_text('{"neg": 1, "pos": 1, "mid": 0}')
    with pytest.raises(DataError, match=r"several labels one id \('neg', 'pos' -> 1\)"):
        load_label_map(str(tmp_path / "map.json"))


def test_directories_and_fifos_are_refused_as_inputs(tmp_path):
    with pytest.raises(VocabError, match="vocabulary file %s is a directory" % tmp_path):
        load_vocab(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is not a regular file"):      # would block forever when opened
        read_tsv(str(fifo))
    with pytest.raises(VocabError, match="is not a regular file"):
        load_vocab(str(fifo))
    with pytest.raises(ConfigError, match="is not a regular file"):
        ErnieConfig.from_json(str(fifo))
    (tmp_path / "list").write_text("%s\t0.5\n" % fifo)
    with pytest.raises(DataFileError, match="list:1: data file .*fifo is not a regular file"):
        read_filelist(str(tmp_path / "list"))


def test_output_paths_are_checked_before_any_compute(tmp_path, capsys):
    from ernie.cli import embed
    from ernie.cli.finetune import predict
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(SystemExit, match="--output_dir .*a_file/out cannot be created: .*a_file is a file"):
        embed.main(["--ernie_config_path", "none.json", "--init_pretraining_params", "p", "--data_set", "d",
                      "--vocab_path", VOCAB, "--output_dir", str(tmp_path / "a_file" / "out"), "--use_cuda", "false"])
    ckpt = tmp_path / "step_1"
    ckpt.mkdir()
    with pytest.raises(SystemExit, match="--output %s is a directory" % tmp_path):
        predict.main(["--init_checkpoint", str(ckpt), "--predict_set", "x.tsv", "--output", str(tmp_path),
                      "--use_cuda", "false"])
    from ernie.checkpoint import CheckpointError, claim_checkpoint_dir
    with pytest.raises(CheckpointError, match="checkpoint directory .*a_file cannot be created"):
        claim_checkpoint_dir(str(tmp_path / "a_file"))


def test_encoder_input_without_rows_is_an_error(tmp_path):
    from finetune_helpers import make_model

    from ernie.cli import embed
    fix = os.path.join(REPO, "tests", "fixtures", "finetune")
    model = make_model(tmp_path / "model", os.path.join(fix, "vocab.txt"), 260)    # real params: only the
    (tmp_path / "in.tsv").write_text("text_a\n")                                   # empty input is wrong
    with pytest.raises(DataError, match="in.tsv holds no example to encode"):
        embed.extract_embeddings(ErnieConfig.from_json(os.path.join(model, "ernie_config.json")),
                                   os.path.join(model, "params"), str(tmp_path / "in.tsv"),
                                   os.path.join(model, "vocab.txt"), max_seq_len=32)


# --------------------------------------------------------------------------- item 9: the offline data tools
@pytest.mark.parametrize("tool,flag,value,message", [
    ("build_pretrain_data", "--dupe_factor", "0", "must be >= 1, got 0"),
    ("build_pretrain_data", "--positive_ratio", "1.5", "must be <= 1, got 1.5"),
    ("build_pretrain_data", "--short_seq_prob", "-0.1", "must be >= 0, got -0.1"),
    ("build_pretrain_data", "--max_seq_len", "4", "must be >= 5, got 4"),
    ("build_pretrain_data", "--num_valid_docs", "-1", "must be >= 0, got -1"),
    ("build_pretrain_data", "--min_count", "0", "must be >= 1, got 0"),
    ("build_pretrain_data", "--max_vocab_size", "3", "must be >= 5, got 3"),
    ("build_pretrain_data", "--do_lower_case", "flase", "'flase' is not a boolean"),
    ("build_task_data", "--dupe_factor", "0", "must be >= 1, got 0"),
    ("build_task_data", "--mask_word_prob", "nan", "'nan' is not a finite number"),
    ("build_task_data", "--mask_word_prob", "2", "must be <= 1, got 2"),
    ("build_task_data", "--max_samples", "-5", "must be >= 0, got -5"),
    ("build_task_data", "--max_valid_samples", "-1", "must be >= 0, got -1"),
    ("build_task_data", "--num_sent_types", "0", "must be >= 1, got 0"),
    ("build_task_data", "--max_seq_len", "0", "must be >= 3, got 0"),
    ("build_task_data", "--attach_token_labels", "yes", "'yes' is not a boolean"),
])
def test_data_tool_flags_are_checked_before_any_work(tmp_path, capsys, tool, flag, value, message):
    import importlib
    module = importlib.import_module("ernie.prepare." + tool)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("一句话。\n另一句话。\n\n第二篇。\n还有一句。\n", encoding="utf-8")
    out = tmp_path / "out"
    common = ["--vocab_path", VOCAB, flag, value]
    argv = (["--input", str(corpus), "--output", str(out)] if tool == "build_pretrain_data"
            else ["--corpus", str(corpus), "--output_dir", str(out)]) + common
    if flag == "--num_valid_docs":
        argv += ["--valid_output", str(tmp_path / "valid.gz")]
    with pytest.raises(SystemExit) as e:
        module.main(argv)
    assert e.value.code == 2
    assert "argument %s: %s" % (flag, message) in capsys.readouterr().err
    assert not out.exists()


def test_a_tool_reports_its_errors_without_a_traceback_and_keeps_defects_loud(capsys):
    @reports_errors(VocabError, OSError)
    def main(argv=None):
        if argv == ["bad"]:
            raise VocabError("vocab.txt line 3: empty token")
        if argv == ["defect"]:
            raise KeyError("a bug")
        return None if argv is None else 5
    assert main(["bad"]) == 1
    assert capsys.readouterr().err == "error: vocab.txt line 3: empty token\n"
    assert main() == 0 and main(["other"]) == 5          # main's own status otherwise (None: 0)
    with pytest.raises(KeyError):
        main(["defect"])                                  # not an error of the listed kinds: a traceback
    assert main.__name__ == "main"


def test_a_data_tool_names_the_bad_file_and_exits_1(tmp_path, capsys):
    from ernie.prepare import build_pretrain_data
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("一句话。\n另一句话。\n", encoding="utf-8")
    bad_vocab = tmp_path / "vocab.txt"
    bad_vocab.write_text("[PAD]\t0\n[PAD]\t1\n", encoding="utf-8")
    out = tmp_path / "out.gz"
    assert build_pretrain_data.main(["--input", str(corpus), "--output", str(out), "--vocab_path", str(bad_vocab)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(bad_vocab) in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("module,argv,message", [
    ("ernie.cli.inference", ["--model_dir", "m", "--predict_set", "p", "--batch_size", "0"], "must be >= 1, got 0"),
    ("ernie.cli.inference", ["--model_dir", "m", "--predict_set", "p", "--cpu_threads", "-2"], "must be >= 1, got -2"),
    ("ernie.cli.export_bert", ["--params_dir", "p", "--ernie_config_path", "c", "--vocab_path", "v",
                           "--output_dir", "o", "--task_id", "-1"], "must be >= 0, got -1"),
    ("ernie.cli.export_inference", ["--init_checkpoint", "c", "--output_dir", "o", "--max_seq_len", "0"],
     "must be >= 1, got 0"),
    ("ernie.cli.convert_paddlenlp", ["from_paddlenlp", "--paddlenlp_dir", "d", "--output_dir", "o",
                                 "--layer_norm_eps=-1e-5"], "must be >= 0, got -1e-5"),
])
def test_model_tool_flags_are_checked(capsys, module, argv, message):
    import importlib
    with pytest.raises(SystemExit) as e:
        importlib.import_module(module).main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def call_unblocked(fn, fifo, timeout=20):
    """``fn()``'s exception (None when it returned); a call still blocked after ``timeout`` s (opening or
    reading the FIFO) is released by writing EOF into the FIFO, and the test fails."""
    import threading
    box = {}

    def target():
        try:
            fn()
        except Exception as e:       # noqa: BLE001 -- handed to the test
            box["error"] = e
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        with open(fifo, "w"):        # the blocked reader gets an empty file
            pass
        t.join(timeout)
        pytest.fail("%s blocked on the FIFO %s" % (fn, fifo))
    return box.get("error")


def test_mrc_reader_refuses_directories_and_fifos(tmp_path):
    from ernie.cli.finetune.mrc import file_has_answers
    from reader.mrc_reader import read_squad_file
    fifo = tmp_path / "squad.json"
    os.mkfifo(fifo)
    for fn in (lambda: read_squad_file(str(fifo)), lambda: file_has_answers(str(fifo))):
        error = call_unblocked(fn, fifo)
        assert isinstance(error, DataError) and "data file %s is not a regular file" % fifo in str(error), error
    with pytest.raises(DataError, match="data file %s is a directory" % tmp_path):
        read_squad_file(str(tmp_path))


def test_json_files_are_read_with_errors_naming_file_and_reason(tmp_path):
    """reader.files.read_json, the one reader of the JSON inputs of the conversion, inference and corpus tools."""
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(str(tmp_path / "ok.json"), expect=dict) == {"a": 1}
    with pytest.raises(ConfigError, match=r"model config .*absent.json does not exist \(run the fetch first\)"):
        read_json(str(tmp_path / "absent.json"), "model config", ConfigError, missing_hint="run the fetch first")
    with pytest.raises(ConfigError, match="is a directory"):
        read_json(str(tmp_path), "model config", ConfigError)
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(ConfigError, match="bad.json is not valid UTF-8 JSON"):
        read_json(str(tmp_path / "bad.json"), "model config", ConfigError)
    (tmp_path / "latin1.json").write_bytes('"caf\xe9"'.encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.json is not valid UTF-8 JSON"):
        read_json(str(tmp_path / "latin1.json"), "model config", ConfigError)
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="list.json must hold a JSON object, got list"):
        read_json(str(tmp_path / "list.json"), "model config", ConfigError, expect=dict)


def test_text_lines_are_read_with_errors_naming_file_and_reason(tmp_path):
    """reader.files.read_text_lines, the one line reader of the preparation tools' text inputs."""
    (tmp_path / "t.txt").write_bytes(b"a\r\nb\rc\n\nd\n")
    assert read_text_lines(str(tmp_path / "t.txt")) == ["a", "b\rc", "", "d"]   # CRLF ends, a lone CR stays
    (tmp_path / "u.txt").write_bytes(b"x")
    assert read_text_lines(str(tmp_path / "u.txt")) == ["x"]
    with pytest.raises(DataError, match=r"source file .*absent.txt does not exist"):
        read_text_lines(str(tmp_path / "absent.txt"), "source file", DataError)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt: not UTF-8 text"):
        read_text_lines(str(tmp_path / "latin1.txt"), "source file", DataError)
