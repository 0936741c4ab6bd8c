"""Ordering names as people read them: subject 2 before 10, fig2 before fig10."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["natural_key"]


def natural_key(name: str) -> list[Any]:
    """Sort key that orders numbers by value: subject 2 before 10, fig2 before fig10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]
