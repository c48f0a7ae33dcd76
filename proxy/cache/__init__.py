"""The cache of rewritten pages, one per deployment.

``policy`` decides what may be stored and served (RFC 9111, as a shared cache) and
``cookies`` which requests are personal; ``pages`` is what a stored page holds and each
worker's copies of them, in a byte-bounded ``store``; ``flight`` makes concurrent misses for
one key share one fetch. Behind the copies, ``shared`` guards the store every worker and
instance shares (``hoststore`` on one host, ``redisstore`` on Redis or Valkey), and
``changes`` tells a worker which URLs changed there (``proxy.server.caching`` picks them from
the settings).
None of them imports aiohttp; the request handler wires them together.
"""

from proxy.cache.flight import SingleFlight
from proxy.cache.policy import CacheControl, Freshness
from proxy.cache.store import PageStore, StoreStats

__all__ = ["CacheControl", "Freshness", "PageStore", "SingleFlight", "StoreStats"]
