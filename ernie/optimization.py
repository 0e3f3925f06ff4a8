"""Learning-rate schedules, AdamW with decoupled decay, global-norm clipping and AMP.

Everything the original ``optimization.py`` + ``utils/fp16.py`` did, on
Paddle 3's optimizer and AMP machinery (static graph, PIR).

Learning rate (:func:`lr_scheduler`)
------------------------------------
The schedule is a Python :class:`ErnieLRScheduler`; the executor writes its
current value into the program's learning-rate variable before every run, and
the trainer calls ``scheduler.step()`` after every run.  Update number k
(k = 0 for the first update) uses the schedule at ``s = begin + k`` with the
original's formulas and origins:

* ``linear_warmup_decay`` (begin 0)::

      s <  warmup:  lr * s / warmup                  (the first update has lr 0, as the original)
      s >= warmup:  lr * (1 - min(s, N) / N)         N = num_train_steps

  The decay is measured from step 0, not from the end of the warm-up (the
  original's ``polynomial_decay`` on the global step), so the value drops
  from about ``lr`` to ``lr * (1 - warmup / N)`` at ``s = warmup``: a kept
  discontinuity, negligible when ``warmup << N``.
* ``noam_decay`` (begin 1, so the first update is not zero)::

      lr * sqrt(warmup) * min(s ** -0.5, s * warmup ** -1.5)

  rising linearly to ``lr`` at ``s = warmup``, then decaying as ``s ** -0.5``
  (Paddle's own ``NoamDecay`` starts at s = 0, i.e. a zero first update).
* ``warmup_steps <= 0``: the constant ``lr`` (either name).

The position is ``scheduler.last_epoch`` (number of updates done); it is part
of the training state and restored from a checkpoint, so a resumed run
continues with the right value (the original restored a stale counter with
``--init_checkpoint`` and could restart the schedule at 0).

Optimizer (:func:`build_optimizer`)
-----------------------------------
``paddle.optimizer.AdamW`` (beta1 0.9, beta2 0.98, epsilon 1e-6 by default:
the ERNIE 2.0 paper's betas; the original used Paddle 1.x Adam's 0.999 / 1e-8.
1e-6 is the BERT-family choice and is safer with fp16 gradients).  Per step:
gradients -> [grad_hook] -> global-norm clip -> AdamW, where AdamW first
multiplies each decayed parameter by ``1 - lr * weight_decay`` (decoupled
decay with the pre-update value, exactly the original's
``p -= wd * lr * p_old`` after Adam) and then applies the Adam step.
Parameters whose name contains ``layer_norm`` or ends in ``.b_0``, ``_bias``
or ``_b`` are not decayed (all biases and layer-norm scales of ERNIE).

Mixed precision (:class:`AmpConfig`, :func:`amp_guard`)
-------------------------------------------------------
Under PIR the old ``static.amp.decorate(...).minimize`` recipe does not build,
so: the model is built inside ``amp_guard(amp)`` (``paddle.amp.auto_cast``
inserts the casts while the ops are created), then :func:`build_optimizer`
wraps AdamW with ``paddle.static.amp.decorate`` and, for float16, scales the
loss with a ``paddle.amp.GradScaler``.  Parameters stay float32 (O1).

Dynamic loss scaling (float16): the gradients of ``loss * scale`` are
unscaled and checked; a step with any inf/nan gradient is **skipped** (no
parameter, moment or beta-power change; the learning-rate position still
advances) and counts as bad.  Paddle's ``update_loss_scaling`` rule, which we
take instead of the original's (documented difference):

* finite step: ``good += 1``, ``bad = 0``; when ``good`` reaches
  ``incr_every_n_steps`` the scale is multiplied by ``incr_ratio`` (if the
  result is finite) and ``good = 0``;
* inf/nan step: ``bad += 1``, ``good = 0``; when ``bad`` reaches
  ``decr_every_n_nan_or_inf`` the scale is multiplied by ``decr_ratio``
  (floored at 1.0) and ``bad = 0``.

So the scale grows on the n-th consecutive good step and shrinks on the n-th
consecutive bad one; the original fired one step later (n + 1) and applied
zeroed gradients instead of skipping.  The scale and both counters are
persistable variables (``loss_scaling_0``, ``num_good_steps_0``,
``num_bad_steps_0``), saved in checkpoints and fetchable.  bfloat16 needs no
loss scaling (Paddle disables it).  float16 compute needs a GPU: the CPU
build has no float16 matmul (see :func:`check_amp_device`); on CPU the
machinery can still be exercised by black-listing every compute op
(``custom_black_list``), which keeps all arithmetic in float32.
"""
import contextlib
import math
from dataclasses import dataclass, field, fields
from typing import Any, List, Optional, Set, Tuple

import paddle

LR_SCHEDULERS = ("linear_warmup_decay", "noam_decay")

# Ops that auto_cast would run in low precision (Paddle 3.3's AMP white lists).
# Black-listing all of them keeps every op in float32 while the float16
# loss-scaling machinery is still built: how the tests run "fp16" on a CPU.
FP32_COMPUTE_BLACK_LIST = frozenset([
    "conv2d", "einsum", "matmul", "matmul_v2", "linear_v2", "max_pool2d_with_index", "mul",
    "fused_gemm_epilogue", "fused_rotary_position_embedding", "flash_attn", "fused_attention",
    "fused_feedforward", "fake_quantize_dequantize_abs_max",
    "fake_quantize_dequantize_moving_average_abs_max",
])


def no_decay(name):
    """True for parameters excluded from weight decay (layer norms and biases), as the original."""
    return "layer_norm" in name or name.endswith((".b_0", "_bias", "_b"))


# --------------------------------------------------------------------------- learning rate
def lr_value(name, learning_rate, warmup_steps, num_train_steps, s):
    """The original's learning rate at global step ``s`` (a float; see the module doc)."""
    lr = float(learning_rate)
    if warmup_steps <= 0:
        return lr
    if name == "linear_warmup_decay":
        if s < warmup_steps:
            return lr * s / warmup_steps
        return lr * (1.0 - min(s, num_train_steps) / float(num_train_steps))
    if name == "noam_decay":
        s = max(s, 1)   # s ** -0.5 is undefined at 0; the schedule starts at 1
        return lr * math.sqrt(warmup_steps) * min(s ** -0.5, s * warmup_steps ** -1.5)
    raise ValueError("unknown lr_scheduler %r: choose one of %s" % (name, ", ".join(LR_SCHEDULERS)))


class ErnieLRScheduler(paddle.optimizer.lr.LRScheduler):
    """One of the original's schedules as a Paddle ``LRScheduler``.

    ``last_epoch`` is the number of updates done (0 before the first); update
    k uses step ``s = begin + k`` (``begin`` 0 for linear_warmup_decay, 1 for
    noam_decay).  ``state_dict()`` / ``set_state_dict()`` carry the position;
    the value is always recomputed from the current settings.
    """

    def __init__(self, name, learning_rate, warmup_steps, num_train_steps):
        if name not in LR_SCHEDULERS:
            raise ValueError("unknown lr_scheduler %r: choose one of %s" % (name, ", ".join(LR_SCHEDULERS)))
        if warmup_steps > 0 and name == "linear_warmup_decay" and num_train_steps <= 0:
            raise ValueError("linear_warmup_decay needs num_train_steps > 0, got %r" % num_train_steps)
        self.schedule = name
        self.warmup_steps = int(warmup_steps)
        self.num_train_steps = int(num_train_steps)
        self.begin = 1 if name == "noam_decay" else 0
        super().__init__(learning_rate=float(learning_rate), last_epoch=-1)

    def value_at(self, update):
        """Learning rate of update number ``update`` (0-based)."""
        return lr_value(self.schedule, self.base_lr, self.warmup_steps, self.num_train_steps,
                        self.begin + update)

    def get_lr(self):
        return self.value_at(self.last_epoch)

    def state_dict(self):
        return {"schedule": self.schedule, "last_epoch": int(self.last_epoch), "last_lr": float(self.last_lr)}

    def set_state_dict(self, state_dict):
        """Restore the position (``last_epoch``); a schedule name mismatch is an error."""
        saved = state_dict.get("schedule")
        if saved is not None and saved != self.schedule:
            raise ValueError("the checkpoint was trained with lr_scheduler %s, now %s" % (saved, self.schedule))
        self.last_epoch = int(state_dict["last_epoch"])
        self.last_lr = self.get_lr()

    set_dict = set_state_dict


def lr_scheduler(name, learning_rate, warmup_steps, num_train_steps):
    """The original's schedule ``name`` as an :class:`ErnieLRScheduler` (ValueError for other names)."""
    return ErnieLRScheduler(name, learning_rate, warmup_steps, num_train_steps)


# --------------------------------------------------------------------------- mixed precision
@dataclass
class AmpConfig:
    """Automatic mixed precision settings.

    dtype: 'float16' (dynamic loss scaling by default) or 'bfloat16' (no loss
    scaling); level: 'O1' (white-listed ops in low precision, float32
    parameters) or 'O2'.  The loss-scaling fields are the original's flags
    (defaults: init 102400, grow x2 after 100 good steps, shrink x0.8 after 2
    bad ones).  custom_black_list / custom_white_list: op names for
    ``paddle.amp.auto_cast``.
    """

    dtype: str = "float16"
    level: str = "O1"
    init_loss_scaling: float = 102400.0
    incr_every_n_steps: int = 100
    decr_every_n_nan_or_inf: int = 2
    incr_ratio: float = 2.0
    decr_ratio: float = 0.8
    use_dynamic_loss_scaling: bool = True
    custom_black_list: Set[str] = field(default_factory=set, repr=False)
    custom_white_list: Set[str] = field(default_factory=set, repr=False)

    def __post_init__(self):
        if self.dtype not in ("float16", "bfloat16"):
            raise ValueError("AMP dtype must be float16 or bfloat16, got %r" % self.dtype)
        if self.level not in ("O1", "O2"):
            raise ValueError("AMP level must be O1 or O2, got %r" % self.level)
        if self.dtype == "float16":
            if self.init_loss_scaling <= 0:
                raise ValueError("init_loss_scaling must be positive, got %r" % self.init_loss_scaling)
            if self.use_dynamic_loss_scaling:
                if self.incr_every_n_steps < 1 or self.decr_every_n_nan_or_inf < 1:
                    raise ValueError("incr_every_n_steps and decr_every_n_nan_or_inf must be >= 1")
                if not self.incr_ratio > 1.0:
                    raise ValueError("incr_ratio must be > 1, got %r" % self.incr_ratio)
                if not 0.0 < self.decr_ratio < 1.0:
                    raise ValueError("decr_ratio must be in (0, 1), got %r" % self.decr_ratio)
        # store each field as its declared type (flags may give an int for a float, a list for an op set)
        for f in fields(self):
            value = getattr(self, f.name)
            setattr(self, f.name, set(value or ()) if f.name.endswith("_list") else f.type(value))

    @classmethod
    def from_flags(cls, flags):
        """The AMP setting of the command-line flags (``ernie.args.add_mixed_precision_flags``): float16 with
        ``--use_fp16``, bfloat16 with ``--use_bf16``, else None (float32)."""
        if flags.use_fp16:
            return cls("float16", init_loss_scaling=flags.init_loss_scaling,
                       incr_every_n_steps=flags.incr_every_n_steps,
                       decr_every_n_nan_or_inf=flags.decr_every_n_nan_or_inf, incr_ratio=flags.incr_ratio,
                       decr_ratio=flags.decr_ratio, use_dynamic_loss_scaling=flags.use_dynamic_loss_scaling)
        if flags.use_bf16:
            return cls("bfloat16")
        return None

    @property
    def loss_scaling(self):
        """True when the loss is scaled (float16 only)."""
        return self.dtype == "float16"

    @property
    def dynamic(self):
        """True when the scale adapts (float16 with use_dynamic_loss_scaling)."""
        return self.dtype == "float16" and self.use_dynamic_loss_scaling

    @property
    def fp32_compute(self):
        """True when every low-precision op is black-listed (the CPU test setting)."""
        return FP32_COMPUTE_BLACK_LIST <= self.custom_black_list


class AmpDeviceError(RuntimeError):
    """The requested precision cannot run on this device / Paddle build."""


def check_amp_device(amp, use_cuda):
    """Raise :class:`AmpDeviceError` when ``amp`` cannot compute on the chosen device.

    float16 compute needs a GPU: Paddle's CPU kernels have no float16 matmul,
    and the program would fail deep inside Paddle's type checks at build time.
    (A config whose black list keeps all compute in float32 passes: that only
    exercises the loss-scaling logic.)
    """
    if amp is None or use_cuda or amp.dtype != "float16" or amp.fp32_compute:
        return
    raise AmpDeviceError("float16 mixed precision (--use_fp16 true) needs a GPU: the CPU build of PaddlePaddle "
                         "has no float16 matmul kernels. Run with --use_cuda true on a CUDA build, or use "
                         "--use_bf16 true (bfloat16 runs on CPU, though slower than float32), or train in "
                         "float32 (--use_fp16 false)")


@contextlib.contextmanager
def amp_guard(amp):
    """Context in which the model must be built for ``amp`` (a no-op for None)."""
    if amp is None:
        yield
        return
    with paddle.amp.auto_cast(enable=True, level=amp.level, dtype=amp.dtype,
                              custom_white_list=amp.custom_white_list or None,
                              custom_black_list=amp.custom_black_list or None):
        yield


# --------------------------------------------------------------------------- optimizer
@dataclass(eq=False)
class TrainOptimizer:
    """What :func:`build_optimizer` built.

    Attributes:
        scheduler: the :class:`ErnieLRScheduler` (step it after every run).
        optimizer: the Paddle optimizer (AMP-decorated when ``amp`` is set).
        lr: float32 [1] Value, the learning rate the program uses this step.
        loss_scaling, num_good_steps, num_bad_steps: Values of the loss-scaling
            state (float32 [1], int32 [1], int32 [1]) or None (no float16 AMP;
            the counters also None with static scaling).
        params_grads: the (parameter, gradient) list that was applied (after
            the hook; gradients still scaled under float16).
        amp: the :class:`AmpConfig` or None.
    """

    scheduler: Any
    optimizer: Any
    lr: Any
    params_grads: List[Tuple[Any, Any]]
    amp: Optional["AmpConfig"] = None
    loss_scaling: Any = None
    num_good_steps: Any = None
    num_bad_steps: Any = None

    def state_fetches(self):
        """{name: Value} of the optimizer's own loggable state: lr and, with float16, loss_scaling."""
        out = {"lr": self.lr}
        if self.loss_scaling is not None:
            out["loss_scaling"] = self.loss_scaling
        return out


class Paddle15EpsilonAdamW(paddle.optimizer.AdamW):
    """AdamW whose epsilon enters the update as Paddle 1.5's Adam added it.

    Paddle >= 2.0 computes ``p -= lr_t * m / (sqrt(v) + eps * sqrt(1 - beta2^t))``
    with ``lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)``; Paddle 1.5, which
    the original toolkit ran on, added ``eps`` itself.  Passing the kernel
    ``eps / sqrt(1 - beta2^t)``, computed in the program from each parameter's
    own ``beta2^t`` accumulator (so skipped float16 steps are accounted for as
    the kernel accounts for them), gives Paddle 1.5's update.  The difference
    matters only where sqrt(v) is not large against eps: early updates of
    parameters with tiny gradients (up to 7e-4 relative with eps 1e-6).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._paddle15_epsilon = float(self._epsilon)

    def _append_optimize_op(self, block, param_and_grad):
        if isinstance(param_and_grad, dict):
            raise ValueError("Paddle15EpsilonAdamW does not support parameter groups")
        param = param_and_grad[0]
        beta2_pow = self._get_accumulator_master(self._beta2_pow_acc_str, param)
        self._epsilon = paddle.scale(paddle.rsqrt(paddle.scale(beta2_pow, scale=-1.0, bias=1.0)),
                                     scale=self._paddle15_epsilon)
        try:
            return super()._append_optimize_op(block, param_and_grad)
        finally:
            self._epsilon = self._paddle15_epsilon


def build_optimizer(loss, scheduler, weight_decay, grad_clip_norm=1.0, beta1=0.9, beta2=0.98, epsilon=1e-6,
                    amp=None, grad_hook=None, epsilon_as_paddle15=False):
    """Append backward + clipping + AdamW (+ loss scaling) for ``loss`` to the current program.

    Call inside the ``program_guard`` (and ``unique_name.guard``) of the
    training program, after building the model inside ``amp_guard(amp)``.

    Args:
        loss: scalar float32 Value to minimise.
        scheduler: an ``LRScheduler`` (e.g. from :func:`lr_scheduler`) or a float.
        weight_decay: decoupled decay coefficient (0 disables it).
        grad_clip_norm: global-norm clip threshold; None or <= 0 disables clipping.
        beta1, beta2, epsilon: Adam's.
        epsilon_as_paddle15: add epsilon as Paddle 1.5 did (:class:`Paddle15EpsilonAdamW`),
            not scaled by sqrt(1 - beta2^t) as Paddle >= 2.0 does.
        amp: an :class:`AmpConfig` or None (float32).
        grad_hook: ``f(params_grads) -> params_grads`` applied between backward
            and the update, e.g. ``lambda pg: ernie.distributed.allreduce_gradients(pg, nranks)``.
            Under float16 it sees the *scaled* gradients (an all-reduce commutes
            with the scaling, and an overflow on any rank then skips the step on all).
    Returns a :class:`TrainOptimizer`.
    """
    program = paddle.static.default_main_program()
    clip = paddle.nn.ClipGradByGlobalNorm(float(grad_clip_norm)) if grad_clip_norm and grad_clip_norm > 0 else None
    adam_class = Paddle15EpsilonAdamW if epsilon_as_paddle15 else paddle.optimizer.AdamW
    adamw = adam_class(
        learning_rate=scheduler, beta1=beta1, beta2=beta2, epsilon=epsilon,
        weight_decay=float(weight_decay), apply_decay_param_fun=lambda name: not no_decay(name),
        grad_clip=clip)
    hook = grad_hook or (lambda params_grads: params_grads)
    applied = {}

    if amp is None:
        params_grads = adamw.backward(loss)
        applied["pg"] = hook(params_grads)
        adamw.apply_gradients(applied["pg"])
        return TrainOptimizer(scheduler, adamw, adamw._learning_rate_map[program], applied["pg"])

    opt = paddle.static.amp.decorate(
        adamw, level=amp.level, dtype=amp.dtype,
        init_loss_scaling=amp.init_loss_scaling if amp.loss_scaling else 1.0,   # 1.0: no unscaling (bf16)
        incr_every_n_steps=amp.incr_every_n_steps, decr_every_n_nan_or_inf=amp.decr_every_n_nan_or_inf,
        incr_ratio=amp.incr_ratio, decr_ratio=amp.decr_ratio,
        use_dynamic_loss_scaling=amp.dynamic, use_amp_guard=False)
    if not amp.loss_scaling:        # bfloat16: plain backward / update on the decorated optimizer
        params_grads = opt.backward(loss)
        applied["pg"] = hook(params_grads)
        opt.apply_gradients(applied["pg"])
        return TrainOptimizer(scheduler, opt, adamw._learning_rate_map[program], applied["pg"], amp=amp)

    scaler = paddle.amp.GradScaler(
        init_loss_scaling=amp.init_loss_scaling, incr_ratio=amp.incr_ratio, decr_ratio=amp.decr_ratio,
        incr_every_n_steps=amp.incr_every_n_steps, decr_every_n_nan_or_inf=amp.decr_every_n_nan_or_inf,
        use_dynamic_loss_scaling=amp.dynamic)
    if amp.dynamic:
        scaled = scaler.scale(loss)
    else:
        # GradScaler.scale leaves the loss unscaled without dynamic scaling while
        # the decorated optimizer still divides the gradients by the scale:
        # scale by the (constant) factor ourselves.
        scaled = paddle.scale(paddle.cast(loss, "float32"), scale=amp.init_loss_scaling)
    # GradScaler.minimize wires the scale into the decorated optimizer and
    # calls its minimize -> backward -> apply_optimize -> apply_gradients;
    # the hook is spliced in front of apply_gradients (Paddle's unscale,
    # finite check, clip, skip-on-inf AdamW and scale update follow it).
    inner_apply = opt.apply_gradients

    def apply_with_hook(params_grads):
        applied["pg"] = hook(params_grads)
        return inner_apply(applied["pg"])

    opt.apply_gradients = apply_with_hook
    scaler.minimize(opt, scaled)
    if "pg" not in applied:
        raise RuntimeError("Paddle's AMP minimize did not call apply_gradients: the gradient hook was not applied "
                           "(paddle %s); ernie.optimization needs updating" % paddle.__version__)
    return TrainOptimizer(scheduler, opt, adamw._learning_rate_map[program], applied["pg"], amp=amp,
                          loss_scaling=opt._loss_scaling,
                          num_good_steps=getattr(opt, "_num_good_steps", None) if amp.dynamic else None,
                          num_bad_steps=getattr(opt, "_num_bad_steps", None) if amp.dynamic else None)
