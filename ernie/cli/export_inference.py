"""Export a fine-tuned classifier / regressor, or the bare encoder, as a Paddle inference model.

One command writes a self-contained directory::

    OUT/model.json, OUT/model.pdiparams   paddle.static.save_inference_model (PIR program + parameters)
    OUT/inference_config.json             kind, feeds, fetches and the preprocessing settings
    OUT/vocab.txt                         the vocabulary
    OUT/label_map.json                    the run's label map (classifier with --label_map_config only)

Usage::

    # a fine-tuned classifier (settings from the run record next to step_N, as predict_classifier.py)
    python -m ernie.cli.export_inference --init_checkpoint checkpoints/step_644 --output_dir served/sst2
    # the encoder of a pre-trained (or any) params directory
    python -m ernie.cli.export_inference --init_pretraining_params MODEL/params \\
        --ernie_config_path MODEL/ernie_config.json --vocab_path MODEL/vocab.txt --output_dir served/encoder

and ``python -m ernie.cli.inference --model_dir OUT --predict_set data.tsv`` runs it with the
``paddle.inference`` predictor (see ``ernie.cli.inference``).

The exported program is the evaluation program (no dropout).  Classifier:
feeds the encoder inputs (``src_ids``, ``pos_ids``, ``sent_ids``,
[``task_ids``,] ``input_mask``), fetches ``probs`` [B, C] (classification) or
``preds`` [B, 1] (regression).  Encoder: the same feeds, fetches ``pooled``
[B, H] and ``sequence`` [B, L, H].  ``inference_config.json`` records what a
caller must reproduce to feed the model: ``max_seq_len``,
``do_lower_case``, ``for_cn`` (spaces removed, Chinese data), ``task_id``
and the tokenizer (``FullTokenizer`` over ``vocab.txt``).  The directory is
written atomically (``ernie.cli.convert_bert.atomic_output_dir``).
"""
import argparse
import json
import logging
import os
import shutil
import sys

import paddle

from ernie.args import init_logging, number_type, str2bool
from ernie.checkpoint import CheckpointError, init_pretraining_params
from ernie.cli.convert_bert import ConversionError, atomic_output_dir
from ernie.cli.embed import build_encoder_program, load_encoder_params
from ernie.cli.finetune import predict
from ernie.cli.finetune.args import UsageError
from ernie.cli.finetune.classifier import ClassifierTask
from ernie.cli.finetune.predict import fit_classifier_to_head
from ernie.cli.finetune.run import build_program
from ernie.config import ConfigError, ErnieConfig
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

MODEL_PREFIX = "model"
CONFIG_FILE = "inference_config.json"
FORMAT_VERSION = 1


def _feed_values(program):
    """name -> Value of the program's ``paddle.static.data`` feeds."""
    return {op.attrs()["name"]: op.result(0) for op in program.global_block().ops if op.name() == "pd_op.data"}


def _save(tmp, main, feed_names, fetches, exe, scope):
    feeds = _feed_values(main)
    with paddle.static.scope_guard(scope):
        paddle.static.save_inference_model(os.path.join(tmp, MODEL_PREFIX), [feeds[n] for n in feed_names],
                                           fetches, exe, program=main)


def _write_config(tmp, values):
    with open(os.path.join(tmp, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(values, f, indent=2, sort_keys=True)
        f.write("\n")


def classifier_settings(init_checkpoint, **overrides):
    """The predict_classifier.py settings for ``init_checkpoint``: an argparse Namespace.

    Unset preprocessing settings come from the fine-tuning run's record, as
    ``predict_classifier.py`` takes them (``ernie.cli.finetune.predict.resolve_settings``).
    """
    args = predict.build_parser(cuda_default=False).parse_args([])
    args.init_checkpoint = init_checkpoint
    args.predict_set = "<export>"     # resolve_settings insists on an input file; exporting reads none
    for key, value in overrides.items():
        if value is not None:
            setattr(args, key, value)
    return predict.resolve_settings(args)


def export_classifier(args, output_dir, overwrite=False):
    """Export the fine-tuned classifier of ``args`` (``classifier_settings``); returns the written config dict."""

    width = fit_classifier_to_head(args)
    args.use_fp16 = False
    config = ErnieConfig.from_json(args.ernie_config_path)
    config.check_inputs(args.max_seq_len, args.vocab_path, task_id=args.task_id)
    paddle.enable_static()
    task = ClassifierTask()
    program = build_program(config, task, args, is_training=False)
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        exe.run(program.startup)
    loaded = init_pretraining_params(args.init_checkpoint, program.main, scope=scope)
    missing = [p for p in task.required_params() if p not in loaded]
    if missing:
        raise CheckpointError("%s holds no %s" % (args.init_checkpoint, ", ".join(missing)))
    fetch_name = "preds" if args.is_regression else "probs"
    values = {
        "format_version": FORMAT_VERSION, "kind": "regressor" if args.is_regression else "classifier",
        "feeds": list(program.feed_names), "fetches": [fetch_name], "num_labels": width,
        "max_seq_len": args.max_seq_len, "do_lower_case": bool(args.do_lower_case), "for_cn": bool(args.for_cn),
        "task_id": args.task_id or 0, "tokenizer": "FullTokenizer", "vocab": "vocab.txt",
        "label_map": "label_map.json" if args.label_map_config and not args.is_regression else None,
        "source": os.path.abspath(args.init_checkpoint),
    }
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        _save(tmp, program.main, program.feed_names, [program.outputs[fetch_name]], exe, scope)
        shutil.copyfile(args.vocab_path, os.path.join(tmp, "vocab.txt"))
        if values["label_map"]:
            shutil.copyfile(args.label_map_config, os.path.join(tmp, "label_map.json"))
        _write_config(tmp, values)
    return values


def export_encoder(config, params_dir, vocab_path, output_dir, max_seq_len=512, do_lower_case=True, task_id=0,
                   overwrite=False):
    """Export the encoder (pooled and sequence outputs) of ``params_dir``; returns the written config dict."""

    config.check_inputs(max_seq_len)
    paddle.enable_static()
    main, startup, feed_names, pooled, sequence = build_encoder_program(config)
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    with paddle.static.scope_guard(scope):
        exe.run(startup)
    if not load_encoder_params(params_dir, main, scope, config=config):
        raise ConversionError("%s has no pooled_fc parameters: the exported pooled output would be random"
                              % params_dir)
    values = {
        "format_version": FORMAT_VERSION, "kind": "encoder", "feeds": list(feed_names),
        "fetches": ["pooled", "sequence"], "max_seq_len": max_seq_len, "do_lower_case": bool(do_lower_case),
        "for_cn": False, "task_id": task_id, "tokenizer": "FullTokenizer", "vocab": "vocab.txt", "label_map": None,
        "source": os.path.abspath(params_dir),
    }
    with atomic_output_dir(output_dir, overwrite=overwrite) as tmp:
        _save(tmp, main, feed_names, [pooled, sequence], exe, scope)
        shutil.copyfile(vocab_path, os.path.join(tmp, "vocab.txt"))
        _write_config(tmp, values)
    return values


def main(argv=None):

    parser = argparse.ArgumentParser(description="Export a fine-tuned ERNIE classifier (--init_checkpoint) or the "
                                                 "encoder (--init_pretraining_params) as a Paddle inference model.")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--init_checkpoint", help="a fine-tuned classifier checkpoint (<checkpoints>/step_N)")
    src.add_argument("--init_pretraining_params", help="a params directory: export the encoder")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--ernie_config_path", help="default (classifier): the run's")
    parser.add_argument("--vocab_path", help="default (classifier): the run's")
    parser.add_argument("--label_map_config", help="default (classifier): the run's")
    parser.add_argument("--max_seq_len", type=number_type(int, 1),
                        help="recorded for the caller (default: the run's, else 128; encoder: 512)")
    parser.add_argument("--do_lower_case", type=str2bool, help="default: the run's, else true")
    parser.add_argument("--for_cn", type=str2bool, help="classifier: default the run's, else false")
    parser.add_argument("--is_regression", type=str2bool, help="default: the run's, else false")
    parser.add_argument("--task_id", type=number_type(int, 0), help="default: the run's, else 0")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    args = parser.parse_args(argv)
    init_logging()
    try:
        if args.init_checkpoint:
            settings = classifier_settings(
                args.init_checkpoint, ernie_config_path=args.ernie_config_path, vocab_path=args.vocab_path,
                label_map_config=args.label_map_config, max_seq_len=args.max_seq_len,
                do_lower_case=args.do_lower_case, for_cn=args.for_cn, is_regression=args.is_regression,
                task_id=args.task_id)
            values = export_classifier(settings, args.output_dir, overwrite=args.overwrite)
        else:
            for flag, value in (("ernie_config_path", args.ernie_config_path), ("vocab_path", args.vocab_path)):
                if not value:
                    parser.error("--%s is required with --init_pretraining_params" % flag)
            config = ErnieConfig.from_json(args.ernie_config_path)
            values = export_encoder(config, args.init_pretraining_params, args.vocab_path, args.output_dir,
                                    max_seq_len=args.max_seq_len or 512,
                                    do_lower_case=True if args.do_lower_case is None else args.do_lower_case,
                                    task_id=args.task_id or 0, overwrite=args.overwrite)
    except (UsageError, ConfigError, CheckpointError, ConversionError, VocabError, ValueError) as e:
        sys.exit("export_inference: error: %s" % e)
    logger.info("%s inference model written to %s (feeds: %s; fetches: %s)", values["kind"],
                os.path.abspath(args.output_dir), ", ".join(values["feeds"]), ", ".join(values["fetches"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
