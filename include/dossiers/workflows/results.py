"""What a workflow returns: a frozen dataclass per kind of result, not a ``dict[str, Any]``.

A result names its fields and their types, so the API builds its response models from it
(``Model.model_validate(result, from_attributes=True)``) and mypy checks every reader. The
CLI prints it as JSON with :meth:`Result.as_dict`, keys in field order; a field whose key
cannot be a Python name says it in its metadata: ``from_stage: str =
field(metadata={"key": "from"})`` is ``"from"``. A field that is left out when it is
``None`` (a reason only a rejection has) says so too: ``field(metadata={"omit_none": True})``.

A result also reads as a record, ``result["status"]`` being ``result.status``, so callers
written against the earlier dictionaries (the tests, scripts) read it unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import Field, dataclass, fields
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with every result in it (in lists and dictionaries too) as a dictionary."""
    if isinstance(value, Result):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Result:
    """The base of every workflow result (see the module's docstring)."""

    def as_dict(self) -> dict[str, Any]:
        return {_key(f): plain(getattr(self, f.name)) for f in fields(self) if _shown(self, f)}

    def __getitem__(self, key: str) -> Any:
        for f in fields(self):
            if _key(f) == key and _shown(self, f):
                return getattr(self, f.name)
        raise KeyError(key)

    def keys(self) -> Iterator[str]:
        return (_key(f) for f in fields(self) if _shown(self, f))


def _shown(result: Result, f: Field[Any]) -> bool:
    return not (f.metadata.get("omit_none") and getattr(result, f.name) is None)


def _key(f: Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))
