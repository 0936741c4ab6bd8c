"""Provenance: canonical JSON, configuration ids, versions and data fingerprints (plain data only)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping
from typing import Any

from harcnn.core.errors import HarcnnError


def json_default(obj: Any) -> Any:
    """``json.dumps`` default: numpy scalars/arrays, tuples, sets, paths -> plain JSON values."""
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON")


def dumps(obj: Any) -> str:
    """JSON text of plain data (numpy values allowed)."""
    return json.dumps(obj, default=json_default, ensure_ascii=False)


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical JSON text of a mapping: sorted keys, no whitespace, plain values."""
    try:
        return json.dumps(config, sort_keys=True, separators=(",", ":"), default=json_default, ensure_ascii=True)
    except (TypeError, ValueError) as exc:
        raise HarcnnError(f"not JSON-serialisable: {exc}") from None


def digest(obj: Any, length: int = 12) -> str:
    """The first ``length`` hex digits of SHA-256 of ``obj``'s canonical JSON."""
    text = canonical_json(obj) if isinstance(obj, Mapping) else canonical_json({"value": obj})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def config_id(flat_config: Mapping[str, Any]) -> str:
    """Short, stable id of a complete configuration (:meth:`harcnn.models.Config.to_flat`).

    The values are canonical (every setting converts its own), so ``0`` and ``0.0`` give one id.
    """
    return digest(flat_config)


def current_versions() -> dict[str, str]:
    """Versions of harcnn, torch, numpy and Python, without importing torch."""
    from importlib import metadata

    versions = {}
    for name in ("harcnn", "torch", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    versions["python"] = platform.python_version()
    return versions
