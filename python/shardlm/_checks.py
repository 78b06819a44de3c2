"""Argument conversion shared by SamplingParams and LLM: wrong types raise TypeError naming the field, values
that do not fit the engine's integer fields raise ValueError naming the field."""

import numbers
import operator
import os

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def _type_name(value):
    return type(value).__name__


def as_int(owner, field, value, *, allow_none=False, bounds=INT32):
    if value is None and allow_none:
        return None
    # bool is an int subclass, but True as a count or a seed is almost certainly a mistake.
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        expected = "an int or None" if allow_none else "an int"
        raise TypeError(f"{owner}: {field} must be {expected}, got {_type_name(value)} {value!r}")
    v = operator.index(value)
    lo, hi = bounds
    if not lo <= v <= hi:
        raise ValueError(f"{owner}: {field}={v} is outside the supported range [{lo}, {hi}]")
    return v


def as_float(owner, field, value, *, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {field} must be a float, got {_type_name(value)} {value!r}")
    return float(value)


def as_bool(owner, field, value, *, allow_none=False):
    if value is None and allow_none:
        return None
    # numpy.bool_ is not a bool subclass but is what comparisons on arrays give.
    if isinstance(value, bool) or _type_name(value) == "bool_":
        return bool(value)
    raise TypeError(f"{owner}: {field} must be a bool, got {_type_name(value)} {value!r}")


def as_str(owner, field, value, *, allow_none=False, allow_path=False):
    if value is None and allow_none:
        return None
    if allow_path and isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        expected = "a str or None" if allow_none else "a str"
        raise TypeError(f"{owner}: {field} must be {expected}, got {_type_name(value)} {value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # lone surrogates, e.g. from os.fsdecode of undecodable bytes
        raise ValueError(f"{owner}: {field} is not valid Unicode text ({e.reason} at index {e.start})") from None
    return value


def as_int_list(owner, field, value, *, bounds=INT32):
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{owner}: {field} must be a list of ints, got {_type_name(value)} {value!r}")
    return [as_int(owner, f"{field}[{i}]", v, bounds=bounds) for i, v in enumerate(value)]
