"""``alexbench run --config FILE.toml``: the run's flags as a TOML table.

Keys are the flag names with ``_`` for ``-`` (``batch_size = [1, 8, 32]``); a list is the
flag's comma list. Flags given on the command line override the file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from harness.core.errors import UserError

from .options import OPTIONS

STR, INT, NUMBER, BOOL = "a string", "an integer", "a number", "true or false"
LIST_OF = {STR: "strings", INT: "integers"}
KIND_TYPES = {"int": INT, "number": NUMBER, "bool": BOOL, "choice": STR, "text": STR}
# key -> (type of a value, whether a list of them is allowed): every option of ``run``
KEYS: dict[str, tuple[str, bool]] = {name: (KIND_TYPES[o.kind], o.many) for name, o in OPTIONS.items()}


class ConfigError(UserError):
    """A config file that cannot be used."""


def _fits(value, kind: str) -> bool:
    if kind == BOOL:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return {STR: isinstance(value, str), INT: isinstance(value, int),
            NUMBER: isinstance(value, int | float)}[kind]


def _as_flag(value) -> str | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def load_config(path: str) -> dict[str, str | bool]:
    """The file's settings as flag values (``{"batch_size": "1,8,32", "heads": True}``)."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path}: cannot be read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path} is not valid TOML: {e}") from None
    problems = []
    for key, value in data.items():
        if key not in KEYS:
            problems.append(f"unknown key {key!r} (known: {', '.join(KEYS)})")
            continue
        kind, listable = KEYS[key]
        items = value if listable and isinstance(value, list) else [value]
        if not items or not all(_fits(v, kind) for v in items):
            expected = f"{kind} or a list of {LIST_OF[kind]}" if listable else kind
            problems.append(f"key {key!r} must be {expected}, got {value!r}")
    if problems:
        raise ConfigError(f"--config {path}: " + "; ".join(problems))
    return {key: _as_flag(value) for key, value in data.items()}
