"""--adam_epsilon_as_paddle15: the update Paddle 1.5's Adam made (epsilon added unscaled), checked by hand."""
import numpy as np
import paddle
import pytest

from ernie.optimization import build_optimizer

LR, B1, B2, EPS = 0.01, 0.9, 0.98, 1e-6
GRAD = np.array([1e-7, 3e-6, -2e-5, 0.5], dtype="float64")    # tiny gradients: epsilon matters


def adam_by_hand(steps, paddle15):
    """Parameter after ``steps`` updates from 0 with the constant gradient GRAD (no decay, no clipping)."""
    p, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    for t in range(1, steps + 1):
        m = B1 * m + (1 - B1) * GRAD
        v = B2 * v + (1 - B2) * GRAD ** 2
        lr_t = LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        eps = EPS if paddle15 else EPS * np.sqrt(1 - B2 ** t)
        p = p - lr_t * m / (np.sqrt(v) + eps)
    return p


def run_paddle(steps, paddle15):
    paddle.enable_static()
    try:
        main, startup = paddle.static.Program(), paddle.static.Program()
        with paddle.static.program_guard(main, startup), paddle.utils.unique_name.guard():
            w = paddle.static.create_parameter([4], "float32", name="w",
                                               default_initializer=paddle.nn.initializer.Constant(0.0))
            loss = paddle.sum(w * paddle.to_tensor(GRAD.astype("float32")))
            build_optimizer(loss, LR, weight_decay=0.0, grad_clip_norm=0, beta1=B1, beta2=B2, epsilon=EPS,
                            epsilon_as_paddle15=paddle15)
        exe, scope = paddle.static.Executor(paddle.CPUPlace()), paddle.static.Scope()
        with paddle.static.scope_guard(scope):
            exe.run(startup)
            for _ in range(steps):
                exe.run(main)
            return np.array(scope.find_var("w").get_tensor(), dtype="float64")
    finally:
        paddle.disable_static()


@pytest.mark.parametrize("paddle15", [False, True])
def test_update_equals_the_formula(paddle15):
    for steps in (1, 3):
        got, want = run_paddle(steps, paddle15), adam_by_hand(steps, paddle15)
        np.testing.assert_allclose(got, want, rtol=2e-5)
        other = adam_by_hand(steps, not paddle15)
        assert np.abs(got[0] - other[0]) > 1e-2 * np.abs(other[0])   # the two rules are told apart
