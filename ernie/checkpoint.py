"""Loading and saving ``params`` / checkpoint directories (one file per variable).

Two distinct ways in, as in the original toolkit but without its confusion:

* ``init_pretraining_params(dir)``: parameters only.  Used to start training or
  fine-tuning from released weights; the optimizer moments, the step counter
  and the learning-rate schedule start fresh.  Encoder parameters must all be
  present; head parameters absent from the directory keep their fresh
  initialisation (and are listed in the log).
* ``init_checkpoint(dir)``: everything needed to continue a run: every
  persistable variable of the program (parameters, Adam moments, beta powers,
  loss-scaling state) plus ``train_state.json`` (step, learning-rate schedule
  position, reader position, RNG state).  Nothing may be missing.

Every file is checked (complete, right shape, right dtype) before any value is
written into the scope, so a failed load leaves the model untouched.

``save_checkpoint`` writes into a temporary sibling directory and renames it
into place, so a crash mid-save leaves the previous checkpoint intact.
"""
import json
import logging
import os
import re
import shutil
import time

import numpy as np
import paddle

from ernie.tensor_file import TensorFileError, read_header, read_tensor, tensor_bytes

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.json"
# Parameters a pre-trained encoder must provide; heads on top may be fresh.
ENCODER_PARAM = re.compile(r"^(word_embedding|pos_embedding|sent_embedding|task_embedding|"
                           r"pre_encoder_layer_norm_.*|encoder_layer_\d+_.*)$")
LR_VAR = re.compile(r"^learning_rate_\d+$")


class CheckpointError(RuntimeError):
    """A params / checkpoint directory cannot be loaded into the program."""


def program_variables(program):
    """(parameter names, other persistable names) of a PIR program, sorted."""
    from paddle.static.pir_io import get_pir_parameters
    params, others = get_pir_parameters(program)
    # The learning-rate variable is rewritten from the Python scheduler before
    # every run; its state lives in train_state.json, not in a tensor file.
    others = [v for v in others if not LR_VAR.match(v.name)]
    return sorted({v.name for v in params}), sorted({v.name for v in others})


def _scope(scope):
    return scope if scope is not None else paddle.static.global_scope()


def _scope_tensor(scope, name):
    var = scope.find_var(name)
    if var is None:
        raise CheckpointError("variable %s is not initialised in the scope (run the startup program first)" % name)
    return var.get_tensor()


def _tensor_spec(tensor):
    arr = np.array(tensor)
    return tuple(arr.shape), arr.dtype


# A checkpoint that does not fit the program usually fails on every tensor: list this many.
MAX_PROBLEMS_SHOWN = 5


def _check_file(directory, name, expected_shape, expected_dtype):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        return "variable %s: file %s is missing" % (name, path)
    try:
        header = read_header(path)
    except (TensorFileError, OSError) as e:
        return "variable %s: file %s is unreadable: %s" % (name, path, e)
    scalar = int(np.prod(header.shape)) == 1 and int(np.prod(expected_shape)) == 1 \
        and len(header.shape) <= 1 and len(expected_shape) <= 1   # [] and [1] are the same scalar
    if tuple(header.shape) != tuple(expected_shape) and not scalar:
        return ("variable %s: file %s has shape %s but the program expects %s"
                % (name, path, list(header.shape), list(expected_shape)))
    if header.dtype_name() != np.dtype(expected_dtype).name:
        return ("variable %s: file %s has dtype %s but the program expects %s"
                % (name, path, header.dtype_name(), np.dtype(expected_dtype).name))
    return None


def load_variables(directory, names, scope=None, place=None, optional=()):
    """Load ``names`` (+ ``optional`` names, when their file exists) from ``directory``.

    All files are verified first; on any problem a ``CheckpointError`` lists
    every bad variable and nothing is loaded.  Returns the loaded names.
    """
    scope = _scope(scope)
    place = place or paddle.CPUPlace()
    if not os.path.isdir(directory):
        raise CheckpointError("checkpoint directory %s does not exist" % directory)
    wanted = list(names) + [n for n in optional if os.path.isfile(os.path.join(directory, n))]
    problems, specs = [], {}
    for name in wanted:
        shape, dtype = _tensor_spec(_scope_tensor(scope, name))
        specs[name] = (shape, dtype)
        problem = _check_file(directory, name, shape, dtype)
        if problem:
            problems.append(problem)
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append("... and %d more" % (len(problems) - len(shown)))
        raise CheckpointError("cannot load %s (nothing was loaded):\n  %s" % (directory, "\n  ".join(shown)))
    arrays = {name: read_tensor(os.path.join(directory, name)).reshape(specs[name][0]) for name in wanted}
    for name, arr in arrays.items():
        _scope_tensor(scope, name).set(arr, place)
    return wanted


def init_pretraining_params(directory, program, scope=None, place=None):
    """Load parameters only (see module doc).  Returns the names loaded."""
    params, _ = program_variables(program)
    required = [p for p in params if ENCODER_PARAM.match(p)]
    optional = [p for p in params if not ENCODER_PARAM.match(p)]
    loaded = load_variables(directory, required, scope, place, optional=optional)
    fresh = sorted(set(params) - set(loaded))
    logger.info("Load pretraining parameters from %s: %d tensors", directory, len(loaded))
    if fresh:
        logger.info("Parameters not in %s keep their fresh initialisation: %s", directory, ", ".join(fresh))
    return loaded


def init_checkpoint(directory, program, scope=None, place=None):
    """Restore every persistable variable and return the saved training state (a dict)."""
    params, others = program_variables(program)
    state_path = os.path.join(directory, STATE_FILE)
    if not os.path.isfile(state_path):
        raise CheckpointError("%s is not a training checkpoint: %s is missing (to start from parameters "
                              "only, use --init_pretraining_params)" % (directory, state_path))
    with open(state_path, encoding="utf-8") as f:
        state = json.load(f)
    load_variables(directory, params + others, scope, place)
    logger.info("Load checkpoint from %s (step %s)", directory, state.get("step"))
    return state


def save_variables(directory, names, scope=None):
    """Write each named scope variable to ``directory/<name>`` (directory created)."""
    scope = _scope(scope)
    os.makedirs(directory, exist_ok=True)
    for name in names:
        arr = np.array(_scope_tensor(scope, name))
        with open(os.path.join(directory, name), "wb") as f:
            f.write(tensor_bytes(arr))


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(directory, program, state=None, scope=None, params_only=False):
    """Atomically write a checkpoint of ``program`` to ``directory``.

    ``state`` (JSON-serialisable) goes to ``train_state.json``; with
    ``params_only`` only the parameters are written (a releasable ``params`` dir).
    """
    params, others = program_variables(program)
    names = params if params_only else params + others
    directory = os.path.abspath(directory)
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = "%s.tmp-%d-%d" % (directory, os.getpid(), int(time.time() * 1e6))
    try:
        save_variables(tmp, names, scope)
        if state is not None:
            with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
                json.dump(state, f, indent=1, sort_keys=True)
        for entry in os.listdir(tmp):
            with open(os.path.join(tmp, entry), "rb") as f:
                os.fsync(f.fileno())
        if os.path.exists(directory):
            old = tmp + ".old"
            os.rename(directory, old)
            os.rename(tmp, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, directory)
        _fsync_dir(parent)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def prune_checkpoints(root, keep, prefix="step_"):
    """Delete all but the newest ``keep`` ``<root>/step_<N>`` directories (keep <= 0: keep all)."""
    if keep <= 0 or not os.path.isdir(root):
        return []
    steps = []
    for entry in os.listdir(root):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", entry)
        if m and os.path.isdir(os.path.join(root, entry)):
            steps.append((int(m.group(1)), entry))
    removed = []
    for _, entry in sorted(steps)[:-keep]:
        shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        removed.append(entry)
    return removed


def latest_checkpoint(root, prefix="step_"):
    """Path of the newest complete ``step_<N>`` checkpoint under ``root``, or None."""
    if not os.path.isdir(root):
        return None
    best = None
    for entry in os.listdir(root):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", entry)
        if m and os.path.isfile(os.path.join(root, entry, STATE_FILE)):
            if best is None or int(m.group(1)) > best[0]:
                best = (int(m.group(1)), entry)
    return os.path.join(root, best[1]) if best else None


LAYER_FILE = re.compile(r"^encoder_layer_(\d+)_")


def check_params_fit_config(directory, config, fix=None):
    """Raise a one-line ``CheckpointError`` when the parameter files in ``directory`` were not made for
    ``config`` (an ``ErnieConfig``): embedding and feed-forward shapes and the number of encoder layers.

    Meant to run before any program is built, so that a model directory paired with another model's
    config fails with one line naming both and ``fix`` (what to pass instead) rather than with a
    mismatch for every tensor.  Names whose file is absent are not judged here (the loader reports
    them)."""
    if not os.path.isdir(directory):
        return
    hidden = config.hidden_size
    expected = {"word_embedding": [config.vocab_size, hidden],
                "pos_embedding": [config.max_position_embeddings, hidden],
                "sent_embedding": [config.sent_vocab_size, hidden],
                "encoder_layer_0_ffn_fc_0.w_0": [hidden, config.ffn_size]}
    found = []
    for name, shape in expected.items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        try:
            actual = list(read_header(path).shape)
        except (TensorFileError, OSError):
            continue                     # the loader names unreadable files
        if actual != shape:
            found.append("%s is %s, the config needs %s" % (name, actual, shape))
    layers = {int(m.group(1)) for m in map(LAYER_FILE.match, os.listdir(directory)) if m}
    if layers and len(layers) != config.num_hidden_layers:
        found.append("%d encoder layers, the config has num_hidden_layers %d" % (len(layers), config.num_hidden_layers))
    if found:
        raise CheckpointError("the parameters in %s do not fit the model config %s (%s): %s"
                              % (directory, config.source, "; ".join(found), fix or config_fix_hint(directory, config)))


def config_fix_hint(params_dir, config):
    """What to pass when the parameters in ``params_dir`` do not fit ``config``: the model directory's own
    ``ernie_config.json`` when there is one (a release keeps it next to ``params/``)."""
    own = os.path.join(os.path.dirname(os.path.abspath(params_dir.rstrip("/"))), "ernie_config.json")
    if os.path.isfile(own) and os.path.abspath(own) != os.path.abspath(config.source):
        return "pass --ernie_config_path %s (task scripts: ERNIE_CONFIG=%s)" % (own, own)
    return "pass the config these parameters were made with (--ernie_config_path; task scripts: ERNIE_CONFIG)"
