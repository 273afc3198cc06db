"""``translate --explain``: for each wire field, the input field that produced it.

Two links make the chain. Canonical field -> wire field is the published contract
(:mod:`contracts.canonical_fields`, the table the canonical schemas are generated from).
Input field -> canonical field depends on the adapter, which is a black box; it is found by
experiment, which works for any adapter because adapters are pure: each input leaf is changed
a little (a digit bumped, a letter added, a flag flipped; removed if the adapter refuses the
change) and the canonical fields whose value moved are the ones it feeds. A canonical field
that no input leaf moves comes from the adapter itself (options, constants, defaults), unless
its value equals an input value, which is then credited as a last resort.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

from contracts.canonical_fields import MEANINGS
from gateway import model
from gateway.canonical import record_to_json
from gateway.errors import TranslationError
from gateway.model import Record

Translate = Callable[[object], Record]
CLASSES: dict[str, type] = {
    "dossier": model.Dossier,
    "progress": model.ProgressStep,
    "result": model.Result,
}
_SEGMENT = re.compile(r"\.(\w+)|\[(\d+)\]")


def leaves(value: Any) -> Iterator[tuple[str, Any]]:
    """Every scalar of a JSON value with its path (``$.fees[0].amount_vnd``)."""
    for keys, item in _leaves(value, ()):
        yield show(keys), item


def show(keys: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)


def _leaves(value: Any, keys: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*keys, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*keys, index))
    else:
        yield keys, value


def wire_field(kind: str, path: str) -> str:
    """The DVCQG field a canonical path becomes: ``$.fees[0].amount_vnd`` of a dossier ->
    ``HoSo.DanhSachLePhi[0].Gia``; ``""`` when the field is not sent."""
    cls: Any = CLASSES[kind]
    out = ""
    for name, index in _SEGMENT.findall(path):
        if index:
            out += f"[{index}]"
            continue
        dvcqg = MEANINGS[cls.__name__][name].dvcqg
        if not dvcqg:
            return ""
        out = dvcqg if not out else f"{out}.{dvcqg.split('.', 1)[1]}"
        item = _item_type(typing.get_type_hints(cls)[name])
        cls = item if item is not None else cls
    return out


def _item_type(tp: Any) -> type | None:
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        return item if item in MEANINGS_TYPES else None
    return None


MEANINGS_TYPES = {getattr(model, name) for name in MEANINGS}


def _nudge(value: Any) -> list[Any]:
    """Small changes of a value an adapter should still accept, most likely first."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [value + 1]
    if isinstance(value, str):
        digits = [i for i, c in enumerate(value) if c.isdigit()]
        out = []
        if digits:
            i = digits[-1]
            bumped = "8" if value[i] == "9" else str(int(value[i]) + 1)
            out.append(value[:i] + bumped + value[i + 1 :])
            if value[i] != "0":
                out.append(value[:i] + str(int(value[i]) - 1) + value[i + 1 :])
        out.append(value + "x")
        return out
    return []


def _set(raw: Any, keys: tuple[str | int, ...], value: Any, *, remove: bool = False) -> Any:
    copied = copy.deepcopy(raw)
    target = copied
    for key in keys[:-1]:
        target = target[key]
    key = keys[-1]
    if remove:
        del target[key]
    else:
        target[key] = value
    return copied


def _canonical(translate: Translate, raw: Any) -> dict[str, Any] | None:
    try:
        return dict(leaves(record_to_json(translate(raw))))
    except TranslationError:
        return None


def provenance(translate: Translate, raw: Any) -> tuple[dict[str, list[str]], list[str]]:
    """Canonical path -> the input paths that feed it (empty: the adapter's own value), and
    the input paths the adapter refused every change of (a code looked up in a table)."""
    base = _canonical(translate, raw)
    if base is None:
        return {}, []
    fed: dict[str, list[str]] = {path: [] for path in base}
    checked: list[str] = []
    if not isinstance(raw, dict | list):
        return fed, checked
    inputs = {show(keys): value for keys, value in _leaves(raw, ())}
    for keys, value in _leaves(raw, ()):
        path = show(keys)
        tries = [_set(raw, keys, v) for v in _nudge(value)] + [_set(raw, keys, None, remove=True)]
        for changed in tries:
            after = _canonical(translate, changed)
            if after is None:
                continue
            for key, before in base.items():
                if after.get(key) != before:
                    fed[key].append(path)
            break
        else:
            checked.append(path)
    for key, value in base.items():
        if not fed[key] and isinstance(value, str) and len(value) >= 3:
            fed[key] = [p for p, v in inputs.items() if v == value]
    return fed, checked


def explain(translate: Translate, raw: Any) -> list[str]:
    """Lines ``wire field <- canonical field <- input field(s)`` for one input record."""
    record = translate(raw)
    kind = str(record.kind)
    fed, checked = provenance(translate, raw)
    defaults = {f"$.{f.name}": _dump_default(f) for f in dataclasses.fields(CLASSES[kind])}
    own = "(adapter: an option, a constant or a code table)"
    rows = []
    for path, value in leaves(record_to_json(record)):
        if path == "$.kind":
            continue
        wire = wire_field(kind, path)
        if not wire:
            continue
        if fed.get(path):
            sources = ", ".join(fed[path])
        elif value in ("", None):
            sources = "(empty)"
        elif path in defaults and defaults[path] == value:
            sources = "(default)"
        else:
            sources = own
        rows.append((wire, path.removeprefix("$."), sources))
    width = max((len(r[0]) for r in rows), default=0)
    cwidth = max((len(r[1]) for r in rows), default=0)
    lines = [f"  {w:<{width}}  <- {c:<{cwidth}}  <- {s}" for w, c, s in rows]
    if checked:
        lines.append(f"  read through a code table (every change refused): {', '.join(checked)}")
    return lines


def _dump_default(f: dataclasses.Field[Any]) -> Any:
    """A field's default as the canonical JSON writes it (``_MISSING`` when it has none)."""
    if f.default is dataclasses.MISSING:
        return _MISSING
    value = f.default
    return value.value if isinstance(value, enum.Enum) else value


_MISSING = object()
