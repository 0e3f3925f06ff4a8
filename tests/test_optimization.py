"""ernie.optimization: LR schedules, AdamW decoupled decay, clipping, gradient hook, AMP loss scaling."""
import math
import os
import subprocess
import sys

import numpy as np
import paddle
import pytest

from conftest import REPO, random_encoder_feed, tiny_config
from ernie import optimization as O
from ernie.args import add_mixed_precision_flags
from ernie.cli.pretrain import parse_args
from ernie.modeling import ErnieModel, create_inputs, encoder_input_names
from ernie.tasks import TaskSet

LABELS = {"mask_label": ([-1, 1], "int64"), "mask_pos": ([-1, 1], "int64"), "labels": ([-1, 1], "int64")}


# --------------------------------------------------------------------------- schedules (pure Python)
def test_linear_warmup_decay_values():
    # lr 1e-3, warmup 4, N 10: s/4 * lr during warm-up, then (1 - s/10) * lr from step 0
    f = lambda s: O.lr_value("linear_warmup_decay", 1e-3, 4, 10, s)  # noqa: E731
    assert f(0) == 0.0
    assert f(1) == pytest.approx(2.5e-4, rel=1e-12)
    assert f(3) == pytest.approx(7.5e-4, rel=1e-12)          # warmup - 1
    assert f(4) == pytest.approx(6e-4, rel=1e-12)            # warmup: drops from ~lr to lr*(1-4/10)
    assert f(9) == pytest.approx(1e-4, rel=1e-12)
    assert f(10) == 0.0                                      # N
    assert f(12) == 0.0                                      # beyond N: min(s, N)


def test_noam_decay_values():
    # lr * sqrt(4) * min(s^-0.5, s * 4^-1.5): 1e-3 * 2 * s/8 rising, peak lr at s = 4, then 2e-3 / sqrt(s)
    f = lambda s: O.lr_value("noam_decay", 1e-3, 4, 10, s)  # noqa: E731
    assert f(1) == pytest.approx(2.5e-4, rel=1e-12)
    assert f(3) == pytest.approx(7.5e-4, rel=1e-12)
    assert f(4) == pytest.approx(1e-3, rel=1e-12)
    assert f(16) == pytest.approx(5e-4, rel=1e-12)
    assert f(10) == pytest.approx(2e-3 / math.sqrt(10), rel=1e-12)


def test_constant_without_warmup_and_unknown_name():
    for name in O.LR_SCHEDULERS:
        assert O.lr_value(name, 3e-4, 0, 100, 0) == 3e-4
        assert O.lr_value(name, 3e-4, -1, 100, 57) == 3e-4
        sched = O.lr_scheduler(name, 3e-4, 0, 100)
        for _ in range(3):
            assert sched() == 3e-4
            sched.step()
    with pytest.raises(ValueError, match="unknown lr_scheduler 'cosine'"):
        O.lr_scheduler("cosine", 1e-3, 10, 100)


def test_scheduler_origins_and_state():
    lin = O.lr_scheduler("linear_warmup_decay", 1e-3, 4, 10)
    noam = O.lr_scheduler("noam_decay", 1e-3, 4, 10)
    # update k uses s = k (linear, as the original: first update at lr 0) or s = k + 1 (noam)
    got_lin, got_noam = [], []
    for _ in range(5):
        got_lin.append(lin())
        got_noam.append(noam())
        lin.step()
        noam.step()
    assert got_lin == pytest.approx([0.0, 2.5e-4, 5e-4, 7.5e-4, 6e-4], rel=1e-12)
    assert got_noam == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 2e-3 / math.sqrt(5)], rel=1e-12)
    state = noam.state_dict()
    assert state["last_epoch"] == 5
    fresh = O.lr_scheduler("noam_decay", 1e-3, 4, 10)
    fresh.set_state_dict(state)
    assert fresh() == noam() == pytest.approx(2e-3 / math.sqrt(6), rel=1e-12)
    with pytest.raises(ValueError, match="lr_scheduler noam_decay"):
        O.lr_scheduler("linear_warmup_decay", 1e-3, 4, 10).set_state_dict(state)


# --------------------------------------------------------------------------- a toy program
def _param(name, shape, value):
    return paddle.static.create_parameter(
        shape, "float32", attr=paddle.ParamAttr(name=name, initializer=paddle.nn.initializer.Assign(value)))


def _toy(names, init, coef, build_kwargs, big_input=False):
    """loss = sum_p sum(p * coef) (+ big * sum(p0)): every parameter's gradient is ``coef``."""
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        c = paddle.static.data("coef", [len(coef)], "float32")
        params = [_param(n, [len(init)], np.asarray(init, "float32")) for n in names]
        loss = paddle.add_n([paddle.sum(p * c) for p in params])
        if big_input:
            big = paddle.static.data("big", [1], "float32")
            loss = loss + paddle.sum(big * params[0])
        opt = O.build_optimizer(loss, **build_kwargs)
    return main, startup, loss, opt


def _run(main, startup, feeds, fetch=(), scheduler=None):
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    outs = []
    with paddle.static.scope_guard(scope):
        paddle.seed(1)
        exe.run(startup)
        for feed in feeds:
            outs.append(exe.run(main, feed=feed, fetch_list=list(fetch)))
            if scheduler is not None:
                scheduler.step()
    return scope, outs


def _get(scope, name):
    return np.array(scope.find_var(name).get_tensor())


def test_applied_lr_equals_scheduler(static_mode):
    for name in O.LR_SCHEDULERS:
        sched = O.lr_scheduler(name, 1e-2, 3, 8)
        init, coef = [1.0, -2.0, 0.5], [3.0, -1.0, 0.25]
        main, startup, _, opt = _toy(["w.b_0"], init, coef, dict(scheduler=sched, weight_decay=0.0,
                                                                    grad_clip_norm=None))
        expected = [sched.value_at(k) for k in range(6)]
        scope, outs = _run(main, startup, [{"coef": np.array(coef, "float32")}] * 6, [opt.lr], sched)
        fetched = [float(np.asarray(o[0]).ravel()[0]) for o in outs]
        np.testing.assert_array_equal(np.float32(fetched), np.float32(expected))
        assert sched.last_epoch == 6
        # the first update really used that rate: Adam's first step is lr * g / (|g| + eps)
        sched2 = O.lr_scheduler(name, 1e-2, 3, 8)
        main, startup, _, opt = _toy(["w.b_0"], init, coef, dict(scheduler=sched2, weight_decay=0.0,
                                                                    grad_clip_norm=None, epsilon=1e-6))
        scope, _ = _run(main, startup, [{"coef": np.array(coef, "float32")}])
        g = np.array(coef)
        step = np.array(init) - _get(scope, "w.b_0")
        np.testing.assert_allclose(step, expected[0] * g / (np.abs(g) + 1e-6), rtol=1e-5, atol=1e-9)
        if name == "noam_decay":
            assert expected[0] > 0   # the first update is not wasted


def test_decoupled_weight_decay_skips_layer_norm_and_biases(static_mode):
    names = ["enc.w_0", "word_embedding", "enc.b_0", "post_att_layer_norm_scale", "some_bias", "fc_b"]
    assert [O.no_decay(n) for n in names] == [False, False, True, True, True, True]
    init, coef = [0.5, -1.5, 2.0], [0.3, 0.2, -0.1]
    lr, wd = 0.01, 0.1
    main, startup, _, _ = _toy(names, init, coef, dict(scheduler=lr, weight_decay=wd, grad_clip_norm=None))
    scope, _ = _run(main, startup, [{"coef": np.array(coef, "float32")}])
    after = {n: _get(scope, n).astype(np.float64) for n in names}
    p0 = np.array(init)
    # identical gradients: the decayed ones differ from the others by exactly lr * wd * p0
    for decayed in names[:2]:
        for kept in names[2:]:
            np.testing.assert_allclose(after[kept] - after[decayed], lr * wd * p0, rtol=1e-4, atol=1e-8)
    for kept in names[3:]:
        np.testing.assert_array_equal(after[kept], after["enc.b_0"])
    # the decay is decoupled: it does not pass through Adam's normalisation
    adam_step = lr * np.array(coef) / (np.abs(coef) + 1e-6)
    np.testing.assert_allclose(after["enc.b_0"], p0 - adam_step, rtol=1e-5)
    np.testing.assert_allclose(after["enc.w_0"], p0 * (1 - lr * wd) - adam_step, rtol=1e-5)


def test_global_norm_clip(static_mode):
    init, coef = [0.0, 0.0, 0.0], [100.0, 100.0, 100.0]
    for clip, names in ((1.0, ["a.b_0", "b.b_0"]), (None, ["a.b_0"])):
        main, startup, _, _ = _toy(names, init, coef, dict(scheduler=0.1, weight_decay=0.0, grad_clip_norm=clip))
        scope, _ = _run(main, startup, [{"coef": np.array(coef, "float32")}])
        m1 = _get(scope, "a.b_0_moment1_0")
        g = np.array(coef)
        if clip:
            norm = math.sqrt(len(names)) * np.linalg.norm(g)     # global norm over both parameters
            np.testing.assert_allclose(m1, 0.1 * g * clip / norm, rtol=1e-5)
        else:
            np.testing.assert_allclose(m1, 0.1 * g, rtol=1e-6)


def test_grad_hook_sits_between_backward_and_update(static_mode):
    seen = []

    def zero(params_grads):
        seen.extend(p.name for p, _ in params_grads)
        return [(p, g * 0.0) for p, g in params_grads]

    init, coef = [1.0, 2.0, 3.0], [1.0, -1.0, 2.0]
    main, startup, _, opt = _toy(["a.w_0", "b.b_0"], init, coef,
                                 dict(scheduler=0.1, weight_decay=0.0, grad_clip_norm=1.0, grad_hook=zero))
    assert sorted(seen) == ["a.w_0", "b.b_0"]
    scope, _ = _run(main, startup, [{"coef": np.array(coef, "float32")}] * 2)
    for n in ("a.w_0", "b.b_0"):          # zero gradients, no decay: Adam does not move
        np.testing.assert_array_equal(_get(scope, n), np.float32(init))

    double = lambda pg: [(p, g * 2.0) for p, g in pg]  # noqa: E731
    main, startup, _, _ = _toy(["a.b_0"], init, coef, dict(scheduler=0.1, weight_decay=0.0, grad_clip_norm=None,
                                                          grad_hook=double))
    scope, _ = _run(main, startup, [{"coef": np.array(coef, "float32")}])
    np.testing.assert_allclose(_get(scope, "a.b_0_moment1_0"), 0.1 * 2 * np.array(coef), rtol=1e-6)


# --------------------------------------------------------------------------- AMP on CPU
def _ernie(amp, sched, big_input=True):
    cfg = tiny_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    main, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
        with O.amp_guard(amp):
            inp = create_inputs(encoder_input_names(cfg) + list(LABELS), LABELS)
            model = ErnieModel(inp, cfg)
            total, _ = TaskSet(["knowledge_masking", "next_sent"]).build_heads(model, inp)   # ERNIE 1.0's heads
            big = paddle.static.data("big", [1], "float32")
            # big = inf makes the loss and every gradient of the encoder non-finite
            total = total + paddle.sum(big * paddle.mean(model.get_sequence_output()))
        opt = O.build_optimizer(total, sched, weight_decay=0.01, amp=amp)
    feed = random_encoder_feed(cfg, 2, 8)
    feed.update(mask_label=np.array([[5], [6]], "int64"), mask_pos=np.array([[1], [9]], "int64"),
                labels=np.array([[0], [1]], "int64"))
    return main, startup, total, opt, feed


def _train_ernie(amp, infs, fetch_state=True):
    sched = O.lr_scheduler("noam_decay", 1e-3, 4, 100)
    main, startup, total, opt, feed = _ernie(amp, sched)
    fetch = [total]
    if fetch_state and opt.num_good_steps is not None:
        fetch += [opt.loss_scaling, opt.num_good_steps, opt.num_bad_steps]
    exe = paddle.static.Executor(paddle.CPUPlace())
    scope = paddle.static.Scope()
    rows, params = [], []
    with paddle.static.scope_guard(scope):
        paddle.seed(3)
        exe.run(startup)
        for inf in infs:
            before = _get(scope, "word_embedding").copy()
            m_before = _get(scope, "word_embedding_moment1_0").copy()
            out = exe.run(main, feed=dict(feed, big=np.array([np.inf if inf else 0.0], "float32")), fetch_list=fetch)
            sched.step()
            after = _get(scope, "word_embedding")
            rows.append(dict(loss=float(out[0]), state=[float(np.asarray(o).ravel()[0]) for o in out[1:]],
                             moved=not np.array_equal(before, after),
                             moment_moved=not np.array_equal(m_before, _get(scope, "word_embedding_moment1_0"))))
        params = {n: _get(scope, n) for n in ("word_embedding", "encoder_layer_0_ffn_fc_0.w_0")}
    return rows, params, main


def _fp16(**kw):
    kw.setdefault("custom_black_list", O.FP32_COMPUTE_BLACK_LIST)   # keep the compute in float32 on CPU
    return O.AmpConfig("float16", **kw)


def test_dynamic_loss_scaling_state_machine(static_mode):
    amp = _fp16(init_loss_scaling=1024.0, incr_every_n_steps=2, decr_every_n_nan_or_inf=2, incr_ratio=2.0,
                decr_ratio=0.5)
    infs = [0, 0, 0, 1, 1, 0, 1, 0, 0]
    rows, _, main = _train_ernie(amp, infs)
    ops = [op.name() for op in main.global_block().ops]
    assert ops.count("pd_op.check_finite_and_unscale_") == 1 and ops.count("pd_op.update_loss_scaling_") == 1
    # (scale, good, bad) after each step; Paddle fires at the n-th consecutive step (the original at n+1)
    expected = [
        (1024, 1, 0),
        (2048, 0, 0),    # 2nd good step: grow
        (2048, 1, 0),
        (2048, 0, 1),    # inf: skipped, counted
        (1024, 0, 0),    # 2nd consecutive inf: shrink
        (1024, 1, 0),
        (1024, 0, 1),    # a single inf does not shrink ...
        (1024, 1, 0),    # ... and a good step resets the bad count
        (2048, 0, 0),
    ]
    assert [tuple(r["state"]) for r in rows] == [tuple(map(float, e)) for e in expected]
    for r, inf in zip(rows, infs):
        assert r["moved"] == (not inf)             # the overflowing update is skipped ...
        assert r["moment_moved"] == (not inf)      # ... moments included
        assert math.isfinite(r["loss"]) == (not inf)
    # skipping is exact: after the two skipped steps the model is the one of a run without them
    clean, _, _ = _train_ernie(amp, [0, 0, 0, 0])
    assert rows[5]["loss"] == clean[3]["loss"]


def test_loss_scale_floor_and_persistable_state(static_mode):
    amp = _fp16(init_loss_scaling=1.0, decr_every_n_nan_or_inf=1, decr_ratio=0.5)
    rows, _, main = _train_ernie(amp, [1, 1])
    assert [r["state"][0] for r in rows] == [1.0, 1.0]     # never below 1
    from ernie.checkpoint import program_variables
    _, others = program_variables(main)
    assert {"loss_scaling_0", "num_good_steps_0", "num_bad_steps_0"} <= set(others)   # saved in checkpoints


def test_fp16_scaling_is_exact_against_fp32(static_mode):
    # a power-of-two scale, unscaled before the update, changes nothing; static scaling likewise
    _, ref, _ = _train_ernie(None, [0, 0, 0])
    for amp in (_fp16(init_loss_scaling=1024.0, incr_every_n_steps=1),
                _fp16(init_loss_scaling=256.0, use_dynamic_loss_scaling=False)):
        rows, got, _ = _train_ernie(amp, [0, 0, 0])
        for n in ref:
            np.testing.assert_array_equal(got[n], ref[n])
    # static scaling still skips a non-finite step
    rows, _, _ = _train_ernie(_fp16(init_loss_scaling=256.0, use_dynamic_loss_scaling=False), [0, 1, 0])
    assert [r["moved"] for r in rows] == [True, False, True]


def test_bf16_builds_casts_and_trains(static_mode):
    rows, _, main = _train_ernie(O.AmpConfig("bfloat16"), [0, 0, 0, 0])
    ops = [op.name() for op in main.global_block().ops]
    assert ops.count("pd_op.cast") > 10 and "pd_op.update_loss_scaling_" not in ops
    assert all(r["moved"] for r in rows)
    assert rows[-1]["loss"] < rows[0]["loss"]


def test_amp_config_checks():
    with pytest.raises(ValueError, match="dtype"):
        O.AmpConfig("int8")
    with pytest.raises(ValueError, match="decr_ratio"):
        O.AmpConfig("float16", decr_ratio=1.5)
    with pytest.raises(O.AmpDeviceError, match="needs a GPU"):
        O.check_amp_device(O.AmpConfig("float16"), use_cuda=False)
    O.check_amp_device(O.AmpConfig("float16"), use_cuda=True)
    O.check_amp_device(O.AmpConfig("bfloat16"), use_cuda=False)
    O.check_amp_device(_fp16(), use_cuda=False)           # float32 compute: loss-scaling tests
    O.check_amp_device(None, use_cuda=False)


@pytest.mark.skipif(paddle.is_compiled_with_cuda(), reason="checks the CPU-only build's error")
def test_train_py_fp16_on_cpu_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "train.py"), "--use_fp16", "true", "--use_cuda", "false",
         "--train_filelist", os.path.join(REPO, "data", "train_filelist"),
         "--vocab_path", os.path.join(REPO, "config", "vocab.txt"),
         "--ernie_config_path", os.path.join(REPO, "config", "ernie_demo_config.json"),
         "--checkpoints", str(tmp_path / "ckpt")],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: float16 mixed precision (--use_fp16 true) needs a GPU"), last
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ckpt").exists()


def test_amp_config_from_flags():
    assert O.AmpConfig.from_flags(parse_args([])) is None
    assert O.AmpConfig.from_flags(parse_args(["--use_bf16", "true"])).dtype == "bfloat16"
    amp = O.AmpConfig.from_flags(parse_args(["--use_fp16", "true", "--init_loss_scaling", "8", "--incr_ratio", "3",
                                             "--use_dynamic_loss_scaling", "false"]))
    assert (amp.dtype, amp.init_loss_scaling, amp.incr_ratio, amp.dynamic) == ("float16", 8.0, 3.0, False)
    declared = []
    add_mixed_precision_flags(lambda name, *a, **k: declared.append(name))
    assert set(declared) == {"use_fp16", "use_bf16", "use_dynamic_loss_scaling", "init_loss_scaling",
                             "incr_every_n_steps", "decr_every_n_nan_or_inf", "incr_ratio", "decr_ratio"}
