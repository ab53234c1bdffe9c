"""Canonical JSON: one text per value, so equal scenarios hash to equal keys.

Keys are sorted and separators fixed; Python's float repr round-trips exactly, so a value
written and read back gives the same text (and the same key) on every machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _unsupported(value: Any) -> Any:
    raise TypeError(
        f"value {value!r} of type {type(value).__name__} is not plain data "
        "(numbers, strings, booleans, null, lists, mappings)"
    )


def canonical_json(value: Any) -> str:
    """Serialize plain data deterministically; raises `TypeError` for anything else."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_unsupported
    )


def content_key(value: Any) -> str:
    """sha256 hex digest of the canonical JSON: the identity of a resolved scenario."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
