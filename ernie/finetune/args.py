"""The fine-tuning flag set, shared by ``run_classifier.py``, ``run_sequence_labeling.py`` and ``run_mrc.py``.

Every flag of the original ``finetune_args.py`` (``original-finetune.md`` §6)
keeps its name, type, default and meaning; booleans are parsed with
``str2bool`` (``--flag false`` as in the original scripts) and argparse
prefixes are accepted (the scripts' ``--label_map`` means
``--label_map_config``).  Flags marked "new" in ``--help`` did not exist in
the original; flags marked "no effect" are accepted so that old command
lines keep working.

Deliberate differences (see each driver's docstring for its own):

* ``--use_cuda`` defaults to true only when a CUDA build and device exist
  (the original defaulted to true and failed on CPU machines);
* Adam's beta2 / epsilon are flags (defaults 0.999 / 1e-8: the original's
  fine-tuning Adam), and so is the global-norm clip (default 1.0, as fixed
  in the original);
* ``--random_seed`` also seeds dropout and the training data order; without
  it a seed is drawn and logged, so every run can be repeated.
"""
import argparse

from ernie.args import ArgumentGroup
from reader.files import check_output_file

CHUNK_SCHEMES = ("IO", "IOB", "IOE", "IOBES")
LR_SCHEDULERS = ("linear_warmup_decay", "noam_decay")


class UsageError(ValueError):
    """Flags that contradict each other or are missing."""


def build_parser(description, cuda_default=False):
    """The full fine-tuning flag set (an ``argparse.ArgumentParser``)."""
    parser = argparse.ArgumentParser(description=description)
    model_g = ArgumentGroup(parser, "model", "model configuration and paths.")
    model_g.add_arg("ernie_config_path", str, None, "Path to the json file for ernie model config.")
    model_g.add_arg("init_checkpoint", str, None,
                    "A fine-tuning checkpoint (<checkpoints>/step_N). With --do_train: resume that run exactly "
                    "(parameters, optimizer state, step, learning-rate and data position); wins over "
                    "--init_pretraining_params (a warning is logged), as in the original. Without training: "
                    "the fine-tuned parameters to evaluate / predict with.")
    model_g.add_arg("init_pretraining_params", str, None,
                    "Pre-trained parameters to start fine-tuning from (parameters only; every encoder "
                    "parameter must be present, the task head starts fresh). Empty: from scratch.")
    model_g.add_arg("checkpoints", str, "checkpoints", "Path to save checkpoints.")
    model_g.add_arg("overwrite_checkpoints", bool, False,
                    "new: start a new run in a --checkpoints directory holding another run's step_<N> "
                    "checkpoints by deleting them (without it such a run is refused; --init_checkpoint resumes).")
    model_g.add_arg("is_classify", bool, True, "is_classify")
    model_g.add_arg("is_regression", bool, False, "is_regression")
    model_g.add_arg("task_id", int, 0, "Value fed as task_ids (only used when the config has use_task_id).", min=0)

    train_g = ArgumentGroup(parser, "training", "training options.")
    train_g.add_arg("epoch", int, 3, "Number of epoches for fine-tuning.", min=1)
    train_g.add_arg("learning_rate", float, 5e-5, "Learning rate used to train with warmup.", min=0)
    train_g.add_arg("lr_scheduler", str, "linear_warmup_decay", "scheduler of learning rate.",
                    choices=list(LR_SCHEDULERS))
    train_g.add_arg("weight_decay", float, 0.01, "Weight decay rate for L2 regularizer.", min=0)
    train_g.add_arg("warmup_proportion", float, 0.1,
                    "Proportion of training steps to perform linear learning rate warmup for (0: constant "
                    "learning rate).", min=0, max=1)
    train_g.add_arg("save_steps", int, 10000, "The steps interval to save checkpoints.", min=0)
    train_g.add_arg("validation_steps", int, 1000, "The steps interval to evaluate model performance.", min=0)
    train_g.add_arg("use_fp16", bool, False, "Whether to use fp16 mixed precision training (needs a GPU).")
    train_g.add_arg("use_dynamic_loss_scaling", bool, True, "Whether to use dynamic loss scaling.")
    train_g.add_arg("init_loss_scaling", float, 102400, "Loss scaling factor for mixed precision training.", min=0)
    train_g.add_arg("test_save", str, "./checkpoints/test_result",
                    "Prefix(es) of the test prediction files, comma-separated, one per --test_set file.")
    train_g.add_arg("metric", str, "simple_accuracy", "metric",
                    choices=["simple_accuracy", "acc_and_f1", "matthews_corrcoef", "acc_and_f1_and_mrr",
                             "pearson_and_spearman"])
    train_g.add_arg("incr_every_n_steps", int, 100, "Increases loss scaling every n consecutive.", min=1)
    train_g.add_arg("decr_every_n_nan_or_inf", int, 2,
                    "Decreases loss scaling every n accumulated steps with nan or inf gradients.", min=1)
    train_g.add_arg("incr_ratio", float, 2.0, "The multiplier to use when increasing the loss scaling.", min=1)
    train_g.add_arg("decr_ratio", float, 0.8, "The less-than-one-multiplier to use when decreasing.", min=0, max=1)
    train_g.add_arg("use_bf16", bool, False, "new: bfloat16 mixed precision (no loss scaling).")
    train_g.add_arg("adam_beta1", float, 0.9, "new: Adam beta1.", min=0, max=1)
    train_g.add_arg("adam_beta2", float, 0.999, "new: Adam beta2 (the original's fine-tuning value).", min=0, max=1)
    train_g.add_arg("adam_epsilon", float, 1e-8, "new: Adam epsilon (the original's fine-tuning value).", min=0)
    train_g.add_arg("adam_epsilon_as_paddle15", bool, False,
                    "new: add epsilon as Paddle 1.5 (the original's) Adam did; Paddle >= 2.0 scales it by "
                    "sqrt(1 - beta2^t).")
    train_g.add_arg("grad_clip_norm", float, 1.0, "new: global gradient-norm clip (<= 0 disables; the original "
                                                  "fixed 1.0).")
    train_g.add_arg("max_checkpoints", int, 3, "new: number of step_<N> checkpoints kept (<= 0: all).")
    train_g.add_arg("validate_every_epoch", bool, True,
                    "new: also evaluate after the last step of every epoch (the original did so at the "
                    "first logging step of the next epoch).")
    train_g.add_arg("best_metric", str, "auto",
                    "new: dev metric that picks the best evaluation of a run (auto: acc, f1, "
                    "matthews_corrcoef, mrr or pearson according to --metric / regression).")
    train_g.add_arg("result_file", str, None,
                    "new: JSON summary of the run (every evaluation, the best dev one and the test results at "
                    "that point). Default: <checkpoints>/result.json.")

    log_g = ArgumentGroup(parser, "logging", "logging related.")
    log_g.add_arg("skip_steps", int, 10, "The steps interval to print loss.", min=0)
    log_g.add_arg("verbose", bool, False, "Whether to output verbose log.")
    log_g.add_arg("vdl_dir", str, None, "new: VisualDL log directory (train/* and valid/* scalars).")

    data_g = ArgumentGroup(parser, "data", "Data paths, vocab paths and data processing options")
    data_g.add_arg("tokenizer", str, "FullTokenizer", "no effect beyond checking: only FullTokenizer exists "
                                                      "(the original ignored other values).")
    data_g.add_arg("train_set", str, None, "Path to training data.")
    data_g.add_arg("test_set", str, None, "Path to test data (comma-separated list allowed).")
    data_g.add_arg("dev_set", str, None, "Path to validation data (comma-separated list allowed).")
    data_g.add_arg("vocab_path", str, None, "Vocabulary path.")
    data_g.add_arg("max_seq_len", int, 512, "Number of words of the longest seqence.", min=2)
    data_g.add_arg("batch_size", int, 32, "Total examples' number in batch for training (per process; tokens "
                                          "with --in_tokens true).", min=1)
    data_g.add_arg("predict_batch_size", int, None, "Total examples' number in batch for predict "
                                                    "(default: --batch_size).", min=1)
    data_g.add_arg("in_tokens", bool, False, "If set, the batch size will be the maximum number of tokens in "
                                             "one batch. Otherwise, it will be the maximum number of examples "
                                             "in one batch.")
    data_g.add_arg("do_lower_case", bool, True, "Whether to lower case the input text. Should be True for "
                                                "uncased models and False for cased models.")
    data_g.add_arg("random_seed", int, None, "Random seed (parameter initialisation, dropout, data order).", min=0)
    data_g.add_arg("label_map_config", str, None, "label_map_path.")
    data_g.add_arg("num_labels", int, 2, "label number", min=1)
    data_g.add_arg("diagnostic", str, None, "GLUE Diagnostic Dataset")
    data_g.add_arg("diagnostic_save", str, None, "GLUE Diagnostic save f")
    data_g.add_arg("max_query_length", int, 64, "Max query length.", min=1)
    data_g.add_arg("max_answer_length", int, 100, "Max answer length.", min=1)
    data_g.add_arg("doc_stride", int, 128,
                   "When splitting up a long document into chunks, how much stride to take between chunks.", min=1)
    data_g.add_arg("n_best_size", int, 20,
                   "The total number of n-best predictions to generate in the nbest_predictions.json output "
                   "file.", min=1)
    data_g.add_arg("chunk_scheme", str, "IOB", "chunk scheme", choices=list(CHUNK_SCHEMES))

    run_type_g = ArgumentGroup(parser, "run_type", "running type options.")
    run_type_g.add_arg("use_cuda", bool, cuda_default, "If set, use GPU for training (default: whether a CUDA "
                       "build and device are present).")
    run_type_g.add_arg("is_distributed", bool, False, "no effect: several processes are detected from the "
                       "environment of python -m paddle.distributed.launch.")
    run_type_g.add_arg("use_fast_executor", bool, False, "no effect (Paddle 3 has one executor).")
    run_type_g.add_arg("num_iteration_per_drop_scope", int, 10, "no effect (Paddle 3 frees memory itself).", min=0)
    run_type_g.add_arg("do_train", bool, True, "Whether to perform training.")
    run_type_g.add_arg("do_val", bool, True, "Whether to perform evaluation on dev data set.")
    run_type_g.add_arg("do_test", bool, True, "Whether to perform evaluation on test data set.")
    run_type_g.add_arg("use_multi_gpu_test", bool, False, "no effect (unused by the original too).")
    run_type_g.add_arg("metrics", bool, True, "no effect (unused by the original too).")
    run_type_g.add_arg("shuffle", bool, True, "no effect: the training data are always shuffled (as the "
                                              "original).")
    run_type_g.add_arg("for_cn", bool, True, "Remove every space from the text columns (Chinese data). "
                                             "English data need --for_cn false.")
    parser.add_argument("--enable_ce", action="store_true", help="no effect: runs are always seeded.")
    return parser


def split_list(value):
    """'a,b' -> ['a', 'b']; None / '' -> []."""
    return [p.strip() for p in (value or "").split(",") if p.strip()]


def check_common_args(args):
    """Checks shared by every fine-tuning driver; raises ``UsageError``."""
    if not (args.do_train or args.do_val or args.do_test):
        raise UsageError("at least one of --do_train, --do_val and --do_test must be true")
    if args.tokenizer not in (None, "", "FullTokenizer"):
        raise UsageError("--tokenizer %s: only FullTokenizer exists (the original ignored the flag)"
                         % args.tokenizer)
    for flag in ("ernie_config_path", "vocab_path"):
        if not getattr(args, flag):
            raise UsageError("--%s is required" % flag)
    if args.do_train and not args.train_set:
        raise UsageError("--do_train true needs --train_set")
    if args.do_val and not split_list(args.dev_set):
        raise UsageError("--do_val true needs --dev_set (or pass --do_val false)")
    if args.do_test and not split_list(args.test_set):
        raise UsageError("--do_test true needs --test_set (or pass --do_test false); the original crashed "
                         "at the first evaluation in that case")
    if args.do_test:                   # one output prefix per test file
        n_sets, n_saves = len(split_list(args.test_set)), len(split_list(args.test_save))
        if n_sets != n_saves:
            raise UsageError("--test_set names %d file(s) but --test_save %d prefix(es): give one prefix per "
                             "test file" % (n_sets, n_saves))
    if not args.do_train and not args.init_checkpoint:
        raise UsageError("without training (--do_train false) --init_checkpoint must name the fine-tuned "
                         "checkpoint to evaluate")
    if args.use_fp16 and args.use_bf16:
        raise UsageError("--use_fp16 and --use_bf16 are mutually exclusive")
    for flag in ("epoch", "batch_size"):
        if getattr(args, flag) <= 0:
            raise UsageError("--%s must be positive, got %d" % (flag, getattr(args, flag)))
    if args.predict_batch_size is not None and args.predict_batch_size <= 0:
        raise UsageError("--predict_batch_size must be positive, got %d" % args.predict_batch_size)
    for flag in ("skip_steps", "save_steps", "validation_steps"):
        if getattr(args, flag) < 0:
            raise UsageError("--%s must be >= 0, got %d" % (flag, getattr(args, flag)))
    if not 0.0 <= args.warmup_proportion <= 1.0:
        raise UsageError("--warmup_proportion must be in [0, 1], got %g" % args.warmup_proportion)
    if args.learning_rate < 0 or args.weight_decay < 0:
        raise UsageError("--learning_rate and --weight_decay must not be negative")
    if args.max_seq_len < 3:
        raise UsageError("--max_seq_len must be at least 3, got %d" % args.max_seq_len)
    outputs = [(p + ".x", "--test_save prefix") for p in split_list(args.test_save)] if args.do_test else []
    outputs += [(getattr(args, f), "--" + f) for f in ("result_file", "diagnostic_save") if getattr(args, f, None)]
    for path, what in outputs:                  # before any compute
        check_output_file(path, what, UsageError)
    if args.in_tokens and args.batch_size < args.max_seq_len:
        raise UsageError("--in_tokens true: --batch_size (%d tokens) must be at least --max_seq_len (%d)"
                         % (args.batch_size, args.max_seq_len))
