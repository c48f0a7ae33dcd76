"""Which cache a worker runs with: its share of ``--cache-bytes``, the shared store that
``--cache-url`` names, and the version of the rewriting its pages are stored under.

- No store (one process, no ``--cache-url``): the worker's memory holds every page.
- ``file:///DIR``: the host's store (:mod:`proxy.cache.hoststore`) takes three quarters of
  the budget and each worker's copies share the rest. With ``--workers`` above 1 and no
  ``--cache-url`` the supervisor makes one in memory for the run.
- ``redis://``, ``rediss://``, ``unix://``: Redis or Valkey (:mod:`proxy.cache.redisstore`),
  bounded by its own ``maxmemory``; each worker keeps copies in its share of the budget.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from yarl import URL

from proxy.cache.changes import Changes, HostChanges, NotifiedChanges
from proxy.cache.hoststore import HostStore
from proxy.cache.pages import PageCache
from proxy.cache.redisstore import RedisStore
from proxy.cache.shared import OPERATION_TIMEOUT, RETRY_AFTER, Backend, SharedPages
from proxy.server.config import Settings

#: The host's store takes this share of --cache-bytes; the workers' copies the rest.
HOST_STORE_SHARE: Final = 0.75
REDIS_SCHEMES: Final = frozenset({"redis", "rediss", "unix"})


def open_store(settings: Settings) -> SharedPages | None:
    """The shared store ``settings.cache_url`` names, opened for this process (after a
    fork: its connections are its own), or None."""
    if settings.cache_url is None:
        return None
    url = URL(settings.cache_url)
    backend: Backend
    changes: Changes
    if url.scheme == "file":
        directory = Path(url.path)
        backend = HostStore(directory, int(settings.cache_bytes * HOST_STORE_SHARE))
        changes = HostChanges(directory / "changes")
        where = url.path
    else:
        redis = RedisStore(settings.cache_url, OPERATION_TIMEOUT)
        backend, changes = redis, NotifiedChanges(redis, RETRY_AFTER)
        where = str(url.with_user(None))  # never a password in the log
    return SharedPages(backend, changes, "", where)


def page_cache(
    settings: Settings,
    shared: SharedPages | None,
    made_by: object,
    clock: Callable[[], float],
) -> PageCache:
    """This worker's cache, storing under the version of what rewrote its pages:
    ``made_by`` is everything besides the code that shapes them (rules, tuning, styles)."""
    budget = settings.cache_bytes
    if shared is not None and isinstance(shared.backend, HostStore):
        budget = int(budget * (1 - HOST_STORE_SHARE))
    if shared is not None:
        shared = shared.under(_version(settings, made_by))
    return PageCache(budget // settings.workers, settings.cache_entry_bytes, clock, shared)


def _version(settings: Settings, made_by: object) -> str:
    """Pages stored under another version of the code, the stylesheets or the tuning, or for
    another site, are never served: their names differ."""
    text = repr((code_version(), str(settings.upstream), str(settings.public_url), made_by))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@functools.cache
def code_version() -> str:
    """A digest of the installed proxy: its code and its stylesheets."""
    hasher = hashlib.blake2b(digest_size=16)

    def walk(folder: Traversable, prefix: str) -> None:
        for item in sorted(folder.iterdir(), key=lambda item: item.name):
            name = f"{prefix}/{item.name}"
            if item.is_dir():
                if item.name != "__pycache__":
                    walk(item, name)
            elif item.name.endswith((".py", ".css", ".js", ".toml")):
                hasher.update(name.encode())
                hasher.update(item.read_bytes())

    walk(files("proxy"), "proxy")
    return hasher.hexdigest()
