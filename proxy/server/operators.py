"""Who may read the proxy's statistics and metrics: its operators (``--operator-addresses``).

They tell how busy the site is and how the proxy is doing, so they are for the machines that
watch it; everyone else gets the 404 of a path that does not exist, and learns nothing. The
health checks stay open: load balancers must reach them.

The judge is the address of the connection's peer, which no request field can change. A proxy
in front (``--trusted-proxies``) is the peer of everyone behind it, so for a request it relays
the judge is the address it says it relays for: the right-most X-Forwarded-For entry that is
not itself a trusted proxy. A reader can put any address first in that field, never after the
one the trusted proxy appends. A relayed request that says nothing usable (no
X-Forwarded-For, only Forwarded or X-Real-IP) is nobody's: refused.
"""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from proxy.server.config import Settings, within
from proxy.server.errors import ClientError

# Fields by which a proxy says whom it relays for.
_FORWARDING = (hdrs.X_FORWARDED_FOR, hdrs.FORWARDED, "X-Real-IP")


def peer(request: web.Request) -> str | None:
    """The address of the other end of the connection, whatever the request says."""
    transport = request.transport
    name = transport.get_extra_info("peername") if transport is not None else None
    return str(name[0]) if isinstance(name, tuple) and name else None


def client(request: web.Request, settings: Settings) -> str | None:
    """The address the request comes from: the peer, or whom a trusted peer relays for."""
    address = peer(request)
    if not settings.trusts(address):
        return address
    if not any(name in request.headers for name in _FORWARDING):
        return address  # the trusted proxy's own machine asking, not relaying
    chain = [
        entry.strip()
        for value in request.headers.getall(hdrs.X_FORWARDED_FOR, ())
        for entry in value.split(",")
        if entry.strip()
    ]
    for entry in reversed(chain):
        if not settings.trusts(entry):
            return entry
    return chain[0] if chain else None


def allowed(request: web.Request, settings: Settings) -> bool:
    return within(client(request, settings), settings.operator_addresses)


def check(request: web.Request, settings: Settings) -> None:
    """A 404 for anyone but an operator, the same as for a path that does not exist."""
    if not allowed(request, settings):
        raise ClientError(404, "operators only")


def only(settings: Settings, handler: Handler) -> Handler:
    """``handler`` for operators; a 404 for everyone else."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        check(request, settings)
        return await handler(request)

    return guarded
