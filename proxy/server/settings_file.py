"""The configuration file: every command-line option, and the site tuning, in one TOML file.

Read with the standard library (tomllib). A top-level key is a long option with underscores
(``public_url`` for ``--public-url``); lists are allowed where the option takes several values;
the ``[tuning]`` table is described in :mod:`proxy.rewriting.tuning`::

    upstream = "https://moz.example.gov.ua"
    public_url = "https://a11y.example.gov.ua"
    public_aliases = ["https://www.a11y.example.gov.ua"]
    port = 8080
    cache_bytes = "256M"

Precedence, highest first: the command line, the environment (``A11Y_PROXY_*``), this file, the
built-in defaults. The file is named by ``--config FILE`` or ``A11Y_PROXY_CONFIG``.
``--check-config FILE`` validates a file and exits; a bad entry is one line naming the key and
the value as the file wrote them.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

from proxy.rewriting.tuning import Tuning, TuningError, parse
from proxy.server.config import SettingsError

ENV: Final = "A11Y_PROXY_CONFIG"
#: Options that take several values: a TOML list, or commas on the command line.
LISTS: Final = frozenset(
    {
        "public-aliases",
        "trusted-proxies",
        "operator-addresses",
        "session-cookies",
        "ignore-cookies",
    }
)
# Options that make no sense inside the file itself.
_NOT_IN_FILE: Final = frozenset({"config", "check-config"})

Converters = Mapping[str, Callable[[str], object]]


class ConfigError(SettingsError):
    """A bad entry of the configuration file, named by its key as the file writes it."""

    def __init__(self, path: Path, key: str, value: object, why: str) -> None:
        super().__init__(key, value, why)
        self.args = (f"{path}: {key} = {value!r}: {why}",)


@dataclass(frozen=True, slots=True)
class ConfigFile:
    path: Path
    #: Option name -> text, as if it had been given on the command line.
    values: Mapping[str, str]
    #: Option name -> the value as the file wrote it (for error messages).
    written: Mapping[str, object]
    tuning: Tuning


def requested(argv: Sequence[str] | None) -> tuple[Path | None, Path | None]:
    """The files named by ``--config`` (or the environment) and ``--check-config``."""
    parser = _Quiet(add_help=False, allow_abbrev=False)
    parser.add_argument("--config")
    parser.add_argument("--check-config")
    try:
        known, _ = parser.parse_known_args(argv)
    except _Malformed:  # the full parser reports it, with every other option
        return None, None
    config = known.config or os.environ.get(ENV) or None
    return (
        Path(config) if config else None,
        Path(known.check_config) if known.check_config else None,
    )


def from_argv(argv: Sequence[str] | None, options: Converters) -> ConfigFile | None:
    path, _ = requested(argv)
    return load(path, options) if path is not None else None


def load(path: Path, options: Converters) -> ConfigFile:
    """The file's options (each checked by its converter) and tuning; ConfigError if bad."""
    table = _read(path)
    values: dict[str, str] = {}
    written: dict[str, object] = {}
    tuning = Tuning()
    for key, value in table.items():
        if key == "tuning":
            tuning = _tuning(path, value)
            continue
        option = key.replace("_", "-")
        if option not in options or option in _NOT_IN_FILE or "-" in key:
            why = "unknown key (keys are the long options, with _ for -)"
            raise ConfigError(path, key, value, why)
        text = _text(path, key, option, value)
        try:
            options[option](text)
        except ValueError as exc:
            why = str(exc) if "must" in str(exc) else "not a valid value"
            raise ConfigError(path, key, value, why) from exc
        values[option] = text
        written[option] = value
    return ConfigFile(path, values, written, tuning)


def reload_tuning(path: Path) -> Tuning:
    """The tuning of the file as it is now (SIGHUP); the other options need a restart."""
    table = _read(path)
    return _tuning(path, table.get("tuning", {}))


def as_flags(config: ConfigFile) -> list[str]:
    """The file's options as command-line flags."""
    return [word for option, text in config.values.items() for word in (f"--{option}", text)]


def blame(exc: SettingsError, argv: Sequence[str] | None, options: Converters) -> SettingsError:
    """``exc`` named by its file key when the bad value came from the configuration file."""
    path, check = requested(argv)
    path = check or path
    option = exc.option.removeprefix("--")
    if path is None or isinstance(exc, ConfigError) or not option:
        return exc
    try:
        config = load(path, options)
    except SettingsError:
        return exc
    if option not in config.values or config.values[option] != str(exc.value):
        return exc
    shown = f"{exc.option} {exc.value!r}: "
    why = str(exc)[len(shown) :] if str(exc).startswith(shown) else str(exc)
    return ConfigError(path, option.replace("-", "_"), config.written[option], why)


def check(path: Path, options: Converters, parse: Callable[[list[str]], object]) -> None:
    """Validate a configuration file as a start would; raises SettingsError naming the key.

    The file's values are passed as flags, so the environment cannot hide a bad one.
    """
    config = load(path, options)
    parse(["--config", str(path), *as_flags(config)])


def _read(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise SettingsError("--config", str(path), f"cannot be read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError("--config", str(path), f"not valid TOML: {exc}") from exc


def _tuning(path: Path, value: object) -> Tuning:
    if not isinstance(value, Mapping):
        raise ConfigError(path, "tuning", value, "must be a table")
    try:
        return parse(value, path.parent)
    except TuningError as exc:
        raise ConfigError(path, exc.key, exc.value, exc.why) from exc


def _text(path: Path, key: str, option: str, value: object) -> str:
    if isinstance(value, list) and option in LISTS:
        if all(isinstance(item, str) and "," not in item for item in value):
            return ",".join(value)
        raise ConfigError(path, key, value, "must be a list of strings")
    if isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
        return str(value)
    raise ConfigError(path, key, value, "must be a string or a number")


class _Malformed(Exception):
    pass


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Malformed(message)
