"""What a reader sees of a laid-out page, as numbers to compare with the original.

One snippet, run through Playwright's ``evaluate`` (which works with the page's own scripts
off), reads a page as Chromium laid it out at one viewport:

- **broken words**: words (letters, or numbers of three digits or more) laid out across two
  lines, found by asking for the boxes of each word's text;
- **overflow**: how far the page scrolls sideways;
- **clipped**: boxes that hide (``overflow: hidden`` or ``clip``) part of the text they hold;
- **shown**: every element holding visible text that a reader can see and click: scrolled to,
  the topmost element at the middle of its first line is it (or inside it), and nothing
  painted above it there is opaque;
- **physical size**: each text's font size in device-independent pixels, after the zoom a
  phone applies to fit a page's layout width on its screen;
- **toolbar**: the height of the proxy's toolbar on the first screen.

Elements are matched across renders by a DOM path that skips what the proxy inserts, so a
regression names the element. The judging is in Python, per page, mode and viewport.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from tests.measure import PRELUDE

LAYOUT_JS: Final = (
    "(budget) => {"
    + PRELUDE
    + r"""
  const started = performance.now();
  const root = document.scrollingElement || document.documentElement;
  const zoom = visualViewport ? visualViewport.scale : 1;
  const before = scrollX;
  scrollTo(root.scrollWidth, scrollY);
  const reach = scrollX;
  scrollTo(before, 0);
  const visible = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  // Chinese and Japanese break between any two characters, Korean between syllables: only
  // scripts that break at spaces have words to break.
  const word = /(?:(?![\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}])[\p{L}\p{M}]){2,}|\p{N}{3,}/gu;
  const range = document.createRange();
  const broken = [];
  const texts = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || ours(el) || !node.data.trim() || el.closest('svg, noscript')) continue;
    if (!texts.has(el)) {
      // Text kept for screen readers only sits in a box of a pixel or so: not read by eye.
      const box = el.getBoundingClientRect();
      if (!visible(el) || box.width < 2 || box.height < 2) { texts.set(el, null); continue; }
      range.selectNodeContents(node);
      const rects = [...range.getClientRects()].filter((r) => r.width >= 1 && r.height >= 1);
      if (!rects.length) { texts.set(el, null); continue; }
      const style = getComputedStyle(el);
      texts.set(el, {el, style, rect: rects[0]});
    }
    const entry = texts.get(el);
    if (!entry) continue;
    const size = parseFloat(entry.style.fontSize);
    for (const match of node.data.matchAll(word)) {
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const tops = [...range.getClientRects()].filter((r) => r.width > 0.5 && r.height > 0.5)
        .map((r) => r.top);
      if (tops.length < 2) continue;
      // Boxes of one line differ in top by less than a line.
      if (Math.max(...tops) - Math.min(...tops) < Math.max(4, size * 0.6)) continue;
      broken.push(pathOf(el) + ' ' + match[0] + '@' + match.index);
    }
  }
  // Boxes that hide part of their text.
  const clipped = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (ours(el) || el.closest('svg')) continue;
    const style = getComputedStyle(el);
    const hides = (value) => value === 'hidden' || value === 'clip';
    const x = hides(style.overflowX), y = hides(style.overflowY);
    if (!x && !y) continue;
    if (!el.textContent.trim() || !visible(el)) continue;
    const down = y && el.scrollHeight > el.clientHeight + 2 && el.clientHeight > 0;
    const across = x && el.scrollWidth > el.clientWidth + 2 && el.clientWidth > 0;
    if (!down && !across) continue;
    // Only text that lies in the hidden part counts (not an empty child, not a margin).
    const box = el.getBoundingClientRect();
    let cut = false;
    for (const text of texts.values()) {
      if (!text || !el.contains(text.el) || text.el === el && !el.firstChild) continue;
      const rects = text.el.getClientRects();
      for (const r of rects) {
        if (r.width < 1 || r.height < 1) continue;
        if ((down && r.bottom > box.bottom + 2) || (across && r.right > box.right + 2)
            || (across && r.left < box.left - 2)) { cut = true; break; }
      }
      if (cut) break;
    }
    if (cut) clipped.push(pathOf(el));
  }
  // Every text: where, how big on the device, and whether a reader can see and click it.
  // Two passes at the same scroll positions: first the element that takes a click at the
  // middle of the text's first line; then, with every element made hit-testable, the
  // whole stack painted there, to find an opaque layer above the text that lets clicks
  // through (pointer-events: none) but still hides it.
  const out = [];
  const entries = [...texts.values()].filter(Boolean);
  entries.sort((a, b) => (a.rect.top + scrollY) - (b.rect.top + scrollY));
  const opaque = (node) => {
    if (!node.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) return false;
    const style = getComputedStyle(node);
    return style.backgroundImage !== 'none'
      || !/^rgba\(.*,\s*0\)$|^transparent$/.test(style.backgroundColor)
      || ['img', 'video', 'iframe', 'canvas', 'embed', 'object'].includes(node.localName);
  };
  const probes = [];
  for (const entry of entries) {
    const {el, style} = entry;
    const item = {path: pathOf(el), tag: el.localName, size: parseFloat(style.fontSize) * zoom,
                  shown: null};
    out.push(item);
    if (performance.now() - started > budget) continue;
    const first = el.firstChild && el.firstChild.nodeType === 3 ? el.firstChild : el;
    range.selectNodeContents(first);
    let rect = [...range.getClientRects()].find((r) => r.width >= 1 && r.height >= 1);
    if (!rect) continue;
    const scrollTop = Math.max(0, rect.top + scrollY - innerHeight / 2);
    scrollTo(scrollX, scrollTop);
    rect = [...range.getClientRects()].find((r) => r.width >= 1 && r.height >= 1);
    if (!rect) continue;
    const x = Math.min(Math.max(rect.left + Math.min(rect.width, 20) / 2, 0), innerWidth - 1);
    const y = rect.top + rect.height / 2;
    if (y < 0 || y >= innerHeight) continue;
    const top = document.elementFromPoint(x, y);
    probes.push({item, el, scrollTop: scrollY, x, y,
                 clickable: !!top && (top === el || el.contains(top))});
  }
  const everything = document.createElement('style');
  everything.textContent = '* { pointer-events: auto !important }';
  document.head.append(everything);
  for (const probe of probes) {
    scrollTo(scrollX, probe.scrollTop);
    const stack = document.elementsFromPoint(probe.x, probe.y);
    const at = stack.findIndex((node) => node === probe.el || probe.el.contains(node));
    if (at < 0) continue;
    const hidden = stack.slice(0, at).some((node) => !node.contains(probe.el) && opaque(node));
    probe.item.shown = probe.clickable && !hidden;
  }
  everything.remove();
  scrollTo(0, 0);
  const bar = document.getElementById('a11y-proxy-toolbar');
  const toolbar = bar ? bar.getBoundingClientRect().height : null;
  return {
    reach, view: {w: innerWidth, h: innerHeight, zoom, layout: root.clientWidth},
    broken, clipped, texts: out, toolbar,
    ms: performance.now() - started,
  };
}"""
)

#: Milliseconds a render may spend on the hit tests; past it the rest of its texts are not
#: asked (a page of thousands of elements at 320 px takes that many scrolls).
HIT_TEST_BUDGET_MS: Final = 20_000


@dataclass(frozen=True, slots=True)
class Reading:
    """One page in one form at one viewport, as a reader meets it."""

    reach: float
    width: float
    height: float
    #: Device pixels per CSS pixel of the layout (a phone's zoom to fit a wide page).
    zoom: float
    broken: frozenset[str]
    clipped: frozenset[str]
    #: Per text element (by path): its size in device-independent pixels.
    sizes: Mapping[str, float]
    tags: Mapping[str, str]
    #: Per text element asked: whether a reader can see it and click it.
    shown: Mapping[str, bool]
    toolbar: float | None

    @property
    def toolbar_share(self) -> float:
        return (self.toolbar or 0.0) / self.height


def reading(raw: Mapping[str, Any]) -> Reading:
    texts = raw["texts"]
    return Reading(
        reach=float(raw["reach"]),
        width=float(raw["view"]["w"]),
        height=float(raw["view"]["h"]),
        zoom=float(raw["view"]["zoom"]),
        broken=frozenset(raw["broken"]),
        clipped=frozenset(raw["clipped"]),
        sizes={item["path"]: float(item["size"]) for item in texts},
        tags={item["path"]: item["tag"] for item in texts},
        shown={item["path"]: bool(item["shown"]) for item in texts if item["shown"] is not None},
        toolbar=None if raw["toolbar"] is None else float(raw["toolbar"]),
    )


# --- comparisons with the original ---------------------------------------------------------

#: Running text: what "large font" is for, measured by its median size.
RUNNING_TEXT: Final = frozenset({"p", "li", "dd", "td", "blockquote", "figcaption", "label"})


@dataclass(frozen=True, slots=True)
class Comparison:
    """A mode's reading against the original's, at one viewport: what got worse."""

    broken: frozenset[str]
    clipped: frozenset[str]
    hidden: frozenset[str]
    #: Sideways scrolling beyond the original's, in CSS px.
    overflow: float
    toolbar_share: float
    #: Median physical size of running text over the original's.
    size_ratio: float | None
    #: How many texts the original showed that both renders asked about.
    compared: int


def compare(original: Reading, mode: Reading) -> Comparison:
    hidden = frozenset(
        path for path, shown in original.shown.items() if shown and mode.shown.get(path) is False
    )
    compared = sum(1 for path, shown in original.shown.items() if shown and path in mode.shown)
    return Comparison(
        broken=mode.broken - original.broken,
        clipped=mode.clipped - original.clipped,
        hidden=hidden,
        overflow=max(0.0, mode.reach - original.reach),
        toolbar_share=mode.toolbar_share,
        size_ratio=size_ratio(original, mode),
        compared=compared,
    )


def size_ratio(original: Reading, mode: Reading) -> float | None:
    """The median, over running text found in both, of its physical size in ``mode`` over
    the original's; None when the page has no running text."""
    ratios = [
        mode.sizes[path] / size
        for path, size in original.sizes.items()
        if size > 0 and path in mode.sizes and original.tags.get(path) in RUNNING_TEXT
    ]
    return statistics.median(ratios) if ratios else None


def worst(values: Iterable[tuple[str, float]], *, highest: bool = True) -> tuple[str, float]:
    """The page with the highest (or lowest) value, for the report."""
    ordered = sorted(values, key=lambda item: item[1], reverse=highest)
    return ordered[0] if ordered else ("-", 0.0)
