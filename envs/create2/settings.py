"""Building frozen settings dataclasses from plain mappings (YAML)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def from_mapping(cls: type[T], values: Mapping[str, Any], label: str) -> T:
    """``cls(**values)``, naming unknown keys (and the allowed ones) in the error."""
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {label} option(s) {unknown}; allowed: {sorted(known)}")
    return cls(**dict(values))
