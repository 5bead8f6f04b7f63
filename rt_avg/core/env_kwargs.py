"""Checking ``env.kwargs`` by value before an env is built.

An env's constructor states what each keyword takes, by its annotation (``reset_noise_scale:
float``) or else by its default (``g=10.0``).  :func:`check_kwarg_values` holds the values of
a config to that, so that ``reset_noise_scale: abc`` or ``g: null`` is refused naming the
field before a run starts, instead of failing inside the env at its first reset or step
(in the real-time modes, inside a Ray actor).  A number written as text (``1e-3``, which
YAML reads as a string) is taken as the number where the env declares one.  Annotations it cannot judge (a class of the
env's own, say) pass unchecked: the env's own checks remain.

``render_mode`` is checked apart: rt-avg never draws an env, and ``human`` would draw a
window on every step (and stop the run where there is no display).
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Callable, Literal

from rt_avg.core.config import ConfigError

_UNKNOWN = None  # a check that cannot judge the value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _matches(value: Any, tp: Any) -> bool | None:
    """Whether ``value`` (plain YAML data) fits the annotation ``tp``; None where the
    annotation is beyond plain data and the env must judge."""
    if tp is Any or tp is inspect.Parameter.empty:
        return _UNKNOWN
    if tp is None or tp is type(None):
        return value is None
    origin = typing.get_origin(tp)
    if origin is Literal:
        return value in typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        results = [_matches(value, arg) for arg in typing.get_args(tp)]
        return True if True in results else (_UNKNOWN if _UNKNOWN in results else False)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return _is_number(value)
    if tp is str:
        return isinstance(value, str)
    base = origin or tp
    if base in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return isinstance(value, dict)
    if base in (tuple, list, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if base is tuple and args and Ellipsis not in typing.get_args(tp):
            if len(value) != len(args):
                return False
            results = [_matches(v, a) for v, a in zip(value, args)]
        else:
            results = [_matches(v, args[0]) for v in value] if args else []
        return False if False in results else (_UNKNOWN if _UNKNOWN in results else True)
    return _UNKNOWN


def _describe(tp: Any) -> str:
    if tp is None or tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    base = origin or tp
    if base in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return "a mapping"
    if base in (tuple, list, collections.abc.Sequence):
        args = typing.get_args(tp)
        if base is tuple and args and Ellipsis not in args:
            return f"a list of {len(args)} ({', '.join(_describe(a) for a in args)})"
        return f"a list of {_describe(args[0])}" if args else "a list"
    return getattr(tp, "__name__", str(tp))


def _expected_types(target: Callable[..., Any]) -> dict[str, Any]:
    """Each keyword's expected type: its annotation, else the type of a plain default."""
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: use defaults
        hints = {}
    expected = {}
    for name, param in inspect.signature(target).parameters.items():
        if name in hints:
            expected[name] = hints[name]
        elif isinstance(param.default, (bool, int, float, str)):
            # g=10.0 takes a number; an int default takes an int (a bool, a bool)
            default_type = type(param.default)
            expected[name] = float if default_type is float else default_type
    return expected


def check_render_mode(env_id: str, value: Any, render_modes: list[str]) -> None:
    """rt-avg never calls ``render``: null and the env's off-screen modes are allowed."""
    allowed = [m for m in render_modes if m != "human"]
    if value is None or value in allowed:
        return
    why = ("rt-avg runs without a display and never draws the env; 'human' would open a "
           "window and draw it on every step, holding up the control loop (and stop the run "
           "where there is no display)") if value == "human" else f"{env_id} has no such mode"
    raise ConfigError(f"env.kwargs.render_mode: got {value!r}: {why}; allowed: null"
                      + "".join(f", {m}" for m in allowed))


def _number_in_text(value: Any) -> float | None:
    """``value`` as a float if it is a number written as text (YAML reads ``1e-3`` as a
    string), else None."""
    if not isinstance(value, str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def check_kwarg_values(env_id: str, target: Callable[..., Any],
                       kwargs: dict[str, Any]) -> dict[str, Any]:
    """Raise ConfigError naming ``env.kwargs.<name>`` for a value that does not fit the type
    ``target`` (the env's class or creator) declares for it.  Returns the kwargs with each
    number written as text made a float where the env declares a number (as the config's
    own number fields take them)."""
    render_modes = list((getattr(target, "metadata", None) or {}).get("render_modes", []))
    expected = _expected_types(target)
    checked = dict(kwargs)
    for name, value in kwargs.items():
        if name == "render_mode":
            check_render_mode(env_id, value, render_modes)
            continue
        if name not in expected or _matches(value, expected[name]) is not False:
            continue
        number = _number_in_text(value)
        if number is not None and _matches(number, expected[name]):
            checked[name] = number
            continue
        raise ConfigError(f"env.kwargs.{name}: got {value!r}, expected "
                          f"{_describe(expected[name])} ({env_id}'s parameter {name})")
    return checked
