"""The shared store of a deployment: Redis or Valkey, through redis-py's asyncio client.

Every record is a plain string with a time to live; the store's own ``maxmemory`` and an
eviction policy such as ``allkeys-lru`` bound it (see docs/deploying.md). A record evicted
early costs a fetch, never a wrong page: :mod:`proxy.cache.shared` treats a missing stamp or
generation as changed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

#: Where every instance hears which URLs changed (by slot: see proxy.cache.changes).
CHANNEL = "a11y-proxy:changes"
#: A generation outlives the pages of its URL: they are stored for at most this long past
#: their own freshness (see :data:`proxy.cache.policy.KEEP_FOR_REVALIDATION`), and one that
#: is gone only makes them count as changed.
GENERATION_TTL_MS = 7 * 86_400_000

# Delete a claim only if it is still the one we took (it may have expired and been taken).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    """One client (a connection pool) per worker."""

    errors: tuple[type[Exception], ...] = (RedisError,)

    def __init__(self, url: str, timeout: float) -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._release = self._redis.register_script(_RELEASE)

    async def marks(self, stamp: str, generation: str) -> tuple[str | None, str | None]:
        values = await self._redis.mget(stamp, generation)
        return _text(values[0]), _text(values[1])

    async def load(self, page: str) -> bytes | None:
        value = await self._redis.get(page)
        return value if isinstance(value, bytes) else None

    async def vary(self, url: str) -> str | None:
        return _text(await self._redis.get(url))

    async def save(
        self, *, page: str, blob: bytes, stamp: tuple[str, str], vary: tuple[str, str], ttl: float
    ) -> None:
        # In this order, in one round trip: whoever reads the new stamp finds the new page.
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(page, blob, px=_ms(ttl))
            pipe.set(stamp[0], stamp[1], px=_ms(ttl))
            pipe.set(vary[0], vary[1], px=_ms(ttl))
            await pipe.execute()

    async def generation(self, url: str, fresh: str) -> str:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(url, fresh, nx=True, px=GENERATION_TTL_MS)
            pipe.get(url)
            _, current = await pipe.execute()
        return _text(current) or fresh

    async def invalidate(self, url: str, fresh: str) -> None:
        await self._redis.set(url, fresh, px=GENERATION_TTL_MS)

    async def claim(self, name: str, token: str, ttl: float) -> bool:
        return bool(await self._redis.set(name, token, nx=True, px=_ms(ttl)))

    async def release(self, name: str, token: str) -> None:
        await self._release(keys=[name], args=[token])

    async def publish(self, number: int) -> None:
        await self._redis.publish(CHANNEL, str(number))

    async def listen(self, subscribed: Callable[[], None]) -> AsyncIterator[int]:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(CHANNEL)
            while True:
                # No socket timeout here: a quiet channel is not a dead one.
                message = await pubsub.get_message(timeout=None)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    subscribed()  # from now on no change is missed
                elif message["type"] == "message":
                    with contextlib.suppress(ValueError):
                        yield int(message["data"])

    async def close(self) -> None:
        await self._redis.aclose()
