"""Checks shared by every reader of an input file: it exists and is a regular file.

A directory gives ``IsADirectoryError`` deep inside a reader, and a FIFO, a
socket or a device blocks the open or never ends, so inputs are refused with a
message naming the file before they are opened.  ``read_json`` and
``read_text_lines`` read a JSON / text file with the same checks.
"""
import json
import os
import stat


def check_input_file(path, what="input file", error=ValueError):
    """Raise ``error(message)`` unless ``path`` is an existing regular file (symlinks followed)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error("%s %s does not exist" % (what, path)) from None
    except OSError as e:
        raise error("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    if stat.S_ISDIR(mode):
        raise error("%s %s is a directory, not a file" % (what, path))
    if not stat.S_ISREG(mode):
        raise error("%s %s is not a regular file (a FIFO, socket or device is refused: reading it could block "
                    "forever)" % (what, path))
    return path


def read_text_lines(path, what="input file", error=ValueError):
    """The lines of the UTF-8 text file ``path`` without their line ends.

    Lines end at LF; a CR right before it goes too (CRLF files), a CR elsewhere stays in its line; the final
    line end does not start another line.  Raises ``error(message)`` naming the file and the reason when it
    is missing, not a regular file, unreadable or not UTF-8."""
    check_input_file(path, what, error)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            data = f.read()
    except OSError as e:
        raise error("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    except UnicodeDecodeError as e:
        raise error("%s %s: not UTF-8 text (%s)" % (what, path, e)) from None
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


JSON_KINDS = {dict: "a JSON object", list: "a JSON list"}


def read_json(path, what="JSON file", error=ValueError, missing_hint=None, expect=None):
    """The parsed content of the UTF-8 JSON file ``path``.

    Raises ``error(message)`` naming ``what`` and ``path`` when the file is missing (``missing_hint``, e.g.
    where it comes from, is added in parentheses), is not a regular file, cannot be read, is not UTF-8 JSON,
    or (``expect``: dict or list) does not hold a JSON object / list."""
    if missing_hint and not os.path.lexists(path):
        raise error("%s %s does not exist (%s)" % (what, path, missing_hint))
    check_input_file(path, what, error)
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except OSError as e:
        raise error("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise error("%s %s is not valid UTF-8 JSON: %s" % (what, path, e)) from None
    if expect is not None and not isinstance(value, expect):
        raise error("%s %s must hold %s, got %s" % (what, path, JSON_KINDS[expect], type(value).__name__))
    return value


def check_output_file(path, what="output file", error=ValueError):
    """Raise ``error`` unless ``path`` can be created or replaced as a regular file: not a directory, its
    parent a writable directory or creatable (checked before any compute)."""
    if os.path.isdir(path):
        raise error("%s %s is a directory; give a file name" % (what, path))
    if os.path.exists(path) and not os.path.isfile(path):
        raise error("%s %s exists and is not a regular file" % (what, path))
    parent = os.path.dirname(os.path.abspath(path))
    check_output_dir(parent, "directory of the %s" % what, error)
    return path


def check_output_dir(path, what="output directory", error=ValueError, create=True):
    """Raise ``error`` unless ``path`` is (or, with ``create``, can be made) a writable directory."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        if not create:
            raise error("%s %s does not exist" % (what, path))
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise error("%s %s cannot be created: %s is %s" % (
            what, path, probe, "a file" if os.path.isfile(probe) else "not a directory"))
    if not os.access(probe, os.W_OK | os.X_OK):
        raise error("%s %s is not writable (%s)" % (what, path, probe))
    return path
