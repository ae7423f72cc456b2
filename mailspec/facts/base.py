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
from collections.abc import Callable
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
    result: T = _decoder(cls)(data)  # type: ignore[arg-type]
    return result


def _same(data: Any) -> Any:
    return data


@functools.cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    """A decoding function for one type, made once (a hand-over decodes many thousand facts)."""
    if tp is Any:
        return _same
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        (inner_tp,) = [a for a in args if a is not type(None)]  # facts use X | None unions only
        inner = _decoder(inner_tp)
        return lambda data: None if data is None else inner(data)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda data: tuple(item(v) for v in data)
        items = [_decoder(a) for a in args]
        return lambda data: tuple(f(v) for f, v in zip(items, data, strict=True))
    if origin is list:
        (inner_tp,) = typing.get_args(tp)
        inner = _decoder(inner_tp)
        return lambda data: [inner(v) for v in data]
    if origin is dict:
        _, inner_tp = typing.get_args(tp)
        inner = _decoder(inner_tp)
        return lambda data: {k: inner(v) for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        fields: list[tuple[str, Callable[[Any], Any]]] = []

        def make(data: Any) -> Any:
            if not fields:  # on first use: a fact type may contain itself (DnsAnswer.followed)
                hints = typing.get_type_hints(tp)
                fields.extend((f.name, _decoder(hints[f.name])) for f in dataclasses.fields(tp) if f.init)
            return tp(**{name: dec(data[name]) for name, dec in fields if name in data})

        return make
    return _same
