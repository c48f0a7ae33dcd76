"""Every option of the proxy, and where its value comes from: the command line, the
environment (``A11Y_PROXY_*``) or the configuration file (:mod:`proxy.server.settings_file`),
in that order of precedence, over the built-in defaults.

This module turns text into values; :class:`~proxy.server.config.Settings` says which values
are allowed, once for every source, and a refusal names the option and the text as given.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Final, NamedTuple, NoReturn

from yarl import URL

from proxy.cache import cookies
from proxy.rewriting.tuning import Tuning
from proxy.server import logs, settings_file
from proxy.server.config import (
    MIB,
    Settings,
    SettingsError,
    local_url,
    parse_networks,
    parse_origin,
)
from proxy.server.workers import cpu_count

PROG: Final = "a11y-proxy"


def demo_tuning() -> Tuning:
    """The demo site's own tuning, for the demo run without a configuration file."""
    return settings_file.reload_tuning(Path(str(files("proxy.demo") / "tuning.toml")))


_SIZE: Final = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNITS: Final = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}


def _env(name: str) -> str:
    return "A11Y_PROXY_" + name.upper().replace("-", "_")


def size(text: str) -> int:
    """A byte count such as 262144, 256M or 1G."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("must be a byte count such as 1048576, 512K, 256M or 1G")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def origins(text: str) -> tuple[URL, ...]:
    """Comma-separated http(s) origins; empty is none."""
    try:
        return tuple(parse_origin("", item) for item in text.split(",") if item.strip())
    except SettingsError as exc:
        raise ValueError("must be http:// or https:// origins separated by commas") from exc


# option, metavar, converter, default, help
class Option(NamedTuple):
    """One option: ``--name`` on the command line, ``A11Y_PROXY_NAME`` in the environment,
    ``name`` (with underscores) in the configuration file."""

    name: str
    metavar: str
    #: Text to value; a ValueError means the text is not one. What values are allowed is
    #: Settings' to say (:mod:`proxy.server.config`), once for every source.
    parse: Callable[[str], object]
    default: str | None
    help: str


OPTIONS: Final[tuple[Option, ...]] = tuple(
    Option(*option)
    for option in (
        (
            "config",
            "FILE",
            str,
            None,
            "TOML file with any of these options and the site tuning; the command line and "
            "the environment win over it (--check-config FILE validates one and exits)",
        ),
        (
            "upstream",
            "URL",
            str,
            None,
            "origin of the site to stand in front of, e.g. https://moz.example.gov.ua "
            "(default: start the bundled demo ministry site on a free loopback port)",
        ),
        (
            "public-url",
            "URL",
            str,
            None,
            "origin browsers use to reach the proxy; every rewritten link is built from it "
            "(default: http://HOST:PORT)",
        ),
        (
            "public-aliases",
            "URLS",
            origins,
            "",
            "comma-separated other origins of the proxy (www. and bare names); served alike, "
            "links to them point at --public-url (default: none)",
        ),
        ("host", "ADDRESS", str, "127.0.0.1", "address to listen on (default: %(default)s)"),
        ("port", "PORT", int, "8080", "port to listen on (default: %(default)s)"),
        (
            "prefix",
            "PATH",
            str,
            "/_a11y/",
            "reserved path prefix for the proxy's own files and mode links (default: %(default)s)",
        ),
        (
            "connect-timeout",
            "SECONDS",
            float,
            "5",
            "give up connecting to the upstream after this long: 504 (default: %(default)s)",
        ),
        (
            "read-timeout",
            "SECONDS",
            float,
            "30",
            "give up when the upstream is silent this long: 504 (default: %(default)s)",
        ),
        (
            "page-timeout",
            "SECONDS",
            float,
            "5",
            "a page not arrived whole this long after its head is relayed as it comes, "
            "unrewritten (default: %(default)s)",
        ),
        (
            "header-timeout",
            "SECONDS",
            float,
            "10",
            "close a browser connection whose request head takes longer than this from its "
            "first byte, as nginx's client_header_timeout (default: %(default)s)",
        ),
        (
            "keepalive-timeout",
            "SECONDS",
            float,
            "15",
            "close a browser connection idle this long between requests, as nginx's "
            "keepalive_timeout (default: %(default)s)",
        ),
        (
            "cache-bytes",
            "SIZE",
            size,
            "256M",
            "memory for rewritten pages, e.g. 256M; 0 turns the cache off (default: %(default)s)",
        ),
        (
            "cache-entry-bytes",
            "SIZE",
            size,
            "16M",
            "largest single cached page with all its variants (default: %(default)s)",
        ),
        (
            "cache-url",
            "URL",
            str,
            None,
            "a store of rewritten pages shared by workers and instances: redis://HOST:PORT/DB "
            "(Redis or Valkey), or file:///DIR on this host, kept across restarts (default: "
            "with --workers above 1, one in memory for the run; else none)",
        ),
        (
            "max-html-bytes",
            "SIZE",
            size,
            "8M",
            "larger HTML pages and stylesheets, as sent or once decoded, are relayed "
            "unrewritten (default: %(default)s)",
        ),
        (
            "max-body-bytes",
            "SIZE",
            size,
            "32M",
            "larger request bodies (uploads, forms) are refused with 413 (default: %(default)s)",
        ),
        (
            "trusted-proxies",
            "ADDRESSES",
            parse_networks,
            "",
            "comma-separated addresses or networks of proxies in front of this one whose "
            "X-Forwarded-For and Forwarded fields are passed on; from anyone else they are "
            "dropped (default: none)",
        ),
        (
            "operator-addresses",
            "ADDRESSES",
            parse_networks,
            "127.0.0.0/8, ::1",
            "comma-separated addresses or networks that may read the statistics and metrics "
            "under the prefix; anyone else gets 404 (behind --trusted-proxies, the address they "
            "forward for counts) (default: this machine, %(default)s)",
        ),
        (
            "session-cookies",
            "NAMES",
            cookies.parse_names,
            "",
            "comma-separated names of the site's session cookies (* and ? allowed); when given, "
            "only they make a request personal, so it bypasses pages stored for everyone "
            "(default: any cookie but the well-known analytics and consent ones)",
        ),
        (
            "ignore-cookies",
            "NAMES",
            cookies.parse_names,
            "",
            "comma-separated names of cookies that never make a request personal, besides the "
            "well-known analytics and consent ones (* and ? allowed) (default: none)",
        ),
        (
            "rewrite-processes",
            "N",
            int,
            "1",
            "processes that rewrite pages; 0 uses a thread (default: %(default)s)",
        ),
        (
            "rewrite-queue",
            "N",
            int,
            "8",
            "pages that may wait for a free rewrite worker; past that a page is relayed "
            "unrewritten at once, not stored (default: %(default)s)",
        ),
        (
            "workers",
            "N",
            int,
            str(cpu_count()),
            "server processes sharing the port and one cache of rewritten pages "
            "(default: the number of CPUs, %(default)s)",
        ),
        (
            "shutdown-grace",
            "SECONDS",
            float,
            "30",
            "after SIGTERM, time for requests in flight to finish (default: %(default)s)",
        ),
        ("log-level", "LEVEL", str, "info", "debug, info, warning or error (default: %(default)s)"),
        ("log-format", "FORMAT", logs.log_format, "text", "text or json (default: %(default)s)"),
    )
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and status 2, as for a bad value; argparse would add the usage text.
        self.exit(2, f"{self.prog}: error: {message}\n")


def _list(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else ()


def _names(value: object) -> tuple[str, ...]:
    return tuple(str(name) for name in _list(value))


def converters() -> dict[str, Callable[[str], object]]:
    return {option.name: option.parse for option in OPTIONS}


def build_parser(config: settings_file.ConfigFile | None = None) -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A reverse proxy that adds a low-vision reading mode (large font, blue, "
        "black and white) to one existing website, without touching the site.",
        epilog="Every option can also be set in the environment as A11Y_PROXY_<OPTION>, "
        "e.g. A11Y_PROXY_UPSTREAM or A11Y_PROXY_PUBLIC_URL, or in the --config file; a "
        "command-line option wins over the environment, which wins over the file.",
    )
    from_file = config.values if config is not None else {}
    for name, metavar, _, default, text in OPTIONS:
        default = from_file.get(name, default)
        parser.add_argument(
            f"--{name}", metavar=metavar, default=os.environ.get(_env(name), default), help=text
        )
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE, print ok, exit")
    return parser


def parse_settings(argv: Sequence[str] | None) -> tuple[Settings, bool, str]:
    """Settings from argv and the environment; raises SettingsError naming a bad option."""
    settings, demo, level, _ = parse_command(argv)
    return settings, demo, level


def parse_command(argv: Sequence[str] | None) -> tuple[Settings, bool, str, int]:
    """As :func:`parse_settings`, and the number of worker processes."""
    config = settings_file.from_argv(argv, converters())
    args = vars(build_parser(config).parse_args(argv))
    values: dict[str, object] = {}
    for name, _, convert, _, _ in OPTIONS:
        raw = args[name.replace("-", "_")]
        if raw is None or convert is str:
            values[name] = raw
            continue
        try:
            values[name] = convert(raw)
        except ValueError as exc:
            why = str(exc) if "must" in str(exc) else "not a valid value"
            raise SettingsError(f"--{name}", raw, why) from exc
    level = str(values["log-level"]).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            "--log-level", values["log-level"], "must be debug, info, warning or error"
        )
    demo = values["upstream"] is None
    upstream = (
        URL("http://127.0.0.1:1") if demo else parse_origin("--upstream", str(values["upstream"]))
    )
    try:
        settings = _settings(values, demo, upstream, config)
    except SettingsError as exc:
        given = args.get(exc.option.removeprefix("--").replace("-", "_"))
        if given is None:
            raise
        raise SettingsError(exc.option, given, exc.why) from exc  # as the reader wrote it
    return settings, demo, level, settings.workers


def _settings(
    values: dict[str, object],
    demo: bool,
    upstream: URL,
    config: settings_file.ConfigFile | None,
) -> Settings:
    trusted = values["trusted-proxies"]
    operators = values["operator-addresses"]
    public = values["public-url"]
    host, port = str(values["host"]), int(str(values["port"]))
    return Settings(
        upstream=upstream,
        public_url=local_url(host, port)
        if public is None
        else parse_origin("--public-url", str(public)),
        host=host,
        port=port,
        prefix=str(values["prefix"]),
        connect_timeout=float(str(values["connect-timeout"])),
        read_timeout=float(str(values["read-timeout"])),
        page_timeout=float(str(values["page-timeout"])),
        header_timeout=float(str(values["header-timeout"])),
        keepalive_timeout=float(str(values["keepalive-timeout"])),
        cache_bytes=int(str(values["cache-bytes"])),
        cache_entry_bytes=int(str(values["cache-entry-bytes"])),
        cache_url=None if values["cache-url"] is None else str(values["cache-url"]),
        max_html_bytes=int(str(values["max-html-bytes"])),
        rewrite_processes=int(str(values["rewrite-processes"])),
        rewrite_queue=int(str(values["rewrite-queue"])),
        max_body_bytes=int(str(values["max-body-bytes"])),
        trusted_proxies=trusted if isinstance(trusted, tuple) else (),
        operator_addresses=operators if isinstance(operators, tuple) else (),
        session_cookies=_names(values["session-cookies"]),
        ignore_cookies=_names(values["ignore-cookies"]),
        public_aliases=tuple(
            url for url in _list(values["public-aliases"]) if isinstance(url, URL)
        ),
        tuning=config.tuning if config is not None else (demo_tuning() if demo else Tuning()),
        config_file=config.path if config is not None else None,
        shutdown_grace=float(str(values["shutdown-grace"])),
        log_format=str(values["log-format"]),
        workers=int(str(values["workers"])),
    )
