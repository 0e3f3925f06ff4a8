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
into place, so a crash mid-save leaves the previous checkpoint intact.  The
last file written, ``checkpoint_complete.json`` (every file's byte size), marks
a checkpoint complete: ``latest_checkpoint``, ``init_checkpoint`` and pruning
only count complete ones.  Every checkpoint also holds the model config it was
trained with (``ernie_config.json``); loading with a config of another
architecture is an error.  A checkpoint whose variables hold NaN or infinity is
never written.

A ``--checkpoints`` directory belongs to one run (``claim_checkpoint_dir``): a
lock file names the run holding it (pid, host, start time, command), so a
second run fails at once; a new run refuses a directory that holds another
run's checkpoints unless it resumes from one of them or is told to start over.
Pruning renames a checkpoint before deleting it, and the temporary directories
a killed run leaves are removed (or, when complete, renamed into place) when
the next run claims the directory.
"""
import errno
import fcntl
import json
import logging
import os
import re
import shlex
import shutil
import socket
import sys
import time

import numpy as np
import paddle
from paddle.static.pir_io import get_pir_parameters

from ernie.atomic_write import atomic_directory
from ernie.config import FIELDS
from ernie.tensor_file import TensorFileError, read_header, read_tensor, tensor_bytes
from reader.files import check_output_dir

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.json"
COMPLETE_FILE = "checkpoint_complete.json"   # written last: the checkpoint is complete
CONFIG_FILE = "ernie_config.json"            # the model config the checkpoint was trained with
LOCK_FILE = ".ernie_run.lock"                # the run that holds a --checkpoints directory
TEMP_ENTRY = re.compile(r".+\.(tmp|prune)-\d+-\d+(\.old)?$")   # left by a killed save / prune
# Fields whose change alters the computation or the parameter shapes.
ARCHITECTURE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                       "max_position_embeddings", "sent_vocab_size", "use_task_id", "task_type_vocab_size",
                       "hidden_act", "ffn_size", "layer_norm_eps")
# Parameters a pre-trained encoder must provide; heads on top may be fresh.
ENCODER_PARAM = re.compile(r"^(word_embedding|pos_embedding|sent_embedding|task_embedding|"
                           r"pre_encoder_layer_norm_.*|encoder_layer_\d+_.*)$")
LR_VAR = re.compile(r"^learning_rate_\d+$")


class CheckpointError(RuntimeError):
    """A params / checkpoint directory cannot be loaded into the program."""


class CheckpointWriteError(CheckpointError, OSError):
    """Writing a checkpoint failed (e.g. the disk is full); the earlier checkpoints are untouched."""


class NonFiniteCheckpointError(CheckpointError):
    """The variables to save hold NaN or infinity: nothing was written."""


class CheckpointDirBusy(CheckpointError):
    """Another live run holds the ``--checkpoints`` directory."""


def program_variables(program):
    """(parameter names, other persistable names) of a PIR program, sorted."""
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


def incomplete_reason(directory):
    """None when ``directory`` is a complete checkpoint, else why not (a sentence)."""
    marker = os.path.join(directory, COMPLETE_FILE)
    if not os.path.isfile(marker):
        return "%s is missing (the save or a pruning was interrupted)" % marker
    try:
        with open(marker, encoding="utf-8") as f:
            sizes = json.load(f)["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return "%s is unreadable: %s" % (marker, e)
    for name, size in sizes.items():
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            return "%s is missing" % path
        if os.path.getsize(path) != size:
            return "%s has %d bytes, %s says %d" % (path, os.path.getsize(path), COMPLETE_FILE, size)
    return None


def is_complete(directory):
    return incomplete_reason(directory) is None


def read_train_state(directory, missing_ok=False):
    """``directory/train_state.json`` as a dict (CheckpointError naming the file otherwise; the one reader of
    the file).  ``missing_ok``: None when the file does not exist (a parameters-only directory)."""
    path = os.path.join(directory, STATE_FILE)
    if not os.path.isfile(path):
        if missing_ok:
            return None
        raise CheckpointError("%s is not a training checkpoint: %s is missing (to start from parameters "
                              "only, use --init_pretraining_params)" % (directory, path))
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError("%s is unreadable (truncated or not JSON): %s" % (path, e)) from None
    if not isinstance(state, dict):
        raise CheckpointError("%s must hold a JSON object, got %s" % (path, type(state).__name__))
    return state


def _architecture(values):
    """The architecture fields of a raw config dict (as ErnieConfig derives them)."""
    get = lambda k: values.get(k) if values.get(k) is not None else FIELDS[k][1]   # noqa: E731
    arch = {k: get(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                                "max_position_embeddings", "use_task_id", "task_type_vocab_size", "hidden_act",
                                "layer_norm_eps")}
    arch["sent_vocab_size"] = get("sent_type_vocab_size") or get("type_vocab_size")
    arch["ffn_size"] = get("intermediate_size") or (arch["hidden_size"] or 0) * 4
    arch["use_task_id"] = bool(arch["use_task_id"])
    if not arch["use_task_id"]:
        arch["task_type_vocab_size"] = None     # unused without a task embedding
    return arch


def saved_config_path(directory):
    """The model config saved with a checkpoint / params directory, or None.

    ``<dir>/ernie_config.json`` (every checkpoint), or for a release layout
    ``<release>/params`` the ``<release>/ernie_config.json`` beside it.
    """
    for path in (os.path.join(directory, CONFIG_FILE),
                 os.path.join(os.path.dirname(os.path.abspath(directory)), CONFIG_FILE)
                 if os.path.basename(os.path.normpath(directory)) == "params" else None):
        if path and os.path.isfile(path):
            return path
    return None


def check_saved_config(directory, config):
    """Compare ``config`` (an ErnieConfig) with the config saved beside ``directory``.

    Architecture fields that differ are a CheckpointError; other fields (dropout,
    initializer range) a warning.  Nothing is checked when no config was saved.
    """
    if config is None:
        return
    path = saved_config_path(directory)
    if path is None:
        return
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError("%s (the model config saved with %s) is unreadable: %s" % (path, directory, e)) from None
    mine = config.to_dict()
    old, new = _architecture(saved), _architecture(mine)
    diff = ["%s: %r there, %r in %s" % (k, old[k], new[k], config.source) for k in ARCHITECTURE_FIELDS
            if old[k] != new[k]]
    if diff:
        raise CheckpointError("%s was trained with another model architecture than %s (nothing was loaded):\n  %s"
                              % (directory, config.source, "\n  ".join(diff)))
    other = ["%s: %r there, %r now" % (k, saved.get(k, FIELDS[k][1]), mine.get(k)) for k in
             ("hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range")
             if saved.get(k, FIELDS[k][1]) != mine.get(k)]
    if other:
        logger.warning("%s differs from %s in non-architecture fields: %s", path, config.source, "; ".join(other))


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


def init_pretraining_params(directory, program, scope=None, place=None, config=None):
    """Load parameters only (see module doc).  Returns the names loaded.

    ``config``: the ErnieConfig of ``program``, checked against the one saved beside ``directory``."""
    check_saved_config(directory, config)
    params, _ = program_variables(program)
    required = [p for p in params if ENCODER_PARAM.match(p)]
    optional = [p for p in params if not ENCODER_PARAM.match(p)]
    loaded = load_variables(directory, required, scope, place, optional=optional)
    fresh = sorted(set(params) - set(loaded))
    logger.info("Load pretraining parameters from %s: %d tensors", directory, len(loaded))
    if fresh:
        logger.info("Parameters not in %s keep their fresh initialisation: %s", directory, ", ".join(fresh))
    return loaded


def init_checkpoint(directory, program, scope=None, place=None, config=None):
    """Restore every persistable variable and return the saved training state (a dict).

    The checkpoint must be complete (its ``checkpoint_complete.json`` present and
    matching); ``config`` is checked against the saved model config."""
    params, others = program_variables(program)
    state = read_train_state(directory)
    reason = incomplete_reason(directory)
    if reason:
        raise CheckpointError("%s is not a complete checkpoint: %s; resume from an earlier one"
                              % (directory, reason))
    check_saved_config(directory, config)
    load_variables(directory, params + others, scope, place)
    logger.info("Load checkpoint from %s (step %s)", directory, state.get("step"))
    return state


def save_variables(directory, names, scope=None, check_finite=False):
    """Write each named scope variable to ``directory/<name>`` (directory created).

    ``check_finite``: raise NonFiniteCheckpointError at the first floating-point
    variable holding NaN or infinity."""
    scope = _scope(scope)
    os.makedirs(directory, exist_ok=True)
    for name in names:
        arr = np.array(_scope_tensor(scope, name))
        if check_finite and arr.dtype.kind == "f" and not np.isfinite(arr.astype(np.float32, copy=False)).all():
            raise NonFiniteCheckpointError("variable %s holds NaN or infinity: the checkpoint %s is not written"
                                           % (name, directory))
        with open(os.path.join(directory, name), "wb") as f:
            f.write(tensor_bytes(arr))


def save_checkpoint(directory, program, state=None, scope=None, params_only=False, config=None):
    """Atomically write a checkpoint of ``program`` to ``directory``.

    ``state`` (JSON-serialisable) goes to ``train_state.json``; with
    ``params_only`` only the parameters are written (a releasable ``params`` dir);
    ``config`` (an ErnieConfig) to ``ernie_config.json``.  Variables holding NaN
    or infinity: NonFiniteCheckpointError, nothing written.  A failed write
    (full disk, ...): CheckpointWriteError; the temporary directory is removed
    and an existing ``directory`` is untouched.
    """
    params, others = program_variables(program)
    names = params if params_only else params + others
    directory = os.path.abspath(directory)
    try:
        with atomic_directory(directory) as tmp:
            save_variables(tmp, names, scope, check_finite=True)
            if state is not None:
                with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
                    json.dump(state, f, indent=1, sort_keys=True)
            if config is not None:
                config.save(os.path.join(tmp, CONFIG_FILE))
            sizes = {}
            for entry in sorted(os.listdir(tmp)):
                with open(os.path.join(tmp, entry), "rb") as f:
                    os.fsync(f.fileno())
                sizes[entry] = os.path.getsize(os.path.join(tmp, entry))
            # last: the marker says the files above are complete (a killed save's temporary
            # directory is renamed into place by the next run only when it has the marker)
            with open(os.path.join(tmp, COMPLETE_FILE), "w", encoding="utf-8") as f:
                json.dump({"files": sizes}, f, indent=1, sort_keys=True)
    except OSError as e:
        error = CheckpointWriteError("cannot write the checkpoint %s: %s (the partial copy was removed; earlier "
                                     "checkpoints are untouched)" % (directory, e.strerror or e))
        error.errno = e.errno
        raise error from e
    return directory


def _remove_dir(path):
    """Rename ``path`` out of the ``step_<N>`` namespace, then delete it (a kill in between leaves a
    temporary name that the next run removes, never a half-deleted ``step_<N>``)."""
    doomed = "%s.prune-%d-%d" % (path, os.getpid(), int(time.time() * 1e6))
    os.rename(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def checkpoint_steps(root, prefix="step_"):
    """[(step, path)] of the ``<root>/step_<N>`` directories (complete or not), by step."""
    if not os.path.isdir(root):
        return []
    found = []
    for entry in os.listdir(root):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)", entry)
        if m and os.path.isdir(os.path.join(root, entry)):
            found.append((int(m.group(1)), os.path.join(root, entry)))
    return sorted(found)


def prune_checkpoints(root, keep, prefix="step_", protect=()):
    """Delete all but the newest ``keep`` complete ``<root>/step_<N>`` directories (keep <= 0: keep all).

    Paths in ``protect`` (the checkpoint just written) are never deleted and count
    among the ``keep``; incomplete directories are left alone (not counted).
    """
    if keep <= 0 or not os.path.isdir(root):
        return []
    protect = {os.path.realpath(p) for p in protect}
    complete = [(step, path) for step, path in checkpoint_steps(root, prefix) if is_complete(path)]
    kept = [p for _, p in complete if os.path.realpath(p) in protect]
    for _, path in reversed(complete):
        if len(kept) >= keep:
            break
        if path not in kept:
            kept.append(path)
    removed = []
    for _, path in complete:
        if path not in kept:
            _remove_dir(path)
            removed.append(os.path.basename(path))
    return removed


def latest_checkpoint(root, prefix="step_"):
    """Path of the newest complete ``step_<N>`` checkpoint under ``root``, or None."""
    for _, path in reversed(checkpoint_steps(root, prefix)):
        if is_complete(path):
            return path
    return None


def clean_temporaries(root):
    """Remove what killed saves and prunings left in ``root`` (call only while holding its lock).

    A complete temporary checkpoint whose final name is free is renamed into
    place (the kill came between its last write and its rename); every other
    ``*.tmp-*`` / ``*.prune-*`` entry is deleted.  Returns the names handled.
    """
    handled = []
    if not os.path.isdir(root):
        return handled
    for sub in (root, os.path.join(root, "reader_states")):
        if not os.path.isdir(sub):
            continue
        for entry in sorted(os.listdir(sub)):
            path = os.path.join(sub, entry)
            if not TEMP_ENTRY.fullmatch(entry) and not re.fullmatch(r".+\.json\.tmp-\d+", entry):
                continue
            target = os.path.join(sub, entry.split(".tmp-")[0])
            if ".tmp-" in entry and not entry.endswith(".old") and os.path.isdir(path) and \
                    not os.path.exists(target) and is_complete(path):
                os.rename(path, target)
                logger.warning("%s: a complete checkpoint left under a temporary name by a killed run is renamed "
                               "to %s", path, os.path.basename(target))
            elif os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
                logger.warning("removed %s, left by a killed run", path)
            else:
                os.remove(path)
                logger.warning("removed %s, left by a killed run", path)
            handled.append(entry)
    return handled


# --------------------------------------------------------------------------- one run per directory
_HELD = {}      # realpath of a --checkpoints root -> CheckpointDirLock held by this process


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class CheckpointDirLock:
    """``<root>/.ernie_run.lock``: an exclusive ``flock`` held for the run's lifetime, holding the
    holder's pid, host, start time and command line.  The kernel drops the lock when its process dies
    (even by ``kill -9``), so a lock file left by a dead run is stale and is taken over."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.path = os.path.join(self.root, LOCK_FILE)
        self._fd = None
        self._created = False

    @staticmethod
    def describe(info):
        if not isinstance(info, dict):
            return "an unknown run"
        return "pid %s on host %s, started %s (command: %s)" % (
            info.get("pid"), info.get("host"), info.get("started"), info.get("command"))

    def _read(self, fd):
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            return json.loads(os.read(fd, 1 << 16).decode("utf-8") or "null")
        except (OSError, ValueError):
            return None

    def acquire(self):
        self._created = not os.path.isdir(self.root)
        os.makedirs(self.root, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                holder = self._read(fd)
                os.close(fd)
                if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise CheckpointDirBusy(
                    "the checkpoint directory %s is in use by another run: %s; wait for it to finish or give "
                    "another --checkpoints directory" % (self.root, self.describe(holder))) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:             # the holder removed the file between our open and our lock: retry
                os.close(fd)
                continue
            break
        previous = self._read(fd)
        if previous:
            alive = previous.get("host") == socket.gethostname() and isinstance(previous.get("pid"), int) \
                and previous["pid"] != os.getpid() and _pid_alive(previous["pid"])
            logger.warning("%s: taking over the stale lock of %s (that run is gone%s)", self.path,
                           self.describe(previous), "; its pid is now reused" if alive else "")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                "command": " ".join(shlex.quote(a) for a in sys.argv)}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info, sort_keys=True).encode("utf-8"))
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self):
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        if self._created:
            try:
                os.rmdir(self.root)         # created by this run and still empty: leave no trace
            except OSError:
                pass
        if _HELD.get(os.path.realpath(self.root)) is self:
            del _HELD[os.path.realpath(self.root)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def recover_latest_checkpoint(root, prefix="step_"):
    """The newest complete checkpoint a new run of ``root`` should resume from, or None, for a caller that
    chooses ``--init_checkpoint`` before the run claims the directory.  Under the directory's lock (no run
    is writing it) the temporaries of killed runs are handled first, as :func:`claim_checkpoint_dir` will:
    a complete checkpoint a killed save left under its temporary name is renamed into place, and it is the
    newest.  Without this, the run would redo its updates from an older one, or, given none, find it in
    place when it claims the directory and refuse to start."""
    if not os.path.isdir(root):
        return None
    with CheckpointDirLock(root).acquire() as lock:
        clean_temporaries(lock.root)
    return latest_checkpoint(root, prefix)


def holds_checkpoint_dir(root):
    """Whether this process holds ``root`` (claimed by ``claim_checkpoint_dir``)."""
    return os.path.realpath(root) in _HELD


def claim_checkpoint_dir(root, resume_from=None, overwrite=False, prefix="step_"):
    """Make ``root`` this run's checkpoint directory; returns the held :class:`CheckpointDirLock`
    (``release()`` it, or use it as a context manager, when the run ends).

    * another live run holds it: CheckpointDirBusy naming that run;
    * temporaries left by killed runs are cleaned (``clean_temporaries``);
    * ``step_<N>`` directories already there belong to an earlier run: allowed when
      ``resume_from`` is one of them (this run continues it); deleted first when
      ``overwrite`` (the user asked to start over); a CheckpointError otherwise.
    """
    check_output_dir(root, "checkpoint directory", CheckpointError)
    lock = CheckpointDirLock(root).acquire()
    try:
        clean_temporaries(lock.root)
        existing = checkpoint_steps(lock.root, prefix)
        resume_inside = bool(resume_from) and \
            os.path.realpath(os.path.dirname(os.path.abspath(resume_from))) == os.path.realpath(lock.root)
        if existing and overwrite:
            if resume_inside:
                raise CheckpointError("--overwrite_checkpoints would delete the checkpoints of %s, including "
                                      "--init_checkpoint %s" % (lock.root, resume_from))
            for _, path in existing:
                _remove_dir(path)
            logger.warning("--overwrite_checkpoints: deleted %s in %s to start a new run there",
                           ", ".join(os.path.basename(p) for _, p in existing), lock.root)
        elif existing and not resume_inside:
            names = ", ".join(os.path.basename(p) for _, p in existing)
            raise CheckpointError(
                "%s already holds checkpoints of another run (%s); to continue that run give --init_checkpoint %s, "
                "to delete them and start over give --overwrite_checkpoints true, or give another --checkpoints "
                "directory" % (lock.root, names, existing[-1][1]))
    except BaseException:
        lock.release()
        raise
    _HELD[os.path.realpath(lock.root)] = lock
    return lock


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
