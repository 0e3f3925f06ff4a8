"""Command-line helpers shared by the entry scripts.

* ``str2bool``: boolean flag parsing: ``true``/``false``/``1``/``0`` in any
  case; any other word is an error (the original took every word but
  ``true``/``t``/``1`` as False, so ``--do_test flase`` silently meant False).
* ``ArgumentGroup``: an argparse group whose ``add_arg`` appends
  `` Default: <value>.`` to every help string (unless the help already says
  what the default is), parses ``bool`` flags with ``str2bool`` (so ``--flag false``
  works as in the original scripts), refuses NaN and infinity for every number and
  checks the ``min`` / ``max`` a flag declares.
* ``init_logging``: root logging with the original's line format
  ``[LEVEL] <time> [<file>:<line>]:\\t<message>``.
* ``print_arguments``: log every parsed flag, sorted.
* ``add_mixed_precision_flags`` / ``add_adam_flags``: the float16 / bfloat16 and the Adam / gradient-clip
  flags, declared once for ``train.py`` and the fine-tuning drivers (``ernie.optimization.AmpConfig.from_flags``
  reads the first group back).
* ``UsageError``: flags that contradict each other or are missing (every driver's).
* ``reports_errors``: a tool's ``main`` prints the errors of bad input or a failed download as
  ``error: <message>`` and exits with status 1, without a traceback.
* ``COMPAT_NOOP_FLAGS``: the original's flags accepted so that old command lines
  run, with no effect here; ``add_compat_flags`` registers a driver's,
  ``warn_compat_flags`` logs once per run the ones given on the command line.
* ``check_cuda`` / ``get_place``: a clear error for ``--use_cuda true`` on a
  CPU-only Paddle build.

Nothing here imports Paddle at module import time.
"""
import argparse
import functools
import logging
import math
import sys
from dataclasses import dataclass
from typing import Tuple

LOG_FORMAT = "[%(levelname)s] %(asctime)s [%(filename)s:%(lineno)d]:\t%(message)s"


TRUE_WORDS = ("true", "1")
FALSE_WORDS = ("false", "0")


def str2bool(value):
    """'true'/'1' -> True, 'false'/'0' -> False (any case, or a bool); anything else: ArgumentTypeError."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError("%r is not a boolean: give true, false, 1 or 0" % value)


def number_type(typ, minimum=None, maximum=None):
    """An argparse ``type`` for ``int``/``float`` flags: finite, within [minimum, maximum] (None: open)."""
    def parse(text):
        try:
            value = typ(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError("%r is not %s" % (text, "an integer" if typ is int else "a number"))
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError("%r is not a finite number" % text)
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError("must be >= %s, got %s" % (minimum, text))
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError("must be <= %s, got %s" % (maximum, text))
        return value
    parse.__name__ = typ.__name__     # argparse names the type in "invalid <type> value"
    return parse


class ArgumentGroup:
    """``ArgumentGroup(parser, "training", "training options").add_arg("epoch", int, 3, "Epochs.")``."""

    def __init__(self, parser, title, description=None):
        self._group = parser.add_argument_group(title=title, description=description)

    def add_arg(self, name, type, default, help, positional_arg=False, min=None, max=None, **kwargs):
        """``min`` / ``max``: the range an ``int`` / ``float`` flag accepts (inclusive; None: open)."""
        flag = name if positional_arg else "--" + name
        if type is bool:
            type = str2bool
            kwargs.setdefault("metavar", "BOOL")
        elif type in (int, float):
            type = number_type(type, min, max)
        if "default:" not in help.lower():          # a help that explains its default keeps its own words
            help = "%s Default: %s." % (help.rstrip(), default)
        # argparse applies %-formatting to help strings.
        help = help.replace("%", "%%")
        return self._group.add_argument(flag, type=type, default=default, help=help, **kwargs)

    def add_switch(self, name, help, **kwargs):
        """A ``--name`` flag without a value (``store_true`` unless ``kwargs`` say otherwise)."""
        kwargs.setdefault("action", "store_true")
        return self._group.add_argument("--" + name, help=help.replace("%", "%%"), **kwargs)


def add_mixed_precision_flags(add):
    """Declare the mixed-precision flags with ``add(name, type, default, help, **kwargs)`` (an
    ``ArgumentGroup.add_arg`` or a driver's own wrapper of it); ``AmpConfig.from_flags`` reads them."""
    add("use_fp16", bool, False, "Whether to use fp16 mixed precision training (needs a GPU).")
    add("use_bf16", bool, False, "new: bfloat16 mixed precision (no loss scaling).")
    add("use_dynamic_loss_scaling", bool, True, "Whether to use dynamic loss scaling.")
    add("init_loss_scaling", float, 102400, "Loss scaling factor for mixed precision training.", min=0)
    add("incr_every_n_steps", int, 100, "Increases loss scaling every n consecutive steps with finite gradients.",
        min=1)
    add("decr_every_n_nan_or_inf", int, 2, "Decreases loss scaling every n accumulated steps with nan or inf "
        "gradients.", min=1)
    add("incr_ratio", float, 2.0, "The multiplier to use when increasing the loss scaling.", min=1)
    add("decr_ratio", float, 0.8, "The less-than-one-multiplier to use when decreasing the loss scaling.", min=0,
        max=1)


def add_adam_flags(add, beta2, beta2_help, epsilon, epsilon_help):
    """Declare the AdamW and gradient-clip flags with ``add`` (see :func:`add_mixed_precision_flags`); the
    defaults of beta2 and epsilon differ between pre-training and fine-tuning, as in the original."""
    add("adam_beta1", float, 0.9, "new: Adam beta1.", min=0, max=1)
    add("adam_beta2", float, beta2, beta2_help, min=0, max=1)
    add("adam_epsilon", float, epsilon, epsilon_help, min=0)
    add("adam_epsilon_as_paddle15", bool, False,
        "new: add epsilon as Paddle 1.5 (the original's) Adam did; Paddle >= 2.0 scales it by sqrt(1 - beta2^t).")
    add("grad_clip_norm", float, 1.0, "new: global gradient-norm clip (<= 0 disables; the original fixed 1.0).")


def optimizer_options(args):
    """The AdamW settings of :func:`add_adam_flags`'s flags, as keyword arguments of
    ``ernie.optimization.build_optimizer``."""
    return dict(weight_decay=args.weight_decay, grad_clip_norm=args.grad_clip_norm, beta1=args.adam_beta1,
                beta2=args.adam_beta2, epsilon=args.adam_epsilon, epsilon_as_paddle15=args.adam_epsilon_as_paddle15)


def init_logging(level=logging.INFO, stream=None):
    """Make the root logger print the original's format to ``stream`` (default stderr).

    For entry scripts: every handler already on the root logger is removed,
    because ``import paddle`` installs one with its own format and every
    message would otherwise be printed twice.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    return root


def print_arguments(args, log=None):
    log = log or logging.getLogger("ernie")
    log.info("-----------  Configuration Arguments -----------")
    for key, value in sorted(vars(args).items()):
        if not key.startswith("_"):                 # internal bookkeeping, not a flag
            log.info("%s: %s", key, value)
    log.info("------------------------------------------------")


# --------------------------------------------------------------------------- no-op flags of the original
PRETRAIN, FINETUNE, PREDICT = "pretrain", "finetune", "predict"     # train.py; run_*.py; predict_classifier.py
SWITCH = "switch"       # CompatFlag.type of a flag without a value (store_true)


@dataclass(frozen=True)
class CompatFlag:
    """A flag of the original toolkit that is accepted, so that its command lines run, and has no effect."""
    name: str
    type: object            # bool, int, str or SWITCH
    default: object
    drivers: Tuple[str, ...]
    reason: str             # why it has no effect here (shown in --help and in the warning)


COMPAT_NOOP_FLAGS = (
    CompatFlag("use_fast_executor", bool, False, (PRETRAIN, FINETUNE), "Paddle 3 has one executor"),
    CompatFlag("verbose", bool, False, (PRETRAIN,), "the original's pre-training did not read it either"),
    CompatFlag("is_distributed", bool, False, (FINETUNE,),
               "several processes are detected from the environment of paddle.distributed.launch"),
    CompatFlag("num_iteration_per_drop_scope", int, 10, (FINETUNE,), "Paddle 3 frees memory itself"),
    CompatFlag("use_multi_gpu_test", bool, False, (FINETUNE,), "the original did not use it either"),
    CompatFlag("metrics", bool, True, (FINETUNE,), "the original did not read it either"),
    CompatFlag("shuffle", bool, True, (FINETUNE,), "the training data are always shuffled, as in the original"),
    CompatFlag("enable_ce", SWITCH, False, (FINETUNE,), "runs are always seeded"),
    CompatFlag("tokenizer", str, "FullTokenizer", (FINETUNE,),
               "only FullTokenizer exists (the original ignored the flag; another value is refused)"),
    CompatFlag("ernie_version", str, "2.0", (PREDICT,), "task_ids are fed when the model config has use_task_id"),
    CompatFlag("do_prediction", bool, True, (PREDICT,), "predict_classifier.py always predicts"),
)

COMPAT_GIVEN = "_compat_flags_given"    # Namespace attribute: names of the no-op flags on the command line


class _CompatFlagAction(argparse.Action):
    """Stores the value like ``store`` (``store_true`` for a switch) and notes that the flag was given."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)
        given = getattr(namespace, COMPAT_GIVEN, ())
        if self.dest not in given:
            setattr(namespace, COMPAT_GIVEN, given + (self.dest,))


def add_compat_flags(parser, driver):
    """Register the ``COMPAT_NOOP_FLAGS`` of ``driver`` (PRETRAIN, FINETUNE or PREDICT) on ``parser``."""
    group = ArgumentGroup(parser, "accepted for old command lines", "flags of the original that have no effect "
                          "here (a warning names those given)")
    parser.set_defaults(**{COMPAT_GIVEN: ()})
    for flag in COMPAT_NOOP_FLAGS:
        if driver not in flag.drivers:
            continue
        help = "no effect: %s." % flag.reason
        if flag.type is SWITCH:
            group.add_switch(flag.name, help, nargs=0, const=True, default=flag.default, action=_CompatFlagAction)
        else:
            group.add_arg(flag.name, flag.type, flag.default, help, action=_CompatFlagAction)


def warn_compat_flags(args, log=None):
    """Log one warning naming the no-op flags given on the command line (none given: nothing).

    Returns the names of the flags given."""
    given = vars(args).get(COMPAT_GIVEN, ())
    if given:
        reasons = {flag.name: flag.reason for flag in COMPAT_NOOP_FLAGS}
        (log or logging.getLogger("ernie")).warning(
            "flags of the original toolkit accepted with no effect: %s",
            "; ".join("--%s (%s)" % (name, reasons[name]) for name in given))
    return list(given)


# --------------------------------------------------------------------------- errors
class UsageError(ValueError):
    """Flags that contradict each other or are missing."""


class DeviceError(RuntimeError):
    """The requested device cannot be used with the installed Paddle build."""


def reports_errors(*errors, status=1):
    """Decorate a tool's ``main(argv=None)``: an exception of the ``errors`` kinds (what bad input or a
    failed download raises, each with a message saying what is wrong) is printed as
    ``error: <message>`` on stderr and ``main`` returns ``status``; otherwise it returns what ``main``
    returns (None: 0).  Any other exception is a defect and keeps its traceback."""
    def decorate(main):
        @functools.wraps(main)
        def run(argv=None):
            try:
                returned = main(argv)
            except errors as e:
                print("error: %s" % e, file=sys.stderr)
                return status
            return 0 if returned is None else returned
        return run
    return decorate


# cuda_available / check_cuda import paddle inside: this module is imported by tools that never need Paddle
# (the data preparation commands), and must not load it before ernie has set Paddle's environment.
def cuda_available():
    import paddle
    return bool(paddle.is_compiled_with_cuda()) and paddle.device.cuda.device_count() > 0


def check_cuda(use_cuda):
    """Raise DeviceError when ``use_cuda`` is requested but Paddle has no usable CUDA device."""
    if not use_cuda:
        return
    import paddle
    if not paddle.is_compiled_with_cuda():
        raise DeviceError("--use_cuda true was given but the installed PaddlePaddle is a CPU-only build; "
                          "pass --use_cuda false or install paddlepaddle-gpu")
    if paddle.device.cuda.device_count() == 0:
        raise DeviceError("--use_cuda true was given but no CUDA device is visible; pass --use_cuda false")
