"""What a fact is, and the one JSON codec every fact type shares.

A fact is a frozen dataclass of what the survey saw. It says whether it is *definite* (the thing
observed is known: an answer, a refusal) or not (a timeout, SERVFAIL, a dead connection: "could not
test"), why not (:attr:`problem`), and the lines a person reads as its evidence. Facts are plain data,
so one codec turns any of them into JSON and back: the xdist controller hands them to its workers
that way, and a survey can be saved and replayed.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = ["Fact", "decode", "encode"]

T = TypeVar("T")


@runtime_checkable
class Fact(Protocol):
    """The shape every fact has (a structural type: facts are frozen dataclasses, not subclasses)."""

    @property
    def definite(self) -> bool:
        """Whether what was observed is known (an answer), rather than unknown (a timeout, SERVFAIL)."""
        ...

    @property
    def problem(self) -> str:
        """Why the fact is not definite, in words ("" when it is)."""
        ...

    def evidence(self) -> list[str]:
        """The lines a person reads to check a verdict that rests on this fact."""
        ...


def encode(value: Any) -> Any:
    """A fact (or any value made of dataclasses, tuples, dicts and scalars) as JSON-ready data.

    Dataclasses become objects with every field; tuples and lists become arrays; dict keys must be
    strings. :func:`decode` with the same type restores an equal value.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    return value


def decode(cls: type[T], data: Any) -> T:
    """The value of type ``cls`` that :func:`encode` turned into ``data``."""
    result: T = _decode(cls, data)
    return result


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, data: Any) -> Any:
    if tp is Any:
        return data
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # facts use X | None unions only
        return _decode(inner, data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in data)
        return tuple(_decode(a, v) for a, v in zip(args, data, strict=True))
    if origin is list:
        (inner,) = typing.get_args(tp)
        return [_decode(inner, v) for v in data]
    if origin is dict:
        _, inner = typing.get_args(tp)
        return {k: _decode(inner, v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {
            f.name: _decode(hints[f.name], data[f.name])
            for f in dataclasses.fields(tp)
            if f.init and f.name in data
        }
        return tp(**kwargs)
    return data
