"""Keep Paddle's start-up noise out of the project's logs, and nothing else.

Every command printed the same four lines, none of which a user can act on:

* ``UserWarning: No ccache found ...`` (twice): a Python warning of
  ``paddle.utils.cpp_extension`` at ``import paddle``, about compiling C++
  extensions, which this project never does;
* ``UserWarning: Tensor do not have 'place' interface for pir graph mode``:
  a Python warning raised by Paddle's own backward pass
  (``paddle.full_like`` asks a static value for its place);
* ``W... eager_utils.cc] Paddle static graph(PIR) not support input out
  tensor for now!!!!!``: a glog warning that Paddle prints the first time
  ``paddle.add`` (``x + y``) is built into a static program, whatever the
  caller passed;
* ``I... pir_interpreter.cc] New Executor is Running ...`` and ``pir
  interpreter is running by multi-thread mode ...``: glog INFO lines of the
  first executor run; the second names a code path, not how the operators
  run (``ernie.runtime.create_executor`` logs that truthfully instead).

What is done, and what stays visible:

* at ``import ernie`` (this module; it does not import Paddle):
  ``GLOG_minloglevel`` defaults to 1, so Paddle's C++ INFO lines are dropped
  while its warnings and errors still print (set ``GLOG_minloglevel=0`` to
  see them again), and the two Python warnings above are ignored by message
  (every other warning, from Paddle or elsewhere, is shown as before).  The
  environment variable must be set before Paddle's library is loaded, so
  ``ernie`` has to be imported before ``paddle`` (the entry points do);
* :func:`absorb_first_out_tensor_warning` (called by ``ernie.runtime`` after
  ``import paddle``): builds one ``paddle.add`` into a throw-away static
  program while file descriptor 2 goes to a temporary file.  Paddle prints
  that glog warning only once per process, so it is spent there; any other
  line written in that moment is passed on to stderr unchanged.

``ERNIE_PADDLE_NOISE=1`` turns all of this off.
"""
import os
import sys
import tempfile
import warnings

DISABLE_VARIABLE = "ERNIE_PADDLE_NOISE"
# Python warnings of Paddle that say nothing about the user's run (matched at the start of the message).
IGNORED_WARNINGS = ("No ccache found", "Tensor do not have 'place' interface")
# The glog warning that absorb_first_out_tensor_warning spends.
OUT_TENSOR_WARNING = "not support input out tensor for now"

_absorbed = False


def enabled():
    return os.environ.get(DISABLE_VARIABLE, "") not in ("1", "true")


def quiet_environment():
    """Set GLOG_minloglevel=1 unless the user set it, and ignore the known Paddle warnings."""
    if not enabled():
        return
    os.environ.setdefault("GLOG_minloglevel", "1")
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


def call_hiding_lines(fn, marker):
    """Call ``fn()`` with file descriptor 2 (what C++ code such as glog writes to) going to a temporary
    file, then pass every line that does not contain ``marker`` on to stderr.  Returns ``fn()``'s value."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            others = [line for line in text.splitlines() if marker not in line]
            if others:
                sys.stderr.write("\n".join(others) + "\n")
                sys.stderr.flush()


def absorb_first_out_tensor_warning():
    """Spend Paddle's once-per-process out-tensor glog warning where nobody sees it (see the module doc).

    Needs ``paddle`` importable; the dynamic/static mode of the caller is restored."""
    global _absorbed
    if _absorbed or not enabled():
        return
    _absorbed = True
    # here, not at the top: this module runs before Paddle is imported and sets the environment Paddle
    # reads at import (GLOG_minloglevel, the warning filters); importing paddle above would defeat that
    import paddle

    def build_one_add():
        was_dynamic = paddle.in_dynamic_mode()
        paddle.enable_static()
        try:
            with paddle.utils.unique_name.guard():
                main, startup = paddle.static.Program(), paddle.static.Program()
                with paddle.static.program_guard(main, startup):
                    x = paddle.static.data("ernie_quiet_x", [1], "float32")
                    paddle.add(x, x)
        finally:
            if was_dynamic:
                paddle.disable_static()

    call_hiding_lines(build_one_add, OUT_TENSOR_WARNING)


quiet_environment()
