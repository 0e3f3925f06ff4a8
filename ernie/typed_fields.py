"""Typed configuration objects read from JSON objects (or command-line strings) through a dataclass.

A dataclass is the schema: each field's annotation is its type (``int``, ``float``, ``str``, ``bool``,
``Optional[...]``, ``List[...]``, ``Dict[str, Any]``, ``Any``), its default makes it optional, and
:func:`option` adds a help text, bounds and choices.  :func:`read_dataclass` checks a mapping against it
-- unknown keys, missing required fields, wrong types, values out of bounds -- and raises
:class:`FieldError` naming the key, what it must be and what it got; the caller adds where the mapping
came from (a configuration file, a task).  Used for the options of every pre-training task
(``ernie.tasks.PretrainTask.Options``) and for the pre-training configuration files
(``ernie.scheduler.TaskConfig``).
"""
import dataclasses
import typing
from typing import Any, Union

import numpy as np


class FieldError(ValueError):
    """A value does not fit its field: ``key`` (None: the whole object) and ``message``."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key
        self.message = message


def option(default=dataclasses.MISSING, help="", min=None, max=None, choices=None, default_factory=None):
    """A dataclass field with its help text and checks (``min``/``max`` bounds, ``choices``)."""
    meta = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices else None}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def fields_of(cls):
    """[(name, type, dataclasses.Field)] of a dataclass, its annotations resolved."""
    hints = typing.get_type_hints(cls)
    return [(f.name, hints[f.name], f) for f in dataclasses.fields(cls)]


def required_fields(cls):
    return [name for name, _, f in fields_of(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _optional_of(typ):
    """T of Optional[T], or None when ``typ`` is not an Optional."""
    if typing.get_origin(typ) is Union:
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(typ)) == 2:
            return args[0]
    return None


def describe(typ, meta=None):
    """What a value of ``typ`` (with the field's metadata) must be, for messages: 'a positive integer'."""
    meta = meta or {}
    if meta.get("choices"):
        return "one of %s" % ", ".join(str(c) for c in meta["choices"])
    inner = _optional_of(typ)
    if inner is not None:          # null means "not given"
        return describe(inner, meta)
    lo, hi = meta.get("min"), meta.get("max")
    if typ is int:
        if lo is not None and hi is not None:
            return "an integer in [%s, %s]" % (lo, hi)
        if lo == 1:
            return "a positive integer"
        return "an integer >= %s" % lo if lo is not None else "an integer"
    if typ is float:
        if lo is not None and hi is not None:
            return "a number in [%s, %s]" % (lo, hi)
        return "a number >= %s" % lo if lo is not None else "a number"
    if typ is str:
        return "a string"
    if typ is bool:
        return "true or false"
    origin = typing.get_origin(typ)
    if origin is list:
        (item,) = typing.get_args(typ) or (Any,)
        return "a list" if item is Any else "a list of %s" % _plural(describe(item))
    if origin is dict or typ is dict:
        return "an object"
    return "any value"


def _plural(text):
    for single, plural in (("a positive integer", "positive integers"), ("an integer", "integers"),
                           ("a number", "numbers"), ("a string", "strings"), ("an object", "objects"),
                           ("a list", "lists")):
        if text.startswith(single):
            return plural + text[len(single):]
    return text


_TRUE, _FALSE = ("1", "true", "t", "yes"), ("0", "false", "f", "no")


def convert(value, typ, meta=None, strings=False):
    """``value`` checked against ``typ`` and the field's metadata; raises ValueError(what it must be).

    strings: a string is also accepted for a number or a bool (command-line values, ``"4"``, ``"true"``).
    """
    meta = meta or {}
    want = describe(typ, meta)
    inner = _optional_of(typ)
    if inner is not None:
        return None if value is None else convert(value, inner, meta, strings)
    if typ is Any:
        return value
    if typ is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if strings and isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(want)
    if typ in (int, float):
        if strings and isinstance(value, str):
            try:
                value = typ(value.strip())
            except ValueError:
                raise ValueError(want) from None
        ok = (int, np.integer) if typ is int else (int, float, np.integer, np.floating)
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, ok):
            raise ValueError(want)
        value = typ(value)
        if (meta.get("min") is not None and value < meta["min"]) or (meta.get("max") is not None
                                                                      and value > meta["max"]):
            raise ValueError(want)
    elif typ is str:
        if not isinstance(value, str):
            raise ValueError(want)
    elif typing.get_origin(typ) is list:
        if not isinstance(value, list):
            raise ValueError(want)
        (item,) = typing.get_args(typ) or (Any,)
        try:
            value = [convert(v, item, None, strings) for v in value]
        except ValueError:
            raise ValueError(want) from None
    elif typing.get_origin(typ) is dict or typ is dict:
        if not isinstance(value, dict):
            raise ValueError(want)
        value = dict(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(want)
    return value


def read_dataclass(cls, data, strings=False, ignore=lambda key: False, ignore_note=""):
    """An instance of dataclass ``cls`` from the mapping ``data``; raises :class:`FieldError`.

    Unknown keys (except those ``ignore(key)`` accepts, e.g. comments) are an error listing the known
    ones (and ``ignore_note``, what is ignored); a missing required field is an error; null for an optional
    field means its default; every other value is checked with :func:`convert`.
    """
    if not isinstance(data, dict):
        raise FieldError(None, "must be an object, got %r" % (data,))
    fields = fields_of(cls)
    known = [name for name, _, _ in fields]
    unknown = sorted(k for k in data if k not in known and not ignore(k))
    if unknown:
        raise FieldError(None, "unknown key(s) %s (known: %s%s)" % (", ".join(map(str, unknown)),
                                                                      ", ".join(known) or "none", ignore_note))
    values = {}
    required = required_fields(cls)
    for name, typ, f in fields:
        if name not in required and data.get(name) is None:
            continue                                  # absent or null: the default
        if name not in data:
            raise FieldError(name, "no '%s'%s: it is required" % (name, " (%s)" % f.metadata["help"]
                                                                     if f.metadata.get("help") else ""))
        try:
            values[name] = convert(data[name], typ, f.metadata, strings)
        except ValueError as e:
            raise FieldError(name, "'%s' must be %s, got %r" % (name, e, data[name])) from None
    return cls(**values)
