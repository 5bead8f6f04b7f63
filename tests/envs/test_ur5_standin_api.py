"""The ur_rtde stand-in must not drift from the installed ur_rtde API.

pybind11 writes each method's signature into the first line(s) of its ``__doc__``, e.g.
``speedJ(self: rtde_control.RTDEControlInterface, qd: list[float], acceleration: float = 0.5,
time: float = 0.0) -> bool``; overloaded methods list one numbered line per overload.  Every
public method of each stand-in class must exist on the real class with the same parameter
names, in the same order, with defaults in the same places and (for numbers and bools) the
same default values.
"""

import ast
import inspect
import re

import pytest

from rt_avg.envs.ur5.standin import TwinController

rtde_control = pytest.importorskip("rtde_control")
rtde_receive = pytest.importorskip("rtde_receive")
dashboard_client = pytest.importorskip("dashboard_client")

_CONTROLLER = TwinController()
PAIRS = [
    (_CONTROLLER.RTDEControlInterface, rtde_control.RTDEControlInterface),
    (_CONTROLLER.RTDEReceiveInterface, rtde_receive.RTDEReceiveInterface),
    (_CONTROLLER.DashboardClient, dashboard_client.DashboardClient),
]


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "[(<":
            depth += 1
        elif ch in "])>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def real_signatures(cls: type, name: str) -> list[list[tuple[str, str | None]]]:
    """Each overload of ``cls.name`` as [(param, default-or-None), ...] without ``self``."""
    doc = getattr(cls, name).__doc__ or ""
    found = []
    for match in re.finditer(rf"^(?:\d+\. )?{re.escape(name)}\((.*)\) -> ", doc, re.MULTILINE):
        params = []
        for part in _split_top_level(match.group(1)):
            head, _, default = part.partition(" = ")
            pname = head.split(":")[0].strip()
            if pname != "self":
                params.append((pname, default.strip() if default else None))
        found.append(params)
    return found


def standin_signature(cls: type, name: str) -> list[tuple[str, object]]:
    sig = inspect.signature(getattr(cls, name))
    return [(p.name, p.default) for p in sig.parameters.values() if p.name != "self"]


def _literal(text: str) -> object:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, (bool, int, float)) else None


def matches(real: list[tuple[str, str | None]], standin: list[tuple[str, object]]) -> bool:
    if [n for n, _ in real] != [n for n, _ in standin]:
        return False
    for (_, real_default), (_, our_default) in zip(real, standin, strict=True):
        has_ours = our_default is not inspect.Parameter.empty
        if (real_default is not None) != has_ours:
            return False
        literal = _literal(real_default) if real_default is not None else None
        if literal is not None and literal != our_default:
            return False
    return True


def public_methods(cls: type) -> list[str]:
    return sorted(n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n)))


@pytest.mark.parametrize("standin, real", PAIRS, ids=lambda c: getattr(c, "__name__", str(c)))
def test_standin_methods_match_the_real_api(standin, real):
    names = public_methods(standin) + ["__init__"]
    assert len(names) > 4
    for name in names:
        assert hasattr(real, name), f"{real.__name__} has no method {name}"
        overloads = real_signatures(real, name)
        assert overloads, f"could not parse the signature of {real.__name__}.{name}"
        ours = standin_signature(standin, name)
        assert any(matches(o, ours) for o in overloads), (
            f"{standin.__name__}.{name}{ours} does not match {real.__name__}.{name}: {overloads}")


def test_the_driver_uses_only_methods_the_standin_has():
    import rt_avg.envs.ur5.rtde_driver as module

    source = inspect.getsource(module)
    used = set(re.findall(r"self\._(?:control|receive|dashboard)\.(\w+)\(", source))
    used |= set(re.findall(r"\b(?:control|r|iface)\.(\w+)\(", source))
    available = set().union(*(public_methods(s) for s, _ in PAIRS))
    assert used and used <= available, used - available


def test_parser_reads_overloads():
    overloads = real_signatures(rtde_control.RTDEControlInterface, "moveJ")
    assert ["q", "speed", "acceleration", "asynchronous"] in [[n for n, _ in o] for o in overloads]


def test_a_drifted_method_is_caught():
    class Drifted:
        def speedJ(self, qd, accel=0.5, time=0.0): ...  # noqa: N802 - renamed parameter

        def speedStop(self, a=2.0): ...  # noqa: N802 - other default

    real = rtde_control.RTDEControlInterface
    for name in ("speedJ", "speedStop"):
        assert not any(matches(o, standin_signature(Drifted, name)) for o in real_signatures(real, name))
