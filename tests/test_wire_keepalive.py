"""No request is lost when the upstream closes kept-alive connections (see tests/closing.py).

Readers send GET, HEAD, POST, PUT and DELETE, with bodies up to --max-body-bytes, through the
real proxy to an upstream that closes idle connections after 1 s, after 5 s, at random, or
whenever a request comes on one it kept alive. Each answer echoes what the upstream read: a
reader counts an error page, a body that arrived changed, and a request processed twice.
"""

from __future__ import annotations

import pytest
from yarl import URL

from tests.closing import CLOSERS, ON_REUSE, closing_upstream, drive, session_sender
from tests.conftest import ProxyFactory

MAX_BODY = 256 * 1024
# Readers at once and requests each: enough pauses around each deadline to meet a close.
LOAD = {"1s": (12, 4), "5s": (8, 3), "random": (12, 4)}


@pytest.mark.parametrize("closer", list(CLOSERS))
async def test_no_request_is_lost_when_the_upstream_closes_idle_connections(
    start_proxy: ProxyFactory, closer: str
) -> None:
    async with closing_upstream(CLOSERS[closer]) as site:
        client = await start_proxy(site.url, max_body_bytes=MAX_BODY)
        send = session_sender(client.session, URL(f"http://127.0.0.1:{client.port}"))
        readers, requests = LOAD[closer]
        tally = await drive(send, site, readers, requests, MAX_BODY)
    assert tally.sent == readers * requests
    assert tally.failed == 0, dict(tally.failures)


async def test_a_request_meeting_a_closed_connection_is_sent_again_or_never_meets_one(
    start_proxy: ProxyFactory,
) -> None:
    """The upstream closes a kept-alive connection whenever a request comes on it: a request
    that may be sent twice is sent again on a new connection; any other never uses one."""
    async with closing_upstream(ON_REUSE) as site:
        client = await start_proxy(site.url, max_body_bytes=MAX_BODY)
        send = session_sender(client.session, URL(f"http://127.0.0.1:{client.port}"))
        tally = await drive(send, site, 1, 36, MAX_BODY, pause=False)
        assert site.crossed > 0  # requests did meet closing connections
        assert tally.failed == 0, dict(tally.failures)
        # All in all: one answer per request, none twice (drive counts those as failures).
        assert sum(site.answered.values()) == tally.sent
