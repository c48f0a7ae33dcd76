"""What the request pipeline tells about its work: one small interface it is handed.

The pipeline, the upstream client and the rewrite pool report to an :class:`Observer` and
know nothing of who listens. The application runs with
:class:`~proxy.server.metrics.Metrics`, which keeps the Prometheus instruments and a
:class:`Tally` of the counts the statistics page also shows; anything else that wants to
listen (a test, a benchmark) implements the same few methods.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol


class Observer(Protocol):
    def upstream_answered(self, seconds: float) -> None:
        """The upstream's response headers arrived ``seconds`` after the request left."""
        ...

    def upstream_failed(self, kind: str) -> None:
        """An upstream request failed: "timeout", "unreachable" or "broken"."""
        ...

    def rewritten(self, kind: str, seconds: float) -> None:
        """A page ("html") or stylesheet ("css") was rewritten (or failed to be) in
        ``seconds``, waiting for a free rewrite process included."""
        ...

    def turned_away(self, kind: str) -> None:
        """A page or stylesheet was relayed unrewritten: the rewrite queue was full."""
        ...

    def revalidated(self) -> None:
        """The upstream confirmed a stored page with 304 Not Modified."""
        ...

    def reused(self) -> None:
        """A rewrite was taken from another URL with the same bytes instead of made again."""
        ...

    def personal(self, reason: str) -> None:
        """A GET or HEAD carried credentials ("authorization", "cookie"): it is answered
        only with pages the site made public."""
        ...

    def not_stored(self, reason: str) -> None:
        """A rewritten page was kept out of the cache by the HTTP rule ``reason``."""
        ...


@dataclass(slots=True)
class Tally:
    """The counts of an :class:`Observer`, without timings: what the statistics page shows."""

    revalidations: int = 0
    rewrites_reused: int = 0
    personal_requests: Counter[str] = field(default_factory=Counter)
    pages_not_stored: Counter[str] = field(default_factory=Counter)

    def upstream_answered(self, seconds: float) -> None:
        pass

    def upstream_failed(self, kind: str) -> None:
        pass

    def rewritten(self, kind: str, seconds: float) -> None:
        pass

    def turned_away(self, kind: str) -> None:
        pass

    def revalidated(self) -> None:
        self.revalidations += 1

    def reused(self) -> None:
        self.rewrites_reused += 1

    def personal(self, reason: str) -> None:
        self.personal_requests[reason] += 1

    def not_stored(self, reason: str) -> None:
        self.pages_not_stored[reason] += 1
