"""Settings: every option the proxy takes, validated once into a frozen value.

Errors name the option and quote the bad value, so the command line can print them as one line.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeAlias

from yarl import URL

from proxy.rewriting.tuning import Tuning

DEFAULT_PREFIX: Final = "/_a11y/"
MIB: Final = 1024 * 1024

Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
#: This machine: the default operators, who may read statistics and metrics.
LOOPBACK: Final[tuple[Network, ...]] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class SettingsError(ValueError):
    """A bad option value; the message names the option and the value."""

    def __init__(self, option: str, value: object, why: str) -> None:
        super().__init__(f"{option} {value!r}: {why}")
        self.option = option
        self.value = value
        self.why = why


def check_port(port: int) -> int:
    if not 0 < port < 65536:
        raise SettingsError("--port", port, "must be between 1 and 65535")
    return port


def local_url(host: str, port: int) -> URL:
    """Where a browser on this machine reaches a proxy listening on ``host:port``: the
    public URL when none is given."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    return URL.build(scheme="http", host=shown, port=check_port(port))


def parse_origin(option: str, raw: str) -> URL:
    """An http(s) origin with nothing after it; a trailing slash is tolerated."""
    try:
        url = URL(raw.strip())
    except ValueError as exc:
        raise SettingsError(option, raw, "not a URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise SettingsError(option, raw, "must be an http:// or https:// URL with a host name")
    if url.user or url.password:
        raise SettingsError(option, raw, "must not carry a user name or password")
    if url.path not in ("", "/") or url.query_string or url.fragment:
        raise SettingsError(option, raw, "must be an origin only, with no path, query or fragment")
    return url.origin()


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks, e.g. ``127.0.0.1, 10.0.0.0/8``; empty is none."""
    networks: list[Network] = []
    for item in text.split(","):
        if not item.strip():
            continue
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                "must be IP addresses or networks such as 10.0.0.0/8, separated by commas"
            ) from exc
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the running proxy needs to know, already validated."""

    #: The one site the proxy forwards to. Requests never go anywhere else.
    upstream: URL
    #: The origin browsers use to reach the proxy; every rewritten link is built from it.
    public_url: URL
    host: str = "127.0.0.1"
    port: int = 8080
    #: Paths under this prefix belong to the proxy and are never forwarded.
    prefix: str = DEFAULT_PREFIX
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    #: A page (HTML or CSS) has this long from its head to arrive whole and be rewritten;
    #: past it, what came is relayed and the rest streamed as it comes, unrewritten.
    page_timeout: float = 5.0
    #: A browser has this long from the first byte of a request head to its end (nginx's
    #: client_header_timeout), so a head sent a byte at a time cannot hold a connection.
    header_timeout: float = 10.0
    #: A browser connection with no request in progress is closed after this long (nginx's
    #: keepalive_timeout).
    keepalive_timeout: float = 15.0
    cache_bytes: int = 256 * MIB
    cache_entry_bytes: int = 16 * MIB
    #: The store of rewritten pages shared by workers and instances (see
    #: :mod:`proxy.server.caching`): ``file:///DIR``, or Redis/Valkey as ``redis://HOST:PORT/DB``.
    cache_url: str | None = None
    #: Server processes sharing --cache-bytes (the supervisor sets it).
    workers: int = 1
    #: Larger HTML pages (as sent or once decoded) are relayed unrewritten, so one page
    #: cannot pin the rewriter nor inflate into gigabytes.
    max_html_bytes: int = 8 * MIB
    #: Larger request bodies (uploads, forms) are refused with 413 instead of forwarded.
    max_body_bytes: int = 32 * MIB
    #: Proxies in front of this one (a TLS terminator, say) whose X-Forwarded-For and
    #: Forwarded fields are passed on; from anyone else those fields are dropped as forgeable.
    trusted_proxies: tuple[Network, ...] = ()
    #: Who may read the statistics and metrics (see :mod:`proxy.server.operators`); others get 404.
    operator_addresses: tuple[Network, ...] = LOOPBACK
    #: The site's session cookies (shell-style patterns): when given, only these make a
    #: request personal (see :mod:`proxy.cache.cookies`); by default any cookie not ignored does.
    session_cookies: tuple[str, ...] = ()
    #: Cookies that never make a request personal, besides the well-known analytics and
    #: consent cookies (:data:`proxy.cache.cookies.ANALYTICS_AND_CONSENT`).
    ignore_cookies: tuple[str, ...] = ()
    #: Processes that rewrite pages; 0 rewrites on a thread (for tests and tiny setups).
    rewrite_processes: int = 1
    #: Pages that may wait for a free rewrite worker; one more is relayed unrewritten at once,
    #: so a miss never waits behind a long queue of others.
    rewrite_queue: int = 8
    #: Selectors of the site's own "visually impaired version" widgets, hidden by the proxy.
    hidden_selectors: tuple[str, ...] = field(
        default=(".bvi-open", ".bvi-panel", "[data-bvi]", ".bvi-link", "#bvi-panel")
    )
    #: Other origins readers reach the proxy at (www. and bare); links to them are mapped too.
    public_aliases: tuple[URL, ...] = ()
    #: The site tuning (extra CSS, hidden elements, toolbar): reloaded on SIGHUP.
    tuning: Tuning = field(default_factory=Tuning)
    #: The configuration file the tuning is read again from on SIGHUP.
    config_file: Path | None = None
    #: How long requests in flight may take to finish after SIGTERM.
    shutdown_grace: float = 30.0
    #: Log lines as "text" or as one JSON object per line ("json").
    log_format: str = "text"

    def __post_init__(self) -> None:
        check_port(self.port)
        if not (self.prefix.startswith("/") and self.prefix.endswith("/") and len(self.prefix) > 2):
            raise SettingsError("--prefix", self.prefix, "must start and end with '/'")
        for option, value in (
            ("--connect-timeout", self.connect_timeout),
            ("--read-timeout", self.read_timeout),
            ("--page-timeout", self.page_timeout),
            ("--header-timeout", self.header_timeout),
            ("--keepalive-timeout", self.keepalive_timeout),
        ):
            if not value > 0:
                raise SettingsError(option, value, "must be a positive number of seconds")
        if self.cache_bytes < 0:
            raise SettingsError("--cache-bytes", self.cache_bytes, "must not be negative")
        if self.cache_url is not None:
            scheme, _, rest = self.cache_url.partition("://")
            if scheme not in ("file", "redis", "rediss", "unix") or not rest:
                raise SettingsError(
                    "--cache-url",
                    self.cache_url,
                    "must be redis://HOST:PORT/DB, rediss://, unix:///PATH or file:///DIR",
                )
            if scheme == "file" and not rest.startswith("/"):
                raise SettingsError("--cache-url", self.cache_url, "must name an absolute DIR")
        if self.workers < 1:
            raise SettingsError("--workers", self.workers, "must be at least 1")
        if not self.shutdown_grace > 0:
            raise SettingsError("--shutdown-grace", self.shutdown_grace, "must be positive")
        if self.max_html_bytes <= 0:
            raise SettingsError("--max-html-bytes", self.max_html_bytes, "must be positive")
        if self.rewrite_processes < 0:
            raise SettingsError("--rewrite-processes", self.rewrite_processes, "must be >= 0")
        if self.rewrite_queue < 0:
            raise SettingsError("--rewrite-queue", self.rewrite_queue, "must be >= 0")
        if self.max_body_bytes <= 0:
            raise SettingsError("--max-body-bytes", self.max_body_bytes, "must be positive")
        for option, networks in (
            ("--trusted-proxies", self.trusted_proxies),
            ("--operator-addresses", self.operator_addresses),
        ):
            for network in networks:
                if not isinstance(network, ipaddress.IPv4Network | ipaddress.IPv6Network):
                    raise SettingsError(option, network, "must be an IP network")

    def trusts(self, remote: str | None) -> bool:
        """Whether the peer at ``remote`` is one of the configured trusted proxies."""
        return within(remote, self.trusted_proxies)

    @property
    def secure(self) -> bool:
        """Whether browsers reach the proxy over https (the mode cookie is then Secure)."""
        return self.public_url.scheme == "https"


def within(remote: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the address ``remote`` (as a socket or a forwarding field gives it) is in one
    of ``networks``; anything that is not an address is in none."""
    if not remote or not networks:
        return False
    try:
        address = ipaddress.ip_address(remote.strip().partition("%")[0])  # drop an IPv6 zone
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket shows IPv4 peers this way
    return any(address in network for network in networks)
