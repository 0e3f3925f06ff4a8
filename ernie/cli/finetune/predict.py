"""``predict_classifier.py``: batch prediction with a fine-tuned classifier / regressor.

Usage::

    python predict_classifier.py --init_checkpoint checkpoints/step_644 --predict_set input.tsv \\
        [--output predictions.tsv] [--ernie_config_path ... --vocab_path ... --for_cn false ...]

Input: a TSV file with a header and a ``text_a`` column, optionally
``text_b`` and ``qid``; a ``label`` column may be present and is ignored.

Settings.  ``--init_checkpoint`` is a ``step_N`` directory written by
``run_classifier.py``; only its parameters are read.  Every preprocessing
setting left unset is taken from the run that wrote the checkpoint (its
record ``<checkpoints>/result.json``, next to ``step_N``): ``ernie_config_path``,
``vocab_path``, ``for_cn``, ``do_lower_case``, ``max_seq_len``,
``label_map_config``, ``is_regression``, ``task_id``; the number of labels
comes from the checkpoint's ``_cls_out_b``.  Without a record the defaults are
``--for_cn false``, ``--do_lower_case true``, ``--max_seq_len 128``.  This fixes
the original's trap: its prediction tools always removed every space
(``for_cn`` true), which glued English words together.

Output (``--output``, default stdout): a header line, then one line per
example in input order, TAB-separated::

    index  [qid]  label  prob_0 ... prob_{C-1}        (classification)
    index  [qid]  score                               (regression)

label = the most probable class (its name when the run used a label map,
else its id); probabilities ``%.8g``.  The program is the evaluation program
of ``run_classifier.py`` (no dropout), so the probabilities equal those of
its test predictions.  ``--save_inference_model_path DIR`` also writes a
Paddle inference model ``DIR/<checkpoint name>_inference_model/model.json`` +
``model.pdiparams`` (feeds: the encoder inputs; fetch: the probabilities or
the regression output), as the original did.  Logs ``qps`` at the end.

Flags of the original kept for old command lines: ``--use_fp16`` (GPU float16
inference), ``--do_prediction`` and ``--ernie_version`` (no effect, see
``ernie.args.COMPAT_NOOP_FLAGS``: the task embedding is fed when the model
config has ``use_task_id``).
"""
import argparse
import json
import logging
import os
import sys
import time

import numpy as np
import paddle

from ernie.args import (PREDICT, ArgumentGroup, DeviceError, add_compat_flags, cuda_available, init_logging,
                        print_arguments, str2bool, warn_compat_flags)
from ernie.atomic_write import write_text
from ernie.checkpoint import STATE_FILE, CheckpointError, init_pretraining_params, read_train_state
from ernie.cli.finetune.args import UsageError
from ernie.cli.finetune.classifier import ClassifierTask, head_param_names
from ernie.cli.finetune.run import EvalContext, build_program
from ernie.config import ConfigError
from ernie.optimization import AmpDeviceError
from ernie.runtime import static_runtime
from ernie.tensor_file import TensorFileError, read_header
from reader.files import check_output_file
from reader.task_reader import DataError, load_label_map
from reader.vocab import VocabError

logger = logging.getLogger(__name__)

INFERRED = ("ernie_config_path", "vocab_path", "for_cn", "do_lower_case", "max_seq_len", "label_map_config",
            "is_regression", "task_id")
FALLBACK = {"for_cn": False, "do_lower_case": True, "max_seq_len": 128, "is_regression": False, "task_id": 0}


def build_parser(cuda_default=False):
    parser = argparse.ArgumentParser(description="Predict with a fine-tuned ERNIE classifier / regressor.")
    model_g = ArgumentGroup(parser, "model", "model and checkpoint")
    model_g.add_arg("ernie_config_path", str, None, "Model config JSON (default: the fine-tuning run's).")
    model_g.add_arg("init_checkpoint", str, None, "Fine-tuned checkpoint directory (<checkpoints>/step_N); "
                                                  "required.")
    model_g.add_arg("save_inference_model_path", str, None,
                    "Also save a Paddle inference model under this directory (the original always saved one to "
                    "'inference_model').")
    model_g.add_arg("use_fp16", bool, False, "float16 inference (GPU only).")
    model_g.add_arg("num_labels", int, None, "Number of classes (default: read from the checkpoint).", min=1)
    model_g.add_arg("task_id", int, None, "Value fed as task_ids (default: the run's, else 0).", min=0)
    data_g = ArgumentGroup(parser, "data", "input data")
    data_g.add_arg("predict_set", str, None, "TSV file with a header and text_a (text_b, qid optional).")
    data_g.add_arg("vocab_path", str, None, "Vocabulary (default: the fine-tuning run's).")
    data_g.add_arg("label_map_config", str, None, "JSON {label: id} (default: the run's, if any).")
    data_g.add_arg("max_seq_len", int, None, "Longest sequence (default: the run's, else 128).", min=2)
    data_g.add_arg("batch_size", int, 32, "Examples per batch.", min=1)
    data_g.add_arg("do_lower_case", bool, None, "Lower-case the input (default: the run's, else true).")
    data_g.add_arg("for_cn", bool, None, "Remove every space from the text columns, as for Chinese training "
                                         "data (default: the run's, else false).")
    data_g.add_arg("is_regression", bool, None, "The checkpoint is a regressor (default: the run's, else false).")
    data_g.add_arg("output", str, None, "Where to write the predictions (default: stdout).")
    run_g = ArgumentGroup(parser, "run_type", "running options")
    run_g.add_arg("use_cuda", bool, cuda_default, "Run on the GPU.")
    add_compat_flags(parser, PREDICT)
    return parser


def parse_args(argv=None):
    return build_parser(cuda_default=cuda_available()).parse_args(argv)


def run_record_args(init_checkpoint):
    """The ``args`` of the run record next to ``init_checkpoint`` (``../result.json``), or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(init_checkpoint)), "result.json")
    if not os.path.isfile(path):
        return None, path
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("args"), path
    except (OSError, ValueError):
        logger.warning("cannot read the run record %s: using the defaults", path)
        return None, path


def checkpoint_settings(init_checkpoint):
    """The preprocessing settings saved in the checkpoint's own ``train_state.json`` (None: none saved)."""
    state = read_train_state(init_checkpoint, missing_ok=True)
    if state is None:
        return None
    extra = state.get("extra")
    return extra.get("settings") if isinstance(extra, dict) else None


def resolve_settings(args):
    """Fill the unset preprocessing flags from the checkpoint's own saved settings, else from the run
    record beside it (a warning: it may belong to another run), else the defaults (logged)."""
    if not args.init_checkpoint:
        raise UsageError("--init_checkpoint (a fine-tuned step_N directory) is required")
    if not os.path.isdir(args.init_checkpoint):
        raise UsageError("--init_checkpoint %s is not a directory" % args.init_checkpoint)
    if not args.predict_set:
        raise UsageError("--predict_set is required")
    if args.batch_size <= 0:
        raise UsageError("--batch_size must be positive, got %d" % args.batch_size)
    recorded, path = checkpoint_settings(args.init_checkpoint), os.path.join(args.init_checkpoint, STATE_FILE)
    if recorded is None:
        recorded, path = run_record_args(args.init_checkpoint)
        if recorded is not None:
            logger.warning("%s holds no preprocessing settings (written before they were saved with each "
                           "checkpoint): taking the unset ones from the run record %s, which may belong to another "
                           "run; give --for_cn, --max_seq_len, --vocab_path, ... to be sure", args.init_checkpoint,
                           path)
    for name in INFERRED:
        if getattr(args, name) is not None:
            continue
        if recorded is not None and recorded.get(name) is not None:
            setattr(args, name, recorded[name])
            logger.info("--%s %s (from %s)", name, recorded[name], path)
        elif name in FALLBACK:
            setattr(args, name, FALLBACK[name])
            logger.info("--%s %s (default; no run record at %s)", name, FALLBACK[name], path)
    for name, value in (("ernie_config_path", args.ernie_config_path), ("vocab_path", args.vocab_path)):
        if not value:
            raise UsageError("--%s is required (no run record at %s to take it from)" % (name, path))
    args.for_cn, args.do_lower_case = str2bool(args.for_cn), str2bool(args.do_lower_case)
    args.is_regression = str2bool(args.is_regression)
    return args


def head_width(init_checkpoint):
    """Number of outputs of the checkpoint's classification head (from ``_cls_out_b``)."""
    path = os.path.join(init_checkpoint, head_param_names()[1])
    if not os.path.isfile(path):
        raise CheckpointError("%s has no %s: not a checkpoint of a fine-tuned classifier"
                              % (init_checkpoint, head_param_names()[1]))
    try:
        shape = read_header(path).shape
    except (TensorFileError, OSError) as e:
        raise CheckpointError("%s is unreadable: %s" % (path, e)) from None
    return int(shape[-1]) if len(shape) else 1


def fit_classifier_to_head(args, num_labels=None):
    """Set the classifier flags of ``args`` from the head of the checkpoint ``args.init_checkpoint``:
    ``num_labels`` (a given one must match the head), ``is_classify`` and the generic flags the classifier
    task reads; a UsageError when ``args.is_regression`` disagrees with the head.  Returns the head's width."""
    width = head_width(args.init_checkpoint)
    if num_labels is not None and num_labels != width:
        raise UsageError("--num_labels %d but the checkpoint's head has %d outputs" % (num_labels, width))
    if args.is_regression and width != 1:
        raise UsageError("--is_regression true but the checkpoint's head has %d outputs" % width)
    if not args.is_regression and width < 2:
        raise UsageError("the checkpoint's head has one output (a regressor): pass --is_regression true")
    args.num_labels, args.is_classify = width, not args.is_regression
    args.metric, args.best_metric, args.in_tokens, args.tokenizer = "simple_accuracy", "auto", False, "FullTokenizer"
    args.use_bf16, args.predict_batch_size = False, None
    return width


def predict(args):
    """Run the prediction; returns (rows, result) where result holds ``probs`` [N, C] (or ``preds`` [N]),
    ``labels`` (predicted ids) and ``qids`` when present.  Switches Paddle to static mode."""

    resolve_settings(args)
    fit_classifier_to_head(args, args.num_labels)
    rt = static_runtime(args, 0, args.init_checkpoint, task_id=args.task_id)
    task = ClassifierTask()
    program = build_program(rt.config, task, args, is_training=False, amp=rt.amp)
    exe, scope = rt.exe, rt.scope
    with paddle.static.scope_guard(scope):
        exe.run(program.startup)
    loaded = init_pretraining_params(args.init_checkpoint, program.main, scope=scope, place=rt.place,
                                     config=rt.config)
    missing = [p for p in task.required_params() if p not in loaded]
    if missing:
        raise CheckpointError("%s holds no %s" % (args.init_checkpoint, ", ".join(missing)))

    ctx = EvalContext(args, rt.config, exe, scope, program, rt.place)
    start = time.time()
    res = task.collect(ctx, args.predict_set, "predict")
    elapsed = time.time() - start
    n = len(res["preds"]) if args.is_regression else len(res["probs"])
    logger.info("qps: %f\ttotal_time: %f\ttotal_example: %d\tbatch_size: %d",
                n / elapsed if elapsed > 0 else float("nan"), elapsed, n, args.batch_size)
    if args.save_inference_model_path:
        save_inference_model(args, program, exe, scope)
    if not args.is_regression:
        res["labels"] = np.argmax(res["probs"], axis=1)
    return prediction_rows(args, res), res


def prediction_rows(args, res):
    """Header + one TAB-separated line per example (see the module doc)."""
    qids = res.get("qids")
    names = None
    if args.label_map_config and not args.is_regression:
        names = {v: k for k, v in load_label_map(args.label_map_config).items()}
    if args.is_regression:
        header = ["index"] + (["qid"] if qids is not None else []) + ["score"]
    else:
        header = (["index"] + (["qid"] if qids is not None else []) + ["label"]
                  + ["prob_%d" % i for i in range(res["probs"].shape[1])])
    rows = ["\t".join(header)]
    count = len(res["preds"]) if args.is_regression else len(res["probs"])
    for i in range(count):
        cells = [str(i)] + ([str(int(qids[i]))] if qids is not None else [])
        if args.is_regression:
            cells.append("%.8g" % res["preds"][i])
        else:
            label = int(res["labels"][i])
            cells.append(str(names.get(label, label)) if names else str(label))
            cells += ["%.8g" % p for p in res["probs"][i]]
        rows.append("\t".join(cells))
    return rows


def save_inference_model(args, program, exe, scope):
    """``<dir>/<checkpoint name>_inference_model/model.{json,pdiparams}`` (feeds: encoder inputs)."""
    name = os.path.basename(os.path.normpath(args.init_checkpoint)) + "_inference_model"
    prefix = os.path.join(args.save_inference_model_path, name, "model")
    feeds = {op.attrs()["name"]: op.result(0) for op in program.main.global_block().ops if op.name() == "pd_op.data"}
    fetch = program.outputs["preds" if args.is_regression else "probs"]
    with paddle.static.scope_guard(scope):
        paddle.static.save_inference_model(prefix, [feeds[n] for n in program.feed_names], [fetch], exe,
                                           program=program.main)
    logger.info("inference model saved to %s.json / .pdiparams (feeds: %s)", prefix, ", ".join(program.feed_names))
    return prefix


def main(argv=None):

    args = parse_args(argv)
    init_logging()
    print_arguments(args, logger)
    warn_compat_flags(args, logger)
    try:
        if args.output:
            check_output_file(args.output, "--output", UsageError)      # before any compute
        rows, _ = predict(args)
    except (UsageError, ConfigError, CheckpointError, DataError, VocabError, DeviceError, AmpDeviceError,
            ValueError) as e:
        sys.exit("predict_classifier.py: error: %s" % e)
    logger.info("-------------- prediction results --------------")
    text = "\n".join(rows) + "\n"
    if args.output:
        write_text(args.output, text)
        logger.info("%d predictions written to %s", len(rows) - 1, args.output)
    else:
        sys.stdout.write(text)
    return 0
