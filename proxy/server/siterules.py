"""What the rewriter does to every page of one site, from its settings (pure).

Links are built from the one configured public URL, never from a request: the upstream's origin
and every public alias (the ``www.`` and bare names of one site, say) are mapped to it. A reader
who followed a link to an alias would land on another host, where the mode cookie, which is
host-only, is not sent; mapping the aliases keeps every reader on one name.
"""

from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.rewrite import Rules
from proxy.server.config import Settings


@dataclass(frozen=True, slots=True)
class SiteLinks(LinkMap):
    """A LinkMap that also owns the public aliases: links to them point at the public URL."""

    aliases: tuple[URL, ...] = ()

    def owns(self, scheme: str | None, authority: str) -> bool:
        if LinkMap.owns(self, scheme, authority):
            return True
        return any(LinkMap(alias, self.public).owns(scheme, authority) for alias in self.aliases)


def links(settings: Settings) -> LinkMap:
    # The public URL itself too: an http:// link to an https site is upgraded on the way.
    aliases = (settings.public_url, *settings.public_aliases)
    return SiteLinks(settings.upstream, settings.public_url, aliases)


def rules(settings: Settings) -> Rules:
    """The rewrite rules: link mapping, and the built-in hidden widgets plus the tuning's."""
    hidden = tuple(dict.fromkeys((*settings.hidden_selectors, *settings.tuning.hide)))
    return Rules(links(settings), hidden)
