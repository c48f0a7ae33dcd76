"""The cache of rewritten pages: HTTP caching rules, a byte-bounded store, request coalescing.

``policy`` decides what may be stored and served (RFC 9111, as a shared cache), ``store`` holds
entries within a memory budget, and ``flight`` makes concurrent misses for one key share one
upstream fetch. None of them imports aiohttp; the request handler wires them together.
"""

from proxy.cache.flight import SingleFlight
from proxy.cache.policy import CacheControl, Freshness
from proxy.cache.store import PageStore, StoreStats

__all__ = ["CacheControl", "Freshness", "PageStore", "SingleFlight", "StoreStats"]
