"""JSON out: orjson, with decimals written as exact JSON numbers (HTTP bodies and events alike)."""

from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, UUID):  # asyncpg's own UUID, which orjson does not take for one
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)
