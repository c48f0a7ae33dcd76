"""What the browser tests measure on a rendered page, and the arithmetic on the results.

The JavaScript runs through Playwright's ``evaluate``, which works with the page's own scripts
switched off. Each snippet reads the page as Chromium laid it out and returns plain data; the
judging happens in Python, so a failure names the element, the mode and the numbers.

Elements are matched across renders of one page by a DOM path that skips the elements the
proxy inserts (``[data-a11y-proxy]``), so the same paragraph has the same path in the original,
in the normal version and in every reading mode.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tests.wcag import RGB, contrast_ratio

# --- JavaScript ------------------------------------------------------------------------------

#: Helpers every snippet starts with. Colours are converted by painting them on a 1x1 canvas,
#: so any syntax Chromium computes (rgb(), color(), oklch()...) comes back as sRGB bytes.
PRELUDE: Final = r"""
const MARK = 'data-a11y-proxy';
const ours = (el) => !!el.closest('[' + MARK + ']');
const pathOf = (el) => {
  const parts = [];
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    let index = 0;
    const first = node.parentElement ? node.parentElement.firstElementChild : node;
    for (let sib = first; sib; sib = sib.nextElementSibling) {
      if (sib.hasAttribute(MARK)) continue;
      index += 1;
      if (sib === node) break;
    }
    parts.push(node.localName + index);
  }
  return parts.reverse().join('/');
};
const canvas = new OffscreenCanvas(1, 1);
const ctx = canvas.getContext('2d', {willReadFrequently: true});
const colours = new Map();
const rgba = (text) => {
  if (!colours.has(text)) {
    ctx.clearRect(0, 0, 1, 1);
    ctx.fillStyle = 'rgba(0, 0, 0, 0)';
    ctx.fillStyle = text;
    ctx.fillRect(0, 0, 1, 1);
    const d = ctx.getImageData(0, 0, 1, 1).data;
    colours.set(text, [d[0], d[1], d[2], d[3] / 255]);
  }
  return colours.get(text);
};
const over = (top, bottom) => {
  const a = top[3];
  return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
};
// The colour painted behind an element's content: its own background and its ancestors',
// composited over the white canvas. `image` says a background picture lies in between,
// which makes the result a guess.
const ground = (el) => {
  const layers = [];
  let image = false;
  for (let node = el; node; node = node.parentElement) {
    const style = getComputedStyle(node);
    if (style.backgroundImage !== 'none') image = true;
    const colour = rgba(style.backgroundColor);
    if (colour[3] > 0) layers.push(colour);
    if (colour[3] >= 1) break;
  }
  let result = [255, 255, 255, 1];
  for (const layer of layers.reverse()) result = over(layer, result);
  return {colour: result.slice(0, 3).map(Math.round), image};
};
const box = (rect) => ({x: rect.x + scrollX, y: rect.y + scrollY, w: rect.width, h: rect.height});
"""

#: Every element that directly holds visible text, and every form field that shows some:
#: where, how big, what colours.
TEXT_JS: Final = (
    "() => {"
    + PRELUDE
    + r"""
  // The width of "0" in an element's font, as the ch unit is, measured on a canvas: asking
  // the page would mean a layout per element.
  const widths = new Map();
  const chWidth = (style) => {
    const font = [style.fontStyle, style.fontWeight, style.fontSize, style.fontFamily].join(' ');
    if (!widths.has(font)) {
      ctx.font = font;
      widths.set(font, ctx.measureText('0').width);
    }
    return widths.get(font);
  };
  const out = [];
  const seen = new Set();
  const push = (el, text, rect) => {
    seen.add(el);
    const style = getComputedStyle(el);
    // One walk up: the opacity of the whole chain, whether it or an ancestor is positioned
    // out of the flow, and what the first opaque background and those above it paint.
    let opacity = 1;
    let outOfFlow = false;
    let image = false;
    let opaque = false;
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const own = node === el ? style : getComputedStyle(node);
      opacity *= parseFloat(own.opacity);
      outOfFlow = outOfFlow || own.position === 'absolute' || own.position === 'fixed';
      if (opaque) continue;
      if (own.backgroundImage !== 'none') image = true;
      const layer = rgba(own.backgroundColor);
      if (layer[3] > 0) layers.push(layer);
      opaque = layer[3] >= 1;
    }
    let behind = [255, 255, 255, 1];
    for (const layer of layers.reverse()) behind = over(layer, behind);
    const colour = rgba(style.webkitTextFillColor || style.color);
    const painted = over([colour[0], colour[1], colour[2], colour[3] * opacity], behind);
    const block = style.display === 'block' || style.display === 'list-item';
    const link = el.closest('a[href]');
    out.push({
      path: pathOf(el),
      tag: el.localName,
      text: text.trim().replace(/\s+/g, ' ').slice(0, 60),
      ours: ours(el),
      svg: !!el.closest('svg'),
      size: parseFloat(style.fontSize),
      lineHeight: style.lineHeight === 'normal' ? null : parseFloat(style.lineHeight),
      align: style.textAlign,
      justify: style.textJustify || 'auto',
      opacity,
      outOfFlow,
      link: !!link,
      capped: !!el.closest('[data-a11y-proxy-word]'),
      underlined: !!link && getComputedStyle(link).textDecorationLine.includes('underline'),
      display: style.display,
      width: el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      ch: block ? chWidth(style) : 0,
      fg: painted.slice(0, 3).map(Math.round),
      bg: behind.slice(0, 3).map(Math.round),
      image,
      box: box(rect),
    });
  };
  const visible = (el) => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let text = walker.nextNode(); text; text = walker.nextNode()) {
    const el = text.parentElement;
    if (!el || seen.has(el) || !text.data.trim() || !visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(text);
    const rects = [...range.getClientRects()].filter((r) => r.width >= 1 && r.height >= 1);
    if (rects.length) push(el, text.data, rects[0]);
  }
  // Form fields show their value or placeholder without a text node of their own.
  const silent = ['hidden', 'checkbox', 'radio', 'range', 'color', 'image'];
  for (const el of document.body.querySelectorAll('input, select, textarea')) {
    if (seen.has(el) || silent.includes(el.type) || !visible(el)) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width < 1 || rect.height < 1) continue;
    const shown = el.localName === 'select'
      ? (el.selectedOptions[0] ? el.selectedOptions[0].text : '')
      : (el.value || el.placeholder || el.type);
    push(el, shown || el.localName, rect);
  }
  return out;
}"""
)

#: How far the page scrolls sideways, and the outermost elements that stick out.
SCROLL_JS: Final = (
    "() => {"
    + PRELUDE
    + r"""
  const root = document.scrollingElement || document.documentElement;
  const before = scrollX;
  scrollTo(root.scrollWidth, scrollY);
  const reach = scrollX;
  scrollTo(before, scrollY);
  const view = root.clientWidth;
  const culprits = [];
  const walk = (el) => {
    for (const child of el.children) {
      const rect = child.getBoundingClientRect();
      const style = getComputedStyle(child);
      if (style.display === 'none' || ours(child)) continue;
      if (rect.width > 0 && rect.right + scrollX > view + 1 && style.position !== 'fixed') {
        culprits.push(pathOf(child) + ' <' + child.localName
          + (child.className && typeof child.className === 'string'
             ? '.' + child.className.trim().split(/\s+/).join('.') : '')
          + '> right=' + Math.round(rect.right + scrollX) + ' width=' + Math.round(rect.width));
        if (culprits.length >= 5) return;
      } else if (style.overflowX === 'visible') {
        walk(child);
      }
      if (culprits.length >= 5) return;
    }
  };
  if (reach > 0) walk(document.body);
  return {reach, view, width: root.scrollWidth, culprits};
}"""
)

#: Elements whose content overflows their box (text cut off or spilling over its neighbours),
#: and the toolbar's box.
OVERFLOW_JS: Final = (
    "() => {"
    + PRELUDE
    + r"""
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (ours(el) || !el.checkVisibility({checkVisibilityCSS: true})) continue;
    const style = getComputedStyle(el);
    if (style.height === 'auto' || style.display === 'inline') continue;
    if (!el.textContent.trim()) continue;
    if (el.scrollHeight > el.clientHeight + 2 && el.clientHeight > 0) {
      out.push({path: pathOf(el), tag: el.localName, height: style.height,
                overflow: style.overflowY, content: el.scrollHeight, client: el.clientHeight});
    }
  }
  const bar = document.getElementById('a11y-proxy-toolbar');
  return {overflowing: out, toolbar: bar ? box(bar.getBoundingClientRect()) : null};
}"""
)

# The focused element, its focus indicator as computed, and what lies behind it.
_FOCUS_INFO: Final = r"""
const focusInfo = (el) => {
  // Where the browser scrolled it: is the toolbar painted over it? Asked at its centre and
  // near its top edge, where a header of the page would overlap it.
  const bar = document.getElementById('a11y-proxy-toolbar');
  const before = el.getBoundingClientRect();
  const hidden = !ours(el) && [[0.5, 0.5], [0.5, 0.1]].some(([fx, fy]) => {
    const x = before.x + before.width * fx, y = before.y + before.height * fy;
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) return false;
    const top = document.elementFromPoint(x, y);
    return !!(bar && top && bar.contains(top));
  });
  // Focus scrolls only the element itself into view, so its ring may be cut off by the
  // window's edge: bring it to the middle before measuring.
  el.scrollIntoView({block: 'center', inline: 'center'});
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const shadow = style.boxShadow === 'none' ? null : style.boxShadow;
  const parts = [...el.getClientRects()].filter((r) => r.width > 0 && r.height > 0);
  const fragments = (parts.length ? parts : [rect])
    .map((r) => ({x: r.x, y: r.y, w: r.width, h: r.height}));
  return {
    path: pathOf(el),
    tag: el.localName,
    label: (el.getAttribute('aria-label') || el.textContent || el.value || '').trim()
      .replace(/\s+/g, ' ').slice(0, 40),
    ours: ours(el),
    view: {x: rect.x, y: rect.y, w: rect.width, h: rect.height},
    fragments,
    underToolbar: hidden,
    page: box(rect),
    outlineStyle: style.outlineStyle,
    outlineWidth: parseFloat(style.outlineWidth) || 0,
    outlineOffset: parseFloat(style.outlineOffset) || 0,
    outlineColour: rgba(style.outlineColor).slice(0, 3),
    ring: shadow ? rgba(shadow.slice(0, shadow.indexOf(')') + 1)).slice(0, 3) : null,
    behind: ground(el.parentElement || el).colour,
    viewport: {w: innerWidth, h: innerHeight},
  };
};
"""

#: The element that has focus now (after a Tab), measured; null when focus left the page.
FOCUS_JS: Final = (
    "() => {"
    + PRELUDE
    + _FOCUS_INFO
    + r"""
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  return focusInfo(el);
}"""
)

#: Every element that Tab can reach, in document order and at most ``limit``, each focused
#: in turn and measured: the same as tabbing, without a round trip per stop.
FOCUS_EACH_JS: Final = (
    "(limit) => {"
    + PRELUDE
    + _FOCUS_INFO
    + r"""
  const reachable = [...document.querySelectorAll(
    'a[href], area[href], button, input, select, textarea, summary, iframe, [tabindex]'
  )].filter((el) => el.tabIndex >= 0 && !el.disabled && el.type !== 'hidden'
    && el.checkVisibility({checkVisibilityCSS: true}));
  const out = [];
  for (const el of reachable.slice(0, limit)) {
    el.focus();
    if (document.activeElement === el) out.push(focusInfo(el));
  }
  return out;
}"""
)

#: Every <script> of the page, in order: where it comes from, how long, whether it is marked
#: as the proxy's.
SCRIPTS_JS: Final = r"""() => [...document.scripts].map((s) => ({
  src: s.getAttribute('src'),
  type: s.getAttribute('type'),
  length: s.textContent.length,
  ours: [...s.attributes].some((a) => a.name.startsWith('data-a11y-proxy')),
}))"""

#: What shows that the mode took effect: the toolbar's controls, the scale and the root colours
#: the mode stylesheet set.
STATE_JS: Final = (
    "() => {"
    + PRELUDE
    + r"""
  const bar = document.getElementById('a11y-proxy-toolbar');
  const root = getComputedStyle(document.documentElement);
  return {
    // Where each control leads as the browser resolves it (a page's <base> counts): a path
    // when it stays on this origin, else the whole address.
    controls: bar ? [...bar.querySelectorAll('a')].map((a) => {
      const url = new URL(a.href);
      return url.origin === location.origin ? url.pathname + url.search : a.href;
    }) : [],
    current: bar ? [...bar.querySelectorAll('a[aria-current="true"]')].length : 0,
    scale: root.getPropertyValue('--a11y-scale').trim(),
    background: rgba(root.backgroundColor).slice(0, 3),
    sheet: [...document.styleSheets].some((sheet) => sheet.ownerNode
      && sheet.ownerNode.getAttribute(MARK) === 'stylesheet' && sheet.cssRules.length > 0),
  };
}"""
)


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    def intersects(self, other: Box) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


#: The elements whose lines WCAG 1.4.8 spaces: what readable.css sets a line height on.
TEXT_BLOCKS: Final = frozenset(
    {"p", "li", "dt", "dd", "blockquote", "figcaption", "caption", "td", "th", "label"}
    | {"legend", "summary", "address", "h1", "h2", "h3", "h4", "h5", "h6"}
)


@dataclass(frozen=True, slots=True)
class Text:
    """One element that holds visible text, as rendered."""

    path: str
    tag: str
    text: str
    ours: bool
    svg: bool
    size: float
    line_height: float | None
    align: str
    justify: str
    display: str
    #: Content width and the width of "0" in its font: the measure in characters.
    width: float
    ch: float
    fg: RGB
    bg: RGB
    #: A background picture lies behind the text: ``bg`` is a guess.
    image: bool
    #: Opacity of the element and its ancestors, multiplied.
    opacity: float
    #: It or an ancestor is positioned absolutely or fixed: placed against the page, not
    #: in the flow below the toolbar.
    out_of_flow: bool
    link: bool
    #: It or an ancestor holds a word marked as long: its size may be kept within the room
    #: that word has in the window (readable.css), never below the size the site gave.
    capped: bool
    underlined: bool
    box: Box

    @property
    def contrast(self) -> float:
        return contrast_ratio(self.fg, self.bg)

    @property
    def justified(self) -> bool:
        """Drawn justified: text-justify: none leaves no gap to stretch."""
        return self.align == "justify" and self.justify != "none"

    @property
    def is_text_block(self) -> bool:
        """A paragraph, heading, list item, cell...: a box of lines, spaced at 1.5 or more."""
        return self.tag in TEXT_BLOCKS and self.display not in ("inline", "none")

    @property
    def is_running_text(self) -> bool:
        """A block of prose, whose measure and line height WCAG 1.4.8 is about."""
        return self.tag in ("p", "li", "dd", "blockquote") and self.display in (
            "block",
            "list-item",
        )

    @property
    def measure(self) -> float:
        """The line length in characters of "0"."""
        return self.width / self.ch if self.ch else 0.0


def texts(raw: Iterable[dict[str, Any]]) -> list[Text]:
    return [
        Text(
            path=item["path"],
            tag=item["tag"],
            text=item["text"],
            ours=item["ours"],
            svg=item["svg"],
            size=item["size"],
            line_height=item["lineHeight"],
            align=item["align"],
            justify=item["justify"],
            display=item["display"],
            width=item["width"],
            ch=item["ch"],
            fg=_rgb(item["fg"]),
            bg=_rgb(item["bg"]),
            image=item["image"],
            opacity=item["opacity"],
            out_of_flow=item["outOfFlow"],
            link=item["link"],
            capped=item.get("capped", False),
            underlined=item["underlined"],
            box=Box(**item["box"]),
        )
        for item in raw
    ]


def _rgb(values: Sequence[float]) -> RGB:
    red, green, blue = (round(value) for value in values[:3])
    return red, green, blue


# --- size ratios -----------------------------------------------------------------------------

#: Chromium's smallest font size for text set with relative units (its "minimum logical font
#: size"): a smaller computed size is raised to this, so a ratio against it understates.
BROWSER_MINIMUM_PX: Final = 6.0


@dataclass(frozen=True, slots=True)
class SizeRatio:
    path: str
    text: str
    normal: float
    enlarged: float

    @property
    def ratio(self) -> float:
        return self.enlarged / self.normal


@dataclass(frozen=True, slots=True)
class SizeReport:
    ratios: list[SizeRatio]
    excused: list[tuple[SizeRatio, str]]
    unmatched: int

    def smallest(self) -> SizeRatio | None:
        return min(self.ratios, key=lambda item: item.ratio, default=None)

    def below(self, minimum: float) -> list[SizeRatio]:
        # Computed sizes are rounded to hundredths of a pixel or so.
        return [item for item in self.ratios if item.ratio < minimum - 0.01]


def size_ratios(normal: Sequence[Text], enlarged: Sequence[Text], factor: float) -> SizeReport:
    """Font size in the enlarged render over the normal one, per text element of the page.

    A text whose longest word would not fit the window at ``factor`` times its size is kept
    within that room on purpose; it is excused only when it did fall short of ``factor``.
    """
    before = {item.path: item for item in normal if not item.ours}
    ratios: list[SizeRatio] = []
    excused: list[tuple[SizeRatio, str]] = []
    unmatched = 0
    for item in enlarged:
        if item.ours:
            continue
        original = before.get(item.path)
        if original is None or original.tag != item.tag:
            unmatched += 1
            continue
        ratio = SizeRatio(item.path, item.text, original.size, item.size)
        if item.svg:
            excused.append((ratio, "text inside SVG: drawn at the picture's own scale"))
        elif original.size < 1:
            excused.append((ratio, "text of (almost) no size: hidden by its site"))
        elif original.size <= BROWSER_MINIMUM_PX and item.size > original.size:
            excused.append((ratio, "raised to the browser's minimum size in the normal version"))
        elif item.capped and original.size - 0.01 <= item.size < original.size * factor - 0.01:
            excused.append((ratio, "a word too long for the window at the mode's size"))
        else:
            ratios.append(ratio)
    return SizeReport(ratios, excused, unmatched)


# --- focus -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Focused:
    """The focused element as computed."""

    path: str
    tag: str
    label: str
    ours: bool
    view: Box
    page: Box
    #: The element's boxes in the viewport: one per line for a link that wraps.
    fragments: tuple[Box, ...]
    under_toolbar: bool
    outline_style: str
    outline_width: float
    outline_offset: float
    outline_colour: RGB
    ring: RGB | None
    behind: RGB
    viewport_w: float
    viewport_h: float

    @property
    def shown(self) -> bool:
        """Whether any of it is inside the window once scrolled to (a skip link that stays
        off-screen even with focus is not)."""
        view = self.view
        return (
            view.w > 0
            and view.h > 0
            and view.x + view.w > 0
            and view.y + view.h > 0
            and view.x < self.viewport_w
            and view.y < self.viewport_h
        )

    def indicator_contrast(self) -> float:
        """The best contrast of the indicator's colours with what lies behind the element.

        The outline is drawn over a ring of a second colour, so either of the two may be the
        part that stands out from the page (a dark outline on a light page, a light ring on a
        dark one); the pixel comparison checks that part is at least 2 px thick.
        """
        if self.outline_style in ("none", "hidden") or self.outline_width == 0:
            candidates: list[RGB] = []
        else:
            candidates = [self.outline_colour]
        if self.ring is not None:
            candidates.append(self.ring)
        return max((contrast_ratio(colour, self.behind) for colour in candidates), default=1.0)


def focused(raw: dict[str, Any]) -> Focused:
    return Focused(
        path=raw["path"],
        tag=raw["tag"],
        label=raw["label"],
        ours=raw["ours"],
        view=Box(**raw["view"]),
        page=Box(**raw["page"]),
        fragments=tuple(Box(**fragment) for fragment in raw["fragments"]),
        under_toolbar=raw["underToolbar"],
        outline_style=raw["outlineStyle"],
        outline_width=raw["outlineWidth"],
        outline_offset=raw["outlineOffset"],
        outline_colour=_rgb(raw["outlineColour"]),
        ring=None if raw["ring"] is None else _rgb(raw["ring"]),
        behind=_rgb(raw["behind"]),
        viewport_w=raw["viewport"]["w"],
        viewport_h=raw["viewport"]["h"],
    )


# --- pixels ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    """Decoded 8-bit RGB pixels, row by row."""

    width: int
    height: int
    rows: list[list[RGB]]

    def at(self, x: int, y: int) -> RGB:
        return self.rows[y][x]


def decode_png(data: bytes) -> Image:
    """Decode the PNGs Chromium writes: 8-bit RGB or RGBA, not interlaced."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position = 8
    header = b""
    chunks: list[bytes] = []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour_type not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, type {colour_type}")
    channels = 3 if colour_type == 2 else 4
    stride = width * channels
    raw = zlib.decompress(b"".join(chunks))
    previous = bytearray(stride)
    rows: list[list[RGB]] = []
    offset = 0
    for _ in range(height):
        method = raw[offset]
        line = bytearray(raw[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        _unfilter(method, line, previous, channels)
        rows.append([(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)])
        previous = line
    return Image(width, height, rows)


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    """Undo a row's PNG filter in place (RFC 2083, 6)."""
    if kind == 0:
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = previous[i - bpp] if i >= bpp else 0
            guess = left + up - corner
            dl, du, dc = abs(guess - left), abs(guess - up), abs(guess - corner)
            predictor = left if dl <= du and dl <= dc else up if du <= dc else corner
            line[i] = (line[i] + predictor) & 0xFF


#: What counts as a visible change of one pixel between the two renders (WCAG 2.4.13).
CHANGE_CONTRAST: Final = 3.0


def ring_thickness(
    focused_image: Image, plain: Image, fragments: Sequence[Box]
) -> dict[str, int | None]:
    """The thickest run of pixels, outside each side of the element, that focus changed.

    ``fragments`` are the element's boxes inside the images (which show the same area,
    focused and not): one box, or one per line of a wrapped link, whose top is the first
    line's and bottom the last line's. Each side is probed along a few lines perpendicular
    to it, from the border outward; a pixel counts when its colours in the two renders
    differ by at least 3:1 (the change of contrast WCAG 2.4.13 asks of an indicator). A
    side's thickness is the longest run on any of its lines, within 20 px of the border;
    None when the side lies outside the images (the element touches the page's edge).
    """
    first, last = fragments[0], fragments[-1]
    leftmost = min(fragments, key=lambda box: box.x)
    rightmost = max(fragments, key=lambda box: box.x + box.w)
    spans = {
        "top": [(x, round(first.y) - 1, 0, -1) for x in _probes(first.x, first.x + first.w)],
        "bottom": [(x, round(last.y + last.h), 0, 1) for x in _probes(last.x, last.x + last.w)],
        "left": [
            (round(leftmost.x) - 1, y, -1, 0) for y in _probes(leftmost.y, leftmost.y + leftmost.h)
        ],
        "right": [
            (round(rightmost.x + rightmost.w), y, 1, 0)
            for y in _probes(rightmost.y, rightmost.y + rightmost.h)
        ],
    }
    result: dict[str, int | None] = {}
    for side, probes in spans.items():
        inside = [
            probe
            for probe in probes
            if 0 <= probe[0] < plain.width and 0 <= probe[1] < plain.height
        ]
        if not inside:
            result[side] = None
            continue
        best = 0
        for x, y, dx, dy in inside:
            run = 0
            for step in range(20):
                px, py = x + dx * step, y + dy * step
                if not (0 <= px < plain.width and 0 <= py < plain.height):
                    break
                if contrast_ratio(focused_image.at(px, py), plain.at(px, py)) >= CHANGE_CONTRAST:
                    run += 1
                    best = max(best, run)
                else:
                    run = 0
        result[side] = best
    return result


def _probes(start: float, end: float) -> list[int]:
    """Three points along a side, away from rounded corners."""
    low, high = round(start), round(end)
    if high - low < 3:
        return [low]
    return [low + (high - low) * k // 4 for k in (1, 2, 3)]
