"""Writing files and directories so that nobody ever sees a half-written one.

Everything this project writes for a user (checkpoints, converted models, predictions,
results, reader states, prepared data) goes through these helpers: the content is written
to a temporary sibling (``<path>.tmp-<pid>`` for a file, ``<path>.tmp-<pid>-<usec>`` for a
directory), flushed to disk with ``fsync``, and renamed onto the final name in one step.
A crash, a kill or a full disk leaves either the previous version or no file at all under
the final name, never a truncated one; on an exception the temporary copy is removed.
``ernie.checkpoint`` recognises the temporary names that a killed process may leave behind.

    with atomic_open("out/predictions.tsv") as f:
        f.write(text)
    write_json("out/result.json", result)
    with atomic_directory("out/params") as tmp:     # build the whole directory in tmp
        ...
"""
import contextlib
import json
import os
import shutil
import time

__all__ = ["atomic_open", "write_text", "write_json", "atomic_directory", "fsync_dir"]


def fsync_dir(path):
    """Flush a directory entry (a rename inside ``path``) to disk; a no-op where unsupported."""
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


def _fsync_file(path):
    with open(path, "rb") as f:
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8", newline=None):
    """Open a temporary sibling of ``path`` for writing; when the block ends without an
    exception it is flushed, fsynced and renamed onto ``path``, otherwise removed.
    Missing parent directories are created. ``mode`` is "w" (text) or "wb"."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes whole files: mode must be 'w' or 'wb', not %r" % mode)
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
    try:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path, text, encoding="utf-8"):
    """Replace ``path`` by ``text`` atomically."""
    with atomic_open(path, encoding=encoding) as f:
        f.write(text)


def write_json(path, obj, indent=1, sort_keys=True, ensure_ascii=True):
    """Replace ``path`` by ``obj`` as JSON (with a final newline) atomically."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n")


@contextlib.contextmanager
def atomic_directory(path):
    """Build a whole directory out of sight, then put it in place in one rename.

    Yields a fresh temporary sibling of ``path``. When the block ends without an exception,
    every file in it is fsynced and it replaces ``path`` (an existing ``path`` is first renamed
    to ``<path>.prune-<pid>-<usec>`` and deleted afterwards, so a kill in between leaves a
    temporary name, never a half-deleted directory under the final name); otherwise it is
    removed. Whether an existing ``path`` may be replaced is the caller's decision.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    stamp = "%d-%d" % (os.getpid(), int(time.time() * 1e6))
    tmp = "%s.tmp-%s" % (path, stamp)
    os.makedirs(tmp)
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for entry in files:
                _fsync_file(os.path.join(root, entry))
        if os.path.exists(path):
            old = "%s.prune-%s" % (path, stamp)
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        fsync_dir(parent)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
