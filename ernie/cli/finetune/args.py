"""The fine-tuning flag set, shared by ``run_classifier.py``, ``run_sequence_labeling.py`` and ``run_mrc.py``.

Every flag of the original's ``finetune_args.py``
keeps its name, type, default and meaning; booleans are parsed with
``str2bool`` (``--flag false`` as in the original scripts) and argparse
prefixes are accepted (the scripts' ``--label_map`` means
``--label_map_config``).  Flags marked "new" in ``--help`` did not exist in
the original; the original's flags that have no effect here are accepted so
that old command lines keep working (``ernie.args.COMPAT_NOOP_FLAGS``; a
warning names those given).

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

from ernie.args import FINETUNE, ArgumentGroup, UsageError, add_adam_flags, add_compat_flags, add_mixed_precision_flags
from reader.files import check_output_file
from reader.vocab import chinese_token_fraction, load_vocab

CHUNK_SCHEMES = ("IO", "IOB", "IOE", "IOBES")
LR_SCHEDULERS = ("linear_warmup_decay", "noam_decay")


# Which driver a task-specific flag applies to; every other flag applies to all three.  The others'
# flags are still accepted (old command lines shared one flag set) but hidden from --help, and a
# value other than the default is reported as having no effect (see unused_flag_values).
CLASSIFIER, SEQUENCE_LABELING, MRC = "classifier", "sequence_labeling", "mrc"
TASK_KINDS = (CLASSIFIER, SEQUENCE_LABELING, MRC)
FLAG_TASKS = {
    "is_classify": (CLASSIFIER,), "is_regression": (CLASSIFIER,), "metric": (CLASSIFIER,),
    "diagnostic": (CLASSIFIER,), "diagnostic_save": (CLASSIFIER,),
    "label_map_config": (CLASSIFIER, SEQUENCE_LABELING), "num_labels": (CLASSIFIER, SEQUENCE_LABELING),
    "chunk_scheme": (SEQUENCE_LABELING,),
    "max_query_length": (MRC,), "max_answer_length": (MRC,), "doc_stride": (MRC,), "n_best_size": (MRC,),
    "for_cn": (CLASSIFIER, MRC),
}


def build_parser(description, cuda_default=False, task=None):
    """The fine-tuning flag set (an ``argparse.ArgumentParser``) of the driver ``task`` (one of
    ``TASK_KINDS``; None: every flag shown).  Flags of the other drivers are accepted but hidden."""
    if task is not None and task not in TASK_KINDS:
        raise ValueError("task must be one of %s, got %r" % (", ".join(TASK_KINDS), task))
    parser = argparse.ArgumentParser(description=description, usage="%(prog)s [--FLAG VALUE ...] (the flags by "
                                                                     "group below)")
    parser.set_defaults(_hidden_flags={})     # name -> default of the flags hidden from this driver

    def group(title, description):
        g = ArgumentGroup(parser, title, description)

        def add(name, type, default, help, **kwargs):
            action = g.add_arg(name, type, default, help, **kwargs)
            if task is not None and task not in FLAG_TASKS.get(name, TASK_KINDS):
                action.help = argparse.SUPPRESS
                parser.get_default("_hidden_flags")[name] = default
            return action
        return add

    model = group("model", "model configuration and paths")
    model("ernie_config_path", str, None, "Path to the json file for ernie model config.")
    model("init_checkpoint", str, None,
          "A fine-tuning checkpoint (<checkpoints>/step_N). With --do_train: resume that run exactly "
          "(parameters, optimizer state, step, learning-rate and data position); wins over "
          "--init_pretraining_params (a warning is logged), as in the original. Without training: "
          "the fine-tuned parameters to evaluate / predict with.")
    model("init_pretraining_params", str, None,
          "Pre-trained parameters to start fine-tuning from (parameters only; every encoder "
          "parameter must be present, the task head starts fresh). Empty: from scratch.")
    model("checkpoints", str, "checkpoints", "Path to save checkpoints.")
    model("overwrite_checkpoints", bool, False,
          "new: start a new run in a --checkpoints directory holding another run's step_<N> "
          "checkpoints by deleting them (without it such a run is refused; --init_checkpoint resumes).")
    model("is_classify", bool, True, "Classification head (softmax over --num_labels classes).")
    model("is_regression", bool, False, "Regression head (one score, mean squared error; STS-B).")
    model("task_id", int, 0, "Value fed as task_ids (only used when the config has use_task_id).", min=0)

    data = group("data", "data paths, vocabulary and data processing")
    data("train_set", str, None, "Path to training data.")
    data("dev_set", str, None, "Path to validation data (comma-separated list allowed).")
    data("test_set", str, None, "Path to test data (comma-separated list allowed).")
    data("test_save", str, "./checkpoints/test_result",
         "Prefix(es) of the test prediction files, comma-separated, one per --test_set file.")
    data("vocab_path", str, None, "Vocabulary path.")
    data("label_map_config", str, None, "JSON file mapping each label to its id.")
    data("num_labels", int, 2, "Number of labels (classes, or tags for sequence labelling).", min=1)
    data("max_seq_len", int, 512, "Number of tokens of the longest sequence.", min=2)
    data("batch_size", int, 32, "Total examples' number in batch for training (per process; tokens "
                                "with --in_tokens true).", min=1)
    data("predict_batch_size", int, None, "Total examples' number in batch for predict "
                                          "(default: --batch_size).", min=1)
    data("in_tokens", bool, False, "If set, the batch size will be the maximum number of tokens in "
                                   "one batch. Otherwise, it will be the maximum number of examples "
                                   "in one batch.")
    data("do_lower_case", bool, True, "Whether to lower case the input text. Should be True for "
                                      "uncased models and False for cased models.")
    data("for_cn", bool, None,
         "Chinese text: remove every space from the text columns (classification) or split the documents "
         "into characters (reading comprehension); false: English, whitespace-separated words. "
         "Default: derived from the vocabulary (true when most of its tokens are Chinese characters; "
         "the decision is logged). The original defaulted to true.")
    data("random_seed", int, None, "Random seed (parameter initialisation, dropout, data order).", min=0)
    data("diagnostic", str, None, "GLUE diagnostic data set (AX) to predict after training.")
    data("diagnostic_save", str, None, "Where to write the predictions of --diagnostic.")
    data("chunk_scheme", str, "IOB", "Tagging scheme of the labels, for the chunk F1.", choices=list(CHUNK_SCHEMES))
    data("max_query_length", int, 64, "Max query length.", min=1)
    data("max_answer_length", int, 100, "Max answer length.", min=1)
    data("doc_stride", int, 128,
         "When splitting up a long document into chunks, how much stride to take between chunks.", min=1)
    data("n_best_size", int, 20,
         "The total number of n-best predictions to generate in the nbest_predictions.json output file.", min=1)

    train = group("training", "training options")
    train("epoch", int, 3, "Number of epochs for fine-tuning.", min=1)
    train("max_steps", int, 0, "new: stop training after this many steps (0: after --epoch epochs); the "
                               "learning-rate schedule is fitted to the shorter run.")
    train("learning_rate", float, 5e-5, "Learning rate used to train with warmup.", min=0)
    train("lr_scheduler", str, "linear_warmup_decay", "scheduler of learning rate.", choices=list(LR_SCHEDULERS))
    train("weight_decay", float, 0.01, "Weight decay rate for L2 regularizer.", min=0)
    train("warmup_proportion", float, 0.1,
          "Proportion of training steps to perform linear learning rate warmup for (0: constant "
          "learning rate).", min=0, max=1)
    train("metric", str, "simple_accuracy", "Metric of the evaluations.",
          choices=["simple_accuracy", "acc_and_f1", "matthews_corrcoef", "acc_and_f1_and_mrr",
                   "pearson_and_spearman"])
    train("best_metric", str, "auto",
          "new: dev metric that picks the best evaluation of a run (auto: acc, f1, "
          "matthews_corrcoef, mrr or pearson according to --metric / regression; f1 for sequence "
          "labelling and reading comprehension).")
    train("save_steps", int, 10000, "The steps interval to save checkpoints.", min=0)
    train("validation_steps", int, 1000, "The steps interval to evaluate model performance.", min=0)
    train("validate_every_epoch", bool, True,
          "new: also evaluate after the last step of every epoch (the original did so at the "
          "first logging step of the next epoch).")
    train("max_checkpoints", int, 3, "new: number of step_<N> checkpoints kept (<= 0: all).")
    train("result_file", str, None,
          "new: JSON summary of the run (every evaluation, the best dev one and the test results at "
          "that point). Default: <checkpoints>/result.json.")
    add_adam_flags(train, beta2=0.999, beta2_help="new: Adam beta2 (the original's fine-tuning value).",
                   epsilon=1e-8, epsilon_help="new: Adam epsilon (the original's fine-tuning value).")

    add_mixed_precision_flags(group("mixed precision", "float16 / bfloat16 training (GPU)"))

    log = group("logging", "logging related")
    log("skip_steps", int, 10, "The steps interval to print loss.", min=0)
    log("verbose", bool, False, "Whether to output verbose log.")
    log("vdl_dir", str, None, "new: VisualDL log directory (train/* and valid/* scalars).")

    run_type = group("run type", "what to run, and where")
    run_type("do_train", bool, True, "Whether to perform training.")
    run_type("do_val", bool, True, "Whether to perform evaluation on dev data set.")
    run_type("do_test", bool, True, "Whether to perform evaluation on test data set.")
    run_type("use_cuda", bool, cuda_default, "If set, use GPU for training (default: true when a CUDA "
             "build and device are present; here %s)." % ("true" if cuda_default else "false"))

    add_compat_flags(parser, FINETUNE)
    return parser


def unused_flag_values(args):
    """Names of the flags hidden from this driver's --help (another driver's) given a non-default value."""
    return sorted(name for name, default in args._hidden_flags.items() if getattr(args, name) != default)


def resolve_for_cn(args, log=None):
    """``--for_cn`` not given: true when most tokens of ``--vocab_path`` are Chinese characters (logged)."""
    if args.for_cn is not None:
        return
    fraction = chinese_token_fraction(load_vocab(args.vocab_path))
    args.for_cn = fraction >= CHINESE_VOCAB_FRACTION
    if log is not None:
        log("--for_cn not given: %s, as %.0f%% of the tokens of %s are Chinese characters (pass --for_cn %s "
            "to override)", "true (Chinese)" if args.for_cn else "false (English)", 100 * fraction,
            args.vocab_path, "false" if args.for_cn else "true")


# A vocabulary with at least this share of single Chinese characters is taken for a Chinese one (ERNIE 1.0's:
# 99 %; BERT's English vocabularies: under 2 %).
CHINESE_VOCAB_FRACTION = 0.25


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
    for flag, value in (("ernie_config_path", args.ernie_config_path), ("vocab_path", args.vocab_path)):
        if not value:
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
    for flag, value in (("epoch", args.epoch), ("batch_size", args.batch_size)):
        if value <= 0:
            raise UsageError("--%s must be positive, got %d" % (flag, value))
    if args.predict_batch_size is not None and args.predict_batch_size <= 0:
        raise UsageError("--predict_batch_size must be positive, got %d" % args.predict_batch_size)
    for flag, value in (("skip_steps", args.skip_steps), ("save_steps", args.save_steps),
                        ("validation_steps", args.validation_steps), ("max_steps", args.max_steps)):
        if value < 0:
            raise UsageError("--%s must be >= 0, got %d" % (flag, value))
    if not 0.0 <= args.warmup_proportion <= 1.0:
        raise UsageError("--warmup_proportion must be in [0, 1], got %g" % args.warmup_proportion)
    if args.learning_rate < 0 or args.weight_decay < 0:
        raise UsageError("--learning_rate and --weight_decay must not be negative")
    if args.max_seq_len < 3:
        raise UsageError("--max_seq_len must be at least 3, got %d" % args.max_seq_len)
    outputs = [(p + ".x", "--test_save prefix") for p in split_list(args.test_save)] if args.do_test else []
    outputs += [(path, flag) for path, flag in ((args.result_file, "--result_file"),
                                                (args.diagnostic_save, "--diagnostic_save")) if path]
    for path, what in outputs:                  # before any compute
        check_output_file(path, what, UsageError)
    if args.in_tokens and args.batch_size < args.max_seq_len:
        raise UsageError("--in_tokens true: --batch_size (%d tokens) must be at least --max_seq_len (%d)"
                         % (args.batch_size, args.max_seq_len))
