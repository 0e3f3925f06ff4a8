"""The fine-tuning flag sets: each driver's --help shows its own flags, grouped; the others' are accepted,
hidden and reported when set; --for_cn follows the vocabulary when not given."""
import re

import pytest

from ernie.cli.finetune import classifier, mrc
from ernie.cli.finetune.args import (CLASSIFIER, SEQUENCE_LABELING, UsageError, build_parser, check_common_args,
                                     resolve_for_cn, unused_flag_values)

MRC_ONLY = ("--max_query_length", "--max_answer_length", "--doc_stride", "--n_best_size")
CLASSIFIER_ONLY = ("--is_classify", "--is_regression", "--metric", "--diagnostic", "--diagnostic_save")


def _help(parser):
    return parser.format_help()


def _flags(text):
    """The flags a --help text defines (its option lines, not the flags named in help sentences)."""
    return set(re.findall(r"^  (--\w+)", text, flags=re.M))


def test_each_driver_shows_only_its_flags():
    rc = _help(build_parser("x", task=CLASSIFIER))
    assert not set(MRC_ONLY + ("--chunk_scheme",)) & _flags(rc)
    assert set(CLASSIFIER_ONLY + ("--for_cn", "--label_map_config", "--max_steps")) <= _flags(rc)
    m = _help(mrc.build_mrc_parser())
    assert set(MRC_ONLY + ("--for_cn", "--version_2_with_negative")) <= _flags(m)
    assert not set(CLASSIFIER_ONLY + ("--chunk_scheme", "--label_map_config", "--num_labels")) & _flags(m)
    s = _help(build_parser("x", task=SEQUENCE_LABELING))
    assert "--chunk_scheme" in _flags(s) and not set(MRC_ONLY + CLASSIFIER_ONLY + ("--for_cn",)) & _flags(s)
    for title in ("model:", "data:", "training:", "mixed precision:", "logging:", "run type:",
                  "accepted for old command lines:"):
        assert "\n%s" % title in rc, title


def test_help_texts_are_clean():
    text = " ".join(_help(build_parser("x")).split())
    for typo in ("epoches", "seqence", "save f ", "Default: None. Default", "result.json. Default: None",
                 "are present). Default: False", "label number"):
        assert typo not in text, typo
    assert "Default: <checkpoints>/result.json." in text


def test_other_drivers_flags_are_accepted_and_reported():
    args = classifier.parse_args(["--doc_stride", "64", "--n_best_size", "20", "--epoch", "2"])
    assert args.doc_stride == 64 and unused_flag_values(args) == ["doc_stride"]    # n_best_size: the default


def _vocab(path, tokens):
    path.write_text("".join("%s\n" % t for t in tokens), encoding="utf-8")
    return str(path)


def test_for_cn_follows_the_vocabulary(tmp_path):
    specials = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
    zh = _vocab(tmp_path / "zh.txt", specials + list("我们的中文词表里多是汉字"))
    en = _vocab(tmp_path / "en.txt", specials + ["the", "movie", "##s", "good", "bad", "中"])
    messages = []
    for vocab, expected in ((zh, True), (en, False)):
        args = classifier.parse_args(["--vocab_path", vocab])
        assert args.for_cn is None
        resolve_for_cn(args, lambda *a: messages.append(a[0] % a[1:]))
        assert args.for_cn is expected
    assert "--for_cn not given: true (Chinese)" in messages[0] and "false (English)" in messages[1]
    args = classifier.parse_args(["--vocab_path", en, "--for_cn", "true"])     # given: kept
    resolve_for_cn(args)
    assert args.for_cn is True


def test_max_steps_must_not_be_negative():
    args = classifier.parse_args(["--max_steps", "-1", "--vocab_path", "v", "--ernie_config_path", "c",
                                  "--train_set", "t", "--dev_set", "d", "--do_test", "false"])
    with pytest.raises(UsageError, match="--max_steps must be >= 0"):
        check_common_args(args)
