"""Strict TOML configuration into typed dataclasses, shared by agent, server and probe runner.

Every key is checked: an unknown key is an error with a "did you mean" hint, a wrong type names the
key and the type it wants, a number outside its range names the range. Ranges are declared on the
field's type (`port: Annotated[int, Range(1, 65535)] = 1883`) and checked here, in one place.
`CAMPUSMON_<SECTION>__<KEY>` environment variables override the file.
Standard library only, so the agent can use it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

T = TypeVar("T")
ENV_PREFIX = "CAMPUSMON_"


class ConfigError(ValueError):
    """A configuration problem a person can fix; the message says where and how."""


@dataclasses.dataclass(frozen=True, slots=True)
class Range:
    """The values a numeric key may take (both ends included); NaN and infinities never fit."""

    lo: float
    hi: float
    unit: str = ""

    def __str__(self) -> str:
        return f"{_num(self.lo)}..{_num(self.hi)}" + (f" {self.unit}" if self.unit else "")

    def check(self, value: float, where: str) -> None:
        if not (math.isfinite(value) and self.lo <= value <= self.hi):
            raise ConfigError(f"{where}: {value!r} is out of range {self}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e12 else f"{x:g}"


#: common ranges
TCP_PORT = Range(1, 65535)
SECONDS_IN_DAY = Range(1, 86400, "seconds")


def range_of(tp: Any) -> Range | None:
    """The Range declared on an annotated type (`Annotated[int, Range(…)]`), if any."""
    if typing.get_origin(tp) is Annotated:
        return next((m for m in tp.__metadata__ if isinstance(m, Range)), None)
    return None


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """A hint for a typo; transposed letters (`prot` for `port`) win over other near matches."""
    import difflib  # only for a bad config: the agent does not keep it loaded (~0.3 MiB)

    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    best = next((c for c in close if sorted(c) == sorted(word)), close[0])
    return f" (did you mean {best!r}?)"


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a TOML file (byte {exc.start} is not UTF-8 text; is this the right file?)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Annotated:
        converted = _convert(args[0], value, where)
        limits = range_of(tp)
        if limits is not None:
            limits.check(converted, where)
        return converted
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value in args:
            return value
        hint = did_you_mean(str(value), [str(a) for a in args])
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}{hint}")
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return build(tp, value, where)
    if origin is list or origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        inner = args[0] if args else Any
        items = [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        inner = args[1] if len(args) == 2 else Any
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp is Path:
        if isinstance(value, str):
            return Path(value).expanduser()
        raise ConfigError(f"{where}: expected a path string, got {value!r}")
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")  # pragma: no cover


def build(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from `data`, rejecting unknown keys and wrong types."""
    if not dataclasses.is_dataclass(cls):  # pragma: no cover - programming error
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else key
        if key not in fields:
            raise ConfigError(f"unknown key {path!r}{did_you_mean(key, fields)}")
        kwargs[key] = _convert(hints[key], value, path)
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing key {(where + '.' if where else '') + missing[0]!r}")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or 'config'}: {exc}") from exc
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML scalars where they parse (`30`, `true`, `[1,2]`), else strings."""
    try:
        return tomllib.loads(f"x = {raw}")["x"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env(
    data: dict[str, Any], cls: type[Any], environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Overlay `CAMPUSMON_SECTION__KEY=value` onto `data`; unknown names are errors with hints."""
    env = os.environ if environ is None else environ
    merged = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        target_cls: Any = cls
        node = merged
        for i, part in enumerate(path):
            hints = typing.get_type_hints(target_cls) if dataclasses.is_dataclass(target_cls) else {}
            if part not in hints:
                hint = did_you_mean(part, hints)
                if i == 0 and not hint:
                    break  # a section of another campusmon program sharing the environment
                raise ConfigError(f"environment variable {name}: unknown key {part!r}{hint}")
            if i == len(path) - 1:
                value = _parse_env_value(raw)
                tp = hints[part]
                if tp is str or str in typing.get_args(tp) or tp is Path:
                    value = raw
                node[part] = value
            else:
                target_cls = hints[part]
                node = node.setdefault(part, {})
    return merged


def load(
    cls: type[T],
    path: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    merge: typing.Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> T:
    """Read `path` (or nothing), overlay the environment, `merge` (e.g. shipped tables the file
    extends key by key), validate into `cls`."""
    data: dict[str, Any] = dict(defaults or {})
    if path is not None:
        data.update(read_toml(path))
    data = apply_env(data, cls, environ)
    if merge is not None:
        data = merge(data)
    where = str(path) if path is not None else "config"
    try:
        return build(cls, data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
