"""The original's flags that have no effect here (ernie.args.COMPAT_NOOP_FLAGS): accepted by the drivers that
had them, one warning per run naming those given, none when they are left out, and nothing else changes."""
import logging
import os
import re

import pytest
from conftest import REPO
import test_trainer
from test_trainer import argv, ckpt_files

from ernie.args import (COMPAT_GIVEN, COMPAT_NOOP_FLAGS, FINETUNE, PREDICT, PRETRAIN, SWITCH, UsageError,
                        warn_compat_flags)
from ernie.cli import pretrain
from ernie.cli.finetune import predict
from ernie.cli.finetune.args import TASK_KINDS, build_parser, check_common_args

data = test_trainer.data      # the tiny pre-training fixture (config + demo lines)

PARSERS = {PRETRAIN: [pretrain.build_parser()], PREDICT: [predict.build_parser()],
           FINETUNE: [build_parser("x", task=task) for task in TASK_KINDS]}


def other_value(flag):
    """Command-line words giving ``flag`` a value other than its default."""
    if flag.type is SWITCH:
        return ["--" + flag.name]
    if flag.type is bool:
        return ["--" + flag.name, "false" if flag.default else "true"]
    if flag.type is int:
        return ["--" + flag.name, str(flag.default + 1)]
    return ["--" + flag.name, flag.default + "_x" if flag.name != "tokenizer" else flag.default]


CASES = [(driver, parser, flag) for flag in COMPAT_NOOP_FLAGS for driver in flag.drivers
         for parser in PARSERS[driver]]


def warnings_of(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize("driver,parser,flag", CASES, ids=["%s-%s" % (d, f.name) for d, _, f in CASES])
def test_a_given_flag_warns_once_and_changes_nothing_else(driver, parser, flag, caplog):
    plain = vars(parser.parse_args([]))
    given = vars(parser.parse_args(other_value(flag)))
    assert given[COMPAT_GIVEN] == (flag.name,) and plain[COMPAT_GIVEN] == ()
    assert {k: v for k, v in given.items() if k not in (flag.name, COMPAT_GIVEN)} == \
        {k: v for k, v in plain.items() if k not in (flag.name, COMPAT_GIVEN)}
    caplog.set_level("INFO")
    assert warn_compat_flags(parser.parse_args([])) == [] and warnings_of(caplog) == []
    assert warn_compat_flags(parser.parse_args(other_value(flag))) == [flag.name]
    (message,) = warnings_of(caplog)
    assert "--%s (%s)" % (flag.name, flag.reason) in message


def test_several_given_flags_make_one_warning_and_a_default_value_counts_as_given(caplog):
    args = build_parser("x").parse_args(["--shuffle", "true", "--enable_ce", "--metrics", "false", "--shuffle",
                                         "false", "--epoch", "2"])
    assert args.shuffle is False and args.epoch == 2
    caplog.set_level("INFO")
    assert warn_compat_flags(args) == ["shuffle", "enable_ce", "metrics"]
    assert len(warnings_of(caplog)) == 1


# flags that are no-ops for some drivers and real for another: where they are read for real
REAL_ELSEWHERE = {"verbose": os.path.join("ernie", "cli", "finetune", ""),     # run_*.py log more with it
                  "is_distributed": os.path.join("ernie", "cli", "pretrain.py")}  # train.py joins a process group


def test_no_module_reads_a_compat_flag():
    """What makes them no-ops: no code reads them (``--tokenizer`` is only checked: FullTokenizer or an error)."""
    names = {f.name for f in COMPAT_NOOP_FLAGS} - {"tokenizer"}
    reads = re.compile(r"\bargs\.(%s)\b|getattr\(args, \"(%s)\"" % ("|".join(names), "|".join(names)))
    found = []
    for top in ("ernie", "reader"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    for i, line in enumerate(open(path, encoding="utf-8"), 1):
                        m = reads.search(line)
                        flag = m and (m.group(1) or m.group(2))
                        if m and not os.path.relpath(path, REPO).startswith(REAL_ELSEWHERE.get(flag, "-")):
                            found.append("%s:%d: %s" % (os.path.relpath(path, REPO), i, line.strip()))
    assert found == []


def test_another_tokenizer_is_still_refused():
    args = build_parser("x").parse_args(["--tokenizer", "SentencepieceTokenizer", "--train_set", "t",
                                         "--vocab_path", "v", "--ernie_config_path", "c", "--do_val", "false",
                                         "--do_test", "false"])
    with pytest.raises(UsageError, match="only FullTokenizer exists"):
        check_common_args(args)


def test_pretraining_with_the_flags_equals_pretraining_without(data, tmp_path, caplog):
    caplog.set_level("INFO")
    plain = pretrain.run(pretrain.parse_args(argv(data, tmp_path / "a", 3)))
    assert [m for m in warnings_of(caplog) if "no effect" in m] == []
    given = pretrain.run(pretrain.parse_args(argv(data, tmp_path / "b", 3, "--use_fast_executor", "true",
                                                  "--verbose", "true")))
    (message,) = [m for m in warnings_of(caplog) if "no effect" in m]
    assert "--use_fast_executor" in message and "--verbose" in message
    assert given.history == plain.history and len(plain.history) == 3
    a, b = ckpt_files(tmp_path / "a" / "step_3"), ckpt_files(tmp_path / "b" / "step_3")
    assert sorted(a) == sorted(b) and all(a[n] == b[n] for n in a)
