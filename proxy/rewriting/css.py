"""Upstream CSS in, CSS whose sizes and boxes follow the reading modes out.

Besides the font sizes below, four things follow custom properties the modes set, and are
themselves with no mode on:

- ``height``, ``min-height``, ``max-height`` in absolute units grow with the text (a box of a
  fixed px height held text of the original size);
- ``font-size`` is kept within ``--a11y-room``, the room an element's longest word has in the
  window (set by the modes on elements the rewriter marks), never below the site's size;
- in a rule that pins its box (``position: fixed`` or ``sticky``) the position follows
  ``--a11y-fixed``/``--a11y-sticky`` and ``top`` adds ``--a11y-shift`` (room for the toolbar);
- every ``background`` says in ``--a11y-paint`` whether it paints the box (the themes paint
  only those), and a column's width in % follows ``--a11y-flow-width``.

The large-font mode sets ``:root { --a11y-scale: 1.5 }``. Every size this module
multiplies becomes ``calc(<size> * var(--a11y-scale, 1))`` (a font size within
``min(..., max(<size>, var(--a11y-room, 1e4px)))``), so a px-based site grows
while its headings stay larger than its body text. Without the mode the variable is
unset, the fallback 1 applies and the page renders exactly as before.

What is scaled:

- ``font-size`` with an absolute length (px, pt, pc, in, cm, mm, q; units in any
  case) or a viewport or container unit (vw, vh, vmin, vmax, dvh, cqi, ...): a bare
  viewport size does not follow the user's text size either. A math function
  (``calc``, ``clamp``, ``min``, ``max``, ...) holding such a length is wrapped whole.
- The absolute-size keywords ``xx-small`` .. ``xxx-large`` become Chromium's
  defaults at medium = 16px (9, 10, 13, 16, 18, 24, 32, 48px), then are wrapped.
- Relative values (em, %, rem, ex, ch, ``larger``, ``smaller``, CSS-wide keywords,
  a lone ``var()``, ``0``) are not multiplied: they follow a parent that is scaled
  already. Those but ``1em`` and ``100%`` (the parent's own size) are kept within the
  room of item two above: ``min(X, max(X / scale, room))``. The exception is a rule
  whose selector list holds only root selectors (``html``, ``:root``): there
  font-relative units and % refer to the browser default, so they are multiplied too.
- In the ``font`` shorthand the size component (after optional style, variant,
  weight and stretch) is wrapped in place, and so is an absolute ``/line-height``;
  system fonts (``caption``, ``menu``, ...) and shorthands that need ``var()``
  substitution before they can be read are left alone.
- ``line-height`` with an absolute or viewport length is scaled so lines do not
  overlap; unitless, %, em and ``normal`` already follow the font size.
- A value that already mentions ``--a11y-scale`` is never wrapped again, so
  rewriting a rewritten stylesheet changes nothing.
- Rules inside ``@media``, ``@supports``, ``@layer``, ``@container``, ``@document``,
  ``@scope``, ``@starting-style`` and nested style rules are handled recursively;
  ``@font-face``, ``@keyframes``, ``@page``, ``@counter-style`` and unknown
  at-rules are not touched.

How the text changes: tinycss2 parses the sheet once (a big sheet is first cut into
its top-level rules by a scan for brackets, quotes and comments, and only the rules
that may declare a size are parsed; blocks whose text mentions neither "font" nor
"line-height" are not even split into declarations); the rewrite splices new text
into the original string at the source positions of the tokens it scales.
Everything else (whitespace, comments, escapes, malformed parts, anything tinycss2
reports as an error) stays byte for byte, and an input that needs no change is
returned as the same object.

The companion sheet of ``font_overrides`` repeats, in source order, every font-size
and line-height declaration of the rules that set one (a ``font`` shorthand turns
into those two longhands). Copying the unscaled ones too keeps the original winner
where selectors overlap, so the page renders as before at scale 1. It cannot copy
rules inside an anonymous ``@layer`` (a copy would be a new layer) nor a shorthand
it cannot read (system fonts, ``var()``); those keep their original size.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import tinycss2

from proxy.rewriting.paint import paints

__all__ = ["SCALE_VAR", "font_overrides", "scale_declarations", "scale_stylesheet"]

SCALE_VAR: Final = "--a11y-scale"

# tinycss2 ships no type information; its nodes are plain objects.
_Node = Any

_FACTOR: Final = f" * var({SCALE_VAR}, 1))"
#: The largest font size at which an element's longest word still fits the window; set by
#: the reading modes on elements the rewriter marks with their longest word's length.
ROOM_VAR: Final = "--a11y-room"
_ROOM: Final = f"var({ROOM_VAR}, 1e4px)"

_ABSOLUTE_UNITS: Final = frozenset({"px", "pt", "pc", "in", "cm", "mm", "q"})
_VIEWPORT_UNITS: Final = frozenset(
    {
        prefix + axis
        for prefix in ("", "s", "l", "d")
        for axis in ("vw", "vh", "vi", "vb", "vmin", "vmax")
    }
    | {"cqw", "cqh", "cqi", "cqb", "cqmin", "cqmax"}
)
# On the root element these refer to the browser's default size, not to a parent.
_FONT_RELATIVE_UNITS: Final = frozenset(
    {"em", "rem", "ex", "rex", "ch", "rch", "cap", "rcap", "ic", "ric", "lh", "rlh"}
)
_MATH_FUNCTIONS: Final = frozenset(
    {"calc", "-webkit-calc", "-moz-calc", "clamp", "min", "max", "round", "abs", "hypot"}
)
# Chromium's sizes for the absolute-size keywords when medium is 16px.
_SIZE_KEYWORDS_PX: Final = {
    "xx-small": 9,
    "x-small": 10,
    "small": 13,
    "medium": 16,
    "large": 18,
    "x-large": 24,
    "xx-large": 32,
    "xxx-large": 48,
}
_RELATIVE_SIZE_KEYWORDS: Final = frozenset({"larger", "smaller", "math"})
_CSS_WIDE_KEYWORDS: Final = frozenset({"inherit", "initial", "unset", "revert", "revert-layer"})
# What may stand before the size in the font shorthand.
_FONT_PREFIX_KEYWORDS: Final = frozenset(
    {
        "normal",
        "italic",
        "oblique",
        "small-caps",
        "bold",
        "bolder",
        "lighter",
        "ultra-condensed",
        "extra-condensed",
        "condensed",
        "semi-condensed",
        "semi-expanded",
        "expanded",
        "extra-expanded",
        "ultra-expanded",
    }
)
_ANGLE_UNITS: Final = frozenset({"deg", "grad", "rad", "turn"})
_GROUP_RULES: Final = frozenset(
    {"media", "supports", "layer", "container", "document", "-moz-document", "scope"}
    | {"starting-style"}
)
_SIZED_PROPERTIES: Final = frozenset({"font-size", "font", "line-height"})
# Heights of boxes: a box sized in px for the text it holds must grow with that text.
_HEIGHTS: Final = frozenset({"height", "min-height", "max-height"})
# A rule whose source holds neither word cannot set a size: skip parsing its block.
_MAY_SET_SIZE: Final = re.compile("font|height|position|background|width|top", re.IGNORECASE)
# tinycss2 counts these as one line break each when it numbers lines.
_LINE_BREAK: Final = re.compile("\r\n|[\r\n\f]")
# Characters after which the inserted "calc(" cannot merge into the previous token.
_SEPARATORS: Final = frozenset(" \t\n\r\f:/")
_BLANK: Final = ("whitespace", "comment")


def scale_stylesheet(css: str) -> str:
    """Return a whole stylesheet with every font size multiplied by the scale variable.

    Text that is not rewritten stays byte for byte; with nothing to rewrite the
    input object itself is returned.
    """
    if not _MAY_SET_SIZE.search(css):
        return css
    pieces: list[str] = []
    done = 0
    for start, end in _sized_spans(css):
        part = css[start:end]
        rules = _parse_stylesheet(part)
        if rules is None:
            continue
        scan = _Scan(part, overrides=False)
        scan.rules(rules)
        if scan.edits:
            pieces += (css[done:start], scan.source.apply(scan.edits))
            done = end
    if not pieces:
        return css
    pieces.append(css[done:])
    return "".join(pieces)


def scale_declarations(style: str, *, root: bool = False) -> str:
    """Return the value of a ``style=""`` attribute with its font sizes scaled.

    ``root``: the attribute is the ``<html>`` element's, where relative sizes (``62.5%``,
    ``1em``) refer to the browser default and so are scaled too, as in a root rule.
    With nothing to rewrite the input object itself is returned.
    """
    if not _MAY_SET_SIZE.search(style):
        return style
    if len(style) > _CACHED_STYLE_CHARS:
        scaled = _scale_declarations(style, root)
    else:
        scaled = _scale_declarations_cached(style, root)
    return style if scaled is None else scaled


def _scale_declarations(style: str, root: bool) -> str | None:
    """The scaled declarations, or None when nothing changes."""
    scan = _Scan(style, overrides=False)
    try:
        items = tinycss2.parse_blocks_contents(style, skip_comments=True, skip_whitespace=True)
    except ValueError:  # see _parse_stylesheet
        return None
    scan.block(items, len(style), root=root, nested_rules=False)
    return scan.source.apply(scan.edits) if scan.edits else None


def font_overrides(css: str) -> str:
    """Return a companion sheet for a ``<style>`` block that must stay as it was sent.

    It repeats every rule that sets a font size or line height, with the same
    selectors and enclosing group rules, declaring only those properties (scaled
    where the rules above say so, ``!important`` kept). Rules that need no scaling
    are repeated too: placed right after the original block, the companion wins
    over it, so it must keep the original's order between overlapping selectors.
    Returns "" when nothing needs scaling.
    """
    if not _MAY_SET_SIZE.search(css):
        return ""
    if len(css) > _CACHED_SHEET_CHARS:
        return _font_overrides(css)
    return _font_overrides_cached(css)


def _font_overrides(css: str) -> str:
    out: list[str] = []
    edited = False
    for start, end in _sized_spans(css):
        part = css[start:end]
        rules = _parse_stylesheet(part)
        if rules is None:
            continue
        scan = _Scan(part, overrides=True)
        scan.rules(rules, out)
        edited = edited or bool(scan.edits)
    if not edited:
        return ""
    # Slices of a <style> body cannot close the element, but be sure the joins can't.
    return "\n".join(out).replace("</", "<\\/") + "\n"


def _parse_stylesheet(css: str) -> list[_Node] | None:
    """tinycss2's rules, or None for text it cannot read: it turns each integer into a Python
    int, and Python refuses a string of more than 4,300 digits. Such a number is no real size;
    the text holding it stays as it is."""
    try:
        rules: list[_Node] = tinycss2.parse_stylesheet(
            css, skip_comments=True, skip_whitespace=True
        )
    except ValueError:
        return None
    return rules


# Most sites put the same <style> blocks in every page: each is read once per process. The bound
# on their length keeps the cache's memory small whatever pages come.
_CACHED_SHEET_CHARS: Final = 32 * 1024
_font_overrides_cached: Final = lru_cache(maxsize=64)(_font_overrides)

# A site repeats a few style="" values on every element of a list and on every page; tokenizing
# each again was a quarter of a page's rewrite. Long values are rare and would make the cache's
# memory unbounded in practice, so only short ones are kept.
_CACHED_STYLE_CHARS: Final = 256
_scale_declarations_cached: Final = lru_cache(maxsize=4096)(_scale_declarations)


# Sheets shorter than this are parsed whole: finding their rules first would not pay.
_SPLIT_CHARS: Final = 4096
# What can open or close a block, end an at-rule, or hide either: brackets, ";", strings,
# escapes, comments and url(, whose unquoted argument may hold anything.
_STRUCTURE: Final = re.compile(r"""[{}()\[\];"'\\]|/\*|url\(""", re.IGNORECASE)
# What stylesheet parsing skips between two rules.
_BETWEEN_RULES: Final = re.compile(r"(?:[ \t\n\r\f]+|/\*.*?(?:\*/|\Z)|<!--|-->)*", re.DOTALL)
# "@" starting an at-keyword: an identifier follows (CSS Syntax, "would start an identifier").
_AT_KEYWORD: Final = re.compile(
    r"@(?:[A-Za-z_\x80-\U0010ffff]|-[-A-Za-z_\x80-\U0010ffff]|-?\\[^\n\r\f])"
)
_WHITESPACE: Final = re.compile(r"[ \t\n\r\f]*")
_HEX_ESCAPE: Final = re.compile(r"[0-9A-Fa-f]{1,6}(?:\r\n|[ \t\n\r\f])?")
_CLOSING: Final = {"{": "}", "(": ")", "[": "]"}
# A rule sets a size only with one of these declarations (an escape may spell one): stricter
# than _MAY_SET_SIZE, which font-family and @font-face match too.
_DECLARES_SIZE: Final = re.compile(
    r"font(?:-size)?\s*(?::|/\*)|height|position|background|width|top|\\", re.IGNORECASE
)
# In an unquoted url( argument, what would nest differently if it were not a URL token after all.
_NOT_PLAIN_URL: Final = re.compile(r"""[{}()\[\]"'\\]|/\*""")
_STRING_END: Final = {quote: re.compile(rf"[{quote}\\\n\r\f]") for quote in "\"'"}


def _sized_spans(css: str) -> list[tuple[int, int]]:
    """The stretches of a sheet to parse: runs of top-level rules that may declare a size.

    Tokenizing a whole sheet was most of the cost of a page with a big ``<style>``, though
    few of its rules set a font size. A rule that declares none changes nothing, so the
    sheet is cut where its top-level rules start (see :func:`_rule_starts`) and only the
    runs of rules that may declare one are parsed, each on its own: a rule reads the same
    alone, as the cuts are where the whole sheet's parse starts a rule, and each run ends
    where the next rule starts, as the bounds of the whole parse do.
    """
    starts = _rule_starts(css) if len(css) >= _SPLIT_CHARS else None
    if starts is None:
        return [(0, len(css))]
    spans: list[tuple[int, int]] = []
    for start, end in itertools.pairwise((*starts, len(css))):
        if _DECLARES_SIZE.search(css, start, end) is None:
            continue
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def _rule_starts(css: str) -> list[int] | None:
    """0, then where each top-level rule after the first starts, as the CSS tokenizer and
    stylesheet parser read the sheet; None when an unquoted ``url(`` or an escape leaves
    that in doubt (the sheet is then parsed whole).

    Only what decides nesting is read, with one search per bracket, quote, escape or comment:
    a qualified rule ends with its first top-level ``{}`` block, an at-rule with that or a
    top-level ``;``; a block ends only at its own closing bracket, as in the tokenizer.
    """
    length = len(css)
    starts = [0]
    position = _skip_between_rules(css, 0)
    while position < length:
        at_rule = _AT_KEYWORD.match(css, position) is not None
        stack: list[str] = []
        while True:
            found = _STRUCTURE.search(css, position)
            if found is None:
                return starts  # the last rule runs to the end
            char, position = found.group(), found.end()
            if char == "/*":
                close = css.find("*/", position)
                if close < 0:
                    return starts
                position = close + 2
            elif char in "\"'":
                position = _string_end(css, position, char)
            elif char == "\\":
                escaped = _escape_end(css, position)
                if escaped is None:
                    return None
                position = escaped
            elif len(char) > 1:  # url(
                argument = _skip_whitespace(css, position)
                if argument < length and css[argument] in "\"'":
                    stack.append(")")  # a function holding a string, whatever its name
                    continue
                close = css.find(")", position)
                if close < 0 or _NOT_PLAIN_URL.search(css, position, close):
                    return None
                position = close + 1
            elif char in _CLOSING:
                stack.append(_CLOSING[char])
            elif char == ";":
                if at_rule and not stack:
                    break
            elif stack and stack[-1] == char:
                stack.pop()
                if char == "}" and not stack:
                    break
        position = _skip_between_rules(css, position)
        if position < length:
            starts.append(position)
    return starts


def _skip_between_rules(css: str, position: int) -> int:
    match = _BETWEEN_RULES.match(css, position)
    assert match is not None  # it matches the empty string too
    return match.end()


def _skip_whitespace(css: str, position: int) -> int:
    match = _WHITESPACE.match(css, position)
    assert match is not None
    return match.end()


def _string_end(css: str, position: int, quote: str) -> int:
    """Just past a string whose opening quote ends at ``position`` (a newline ends one too)."""
    end = _STRING_END[quote]
    while (found := end.search(css, position)) is not None:
        char, position = found.group(), found.end()
        if char == quote:
            return position
        if char != "\\":
            return position - 1  # a bad string: the newline is not part of it
        if css.startswith("\r\n", position):
            position += 2
        elif position < len(css):
            hexadecimal = _HEX_ESCAPE.match(css, position)
            position = hexadecimal.end() if hexadecimal else position + 1
    return len(css)


def _escape_end(css: str, position: int) -> int | None:
    """Past an escape outside strings, whose backslash ends at ``position``; None for an
    escaped letter of "url", which could make an identifier a URL token unseen."""
    if position >= len(css) or css[position] in "\n\r\f":
        return position  # not an escape: a lone backslash
    hexadecimal = _HEX_ESCAPE.match(css, position)
    if hexadecimal is not None:
        code = int(hexadecimal.group().rstrip(), 16)
        char = chr(code) if 0 < code <= 0x10FFFF else ""
        end = hexadecimal.end()
    else:
        char, end = css[position], position + 1
    return None if char.lower() in ("u", "r", "l") else end


@dataclass(frozen=True, slots=True)
class _Edit:
    """Replace source[start:end] with text."""

    start: int
    end: int
    text: str


class _Source:
    """The original text, addressed by tinycss2's line and column numbers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0, *(match.end() for match in _LINE_BREAK.finditer(text))]

    def offset(self, node: _Node) -> int:
        """The index in the text where a node starts."""
        line: int = node.source_line
        column: int = node.source_column
        return self._line_starts[line - 1] + column - 1

    def end(self, node: _Node, bound: int) -> int | None:
        """The index just past a token, or None when it cannot be placed safely.

        Tokens carry only their start, so the few that get rewritten are tokenized
        again alone: the tokenizer keeps no state between tokens, so the text from
        a token's start gives the same token, and the next token's start is its end.
        ``bound`` is where the enclosing item ends at the latest; a sentinel after it
        shows whether a function or block runs unclosed to the end of the input.
        """
        start = self.offset(node)
        region = self.text[start:bound]
        try:
            tokens = tinycss2.parse_component_value_list(region + "\n;")
        except ValueError:  # see _parse_stylesheet
            return None
        if len(tokens) < 2 or tokens[0].type != node.type:
            return None
        after = tokens[1]
        line: int = after.source_line
        column: int = after.source_column
        if line == 1:
            end = start + column - 1
        else:
            breaks = [match.end() for match in _LINE_BREAK.finditer(region)]
            end = start + (breaks[line - 2] if line - 2 < len(breaks) else len(region))
            end += column - 1
        end = min(end, bound)
        return end if end > start else None

    def apply(self, edits: Sequence[_Edit], start: int = 0, end: int | None = None) -> str:
        """The text from start to end with the edits that fall inside it applied."""
        stop = len(self.text) if end is None else end
        if not edits and start == 0 and stop == len(self.text):
            return self.text
        pieces: list[str] = []
        position = start
        for edit in sorted(edits, key=lambda edit: edit.start):
            if edit.start < position or edit.end > stop:
                continue
            pieces.append(self.text[position : edit.start])
            pieces.append(edit.text)
            position = edit.end
        pieces.append(self.text[position:stop])
        return "".join(pieces)


@dataclass(frozen=True, slots=True)
class _Sized:
    """What one declaration sets, for the override sheet: property, value, priority."""

    declarations: tuple[tuple[str, str], ...]
    important: bool

    def css(self) -> str:
        priority = " !important" if self.important else ""
        return "".join(f"{name}:{value}{priority};" for name, value in self.declarations)


class _Scan:
    """One walk over a sheet's rules, nested rules and group rules, handing each
    declaration to :class:`_Declarations`; collects the edits and, if asked, the override
    rules (each with its selectors and enclosing group rules)."""

    def __init__(self, text: str, *, overrides: bool) -> None:
        self.source = _Source(text)
        self.overrides = overrides
        self.declarations = _Declarations(self.source, overrides=overrides)
        #: Where the text changes, in the order found.
        self.edits = self.declarations.edits

    def rules(self, nodes: Sequence[_Node], out: list[str] | None = None) -> None:
        """A list of rules: the sheet itself or a top-level group rule's block."""
        self._rules(nodes, len(self.source.text), out)

    def _rules(self, nodes: Sequence[_Node], bound: int, out: list[str] | None) -> None:
        for node, node_bound in self._with_bounds(nodes, bound):
            if node.type == "qualified-rule":
                self._style_rule(node, node_bound, out)
            elif node.type == "at-rule":
                self._group_rule(node, node_bound, out, nested=False, root=False)

    def block(
        self, items: Sequence[_Node], bound: int, *, root: bool, nested_rules: bool = True
    ) -> list[str]:
        """The contents of a style rule: declarations, maybe nested rules."""
        out: list[str] = []
        position = _position(items)
        pinned = position in _PINNED
        # A box placed out of the flow keeps its width: it was not a column.
        flowing = position not in ("absolute", "fixed")
        # A block rewritten before says how it paints already.
        painted = any(item.type == "declaration" and item.lower_name == PAINT_VAR for item in items)
        declarations = self.declarations
        for item, item_bound in self._with_bounds(items, bound):
            if item.type == "declaration":
                name = item.lower_name
                if name in _PLACED:
                    rewrite = pinned and name in ("position", "top")
                    rewrite = rewrite or (name == "width" and flowing)
                    sized = declarations.placed(item, item_bound) if rewrite else None
                    # The companion repeats every one, rewritten or not: a copy of an earlier
                    # rule's must not win over a later rule's as written ("position: static"
                    # in a media query, say).
                    sized = sized or declarations.as_written(item, item_bound)
                elif name in _BACKGROUNDS:
                    sized = None if painted else declarations.paint(item)
                else:
                    sized = declarations.sized(item, item_bound, root)
                if sized is not None:
                    out.append(sized.css())
            elif item.type == "qualified-rule" and nested_rules:
                self._style_rule(item, item_bound, out)
            elif item.type == "at-rule" and nested_rules:
                self._group_rule(item, item_bound, out, nested=True, root=root)
        return out

    def _style_rule(self, rule: _Node, bound: int, out: list[str] | None) -> None:
        if not rule.content or not self._may_set_size(rule, bound):
            return
        items = tinycss2.parse_blocks_contents(rule.content, skip_whitespace=True)
        body = self.block(items, bound, root=_is_root_selector(rule.prelude))
        if out is not None and body:
            prelude = self._prelude(rule, bound)
            if prelude:
                out.append(f"{prelude}{{{''.join(body)}}}")

    def _group_rule(
        self, rule: _Node, bound: int, out: list[str] | None, *, nested: bool, root: bool
    ) -> None:
        name: str = rule.lower_at_keyword
        if rule.content is None or name not in _GROUP_RULES:
            return
        if self.overrides and name == "layer" and not _significant(rule.prelude):
            return  # each anonymous layer is a layer of its own: a copy would not join it
        if not self._may_set_size(rule, bound):
            return
        body: list[str] = []
        if nested:
            items = tinycss2.parse_blocks_contents(rule.content, skip_whitespace=True)
            body = self.block(items, bound, root=root)
        else:
            self._rules(tinycss2.parse_rule_list(rule.content, skip_whitespace=True), bound, body)
        if out is not None and body:
            prelude = self._prelude(rule, bound)
            if prelude is not None:
                out.append(f"@{rule.at_keyword} {prelude}{{{''.join(body)}}}")

    def _may_set_size(self, rule: _Node, bound: int) -> bool:
        return _MAY_SET_SIZE.search(self.source.text, self.source.offset(rule), bound) is not None

    def _prelude(self, rule: _Node, bound: int) -> str | None:
        """A rule's prelude as written, or None when it cannot be cut out."""
        tokens = _significant(rule.prelude)
        if not tokens:
            return ""
        # The block's first token (or the rule's end) bounds the prelude's last token.
        inner = rule.content[0] if rule.content else None
        limit = self.source.offset(inner) if inner is not None else bound
        end = self.source.end(tokens[-1], limit)
        if end is None:
            return None
        return self.source.apply((), self.source.offset(tokens[0]), end) + " "

    def _with_bounds(self, nodes: Sequence[_Node], bound: int) -> Iterable[tuple[_Node, int]]:
        """Each node with the latest index where it can end: where the next one starts."""
        for index, node in enumerate(nodes):
            following = bound if index + 1 == len(nodes) else self.source.offset(nodes[index + 1])
            yield node, following


class _Declarations:
    """The edits for one declaration at a time (font sizes scaled, fixed heights grown,
    columns let go, pinned boxes placed, backgrounds marked) and, if asked, the
    declaration as the override sheet repeats it."""

    def __init__(self, source: _Source, *, overrides: bool) -> None:
        self.source = source
        self.overrides = overrides
        self.edits: list[_Edit] = []

    def sized(self, declaration: _Node, bound: int, root: bool) -> _Sized | None:
        name: str = declaration.lower_name
        if name not in _SIZED_PROPERTIES and name not in _HEIGHTS:
            return None
        tokens = self._significant_with_bounds(declaration.value, bound)
        if not tokens:
            return None
        important: bool = declaration.important
        if name == "font":
            return self._font_shorthand(tokens, root, important)
        edit: _Edit | None = None
        if len(tokens) == 1 and not _mentions_scale(tokens[0][0]):
            token, token_bound = tokens[0]
            if name == "font-size":
                edit = self._scale_size(token, token_bound, root)
            elif name in _HEIGHTS:
                # Only a fixed length: a height in vh or % is the window's or the parent's.
                fixed = token.type == "dimension" and token.lower_unit in _ABSOLUTE_UNITS
                if fixed and token.value != 0:  # nothing to grow in a box of no height
                    edit = self._wrap(token, token_bound)
            elif _is_absolute(token, relative_too=False):
                edit = self._wrap(token, token_bound)
        if edit is not None:
            self.edits.append(edit)
        if not self.overrides:
            return None
        value = self._value_text(tokens, edit)
        return None if value is None else _Sized(((name, value),), important)

    def paint(self, declaration: _Node) -> _Sized | None:
        """Say beside a background whether it paints the box: the colour themes give painted
        boxes their background colour and keep the others transparent (see
        proxy.rewriting.paint)."""
        if any(_mentions_scale(token) for token in declaration.value):
            return None
        value = f"var({_THEME_BACKGROUND})" if paints(declaration.value) else "transparent"
        priority = "!important" if declaration.important else ""
        start = self.source.offset(declaration)
        self.edits.append(_Edit(start, start, f"{PAINT_VAR}:{value}{priority};"))
        if not self.overrides:
            return None
        return _Sized(((PAINT_VAR, value),), declaration.important)

    def placed(self, declaration: _Node, bound: int) -> _Sized | None:
        if declaration.lower_name == "width":
            return self._column(declaration, bound)
        return self._pin(declaration, bound)

    def as_written(self, declaration: _Node, bound: int) -> _Sized | None:
        """A declaration for the companion as the page wrote it."""
        if not self.overrides:
            return None
        tokens = self._significant_with_bounds(declaration.value, bound)
        text = self._value_text(tokens, None) if tokens else None
        if text is None:
            return None
        return _Sized(((declaration.lower_name, text),), declaration.important)

    def _column(self, declaration: _Node, bound: int) -> _Sized | None:
        """A width in %, the mark of a column side by side with others: the reading modes
        let it go on small screens (--a11y-flow-width: auto), where columns go under
        each other. Fixed widths stay: the window's width bounds them there anyway."""
        tokens = self._significant_with_bounds(declaration.value, bound)
        if len(tokens) != 1 or tokens[0][0].type != "percentage":
            return None
        token, token_bound = tokens[0]
        end = self.source.end(token, token_bound)
        if end is None:
            return None
        value = self.source.text[self.source.offset(token) : end]
        edit = self._replace(token, token_bound, f"var({FLOW_WIDTH_VAR}, {value})", end)
        if edit is None:
            return None
        self.edits.append(edit)
        if not self.overrides:
            return None
        text = self._value_text(tokens, edit)
        return None if text is None else _Sized((("width", text),), declaration.important)

    def _pin(self, declaration: _Node, bound: int) -> _Sized | None:
        """In a rule that pins its box to the window: ``position`` follows the mode (the
        reading modes let such a box flow with the page on small screens), and ``top`` makes
        room for the toolbar while the toolbar is on screen."""
        tokens = self._significant_with_bounds(declaration.value, bound)
        if len(tokens) != 1 or _mentions_scale(tokens[0][0]):
            return None
        token, token_bound = tokens[0]
        if declaration.lower_name == "position":
            if token.type != "ident" or token.lower_value not in _PINNED:
                return None  # another position in the same rule (-webkit-sticky, say)
            keyword: str = token.lower_value
            edit = self._replace(token, token_bound, f"var({_PINNED[keyword]}, {keyword})")
        elif token.type == "number" and token.value == 0:  # calc() wants a length
            edit = self._replace(token, token_bound, f"var({SHIFT_VAR}, 0px)")
        elif token.type in ("dimension", "percentage") or token.type == "function":
            end = self.source.end(token, token_bound)
            if end is None:
                return None
            start = self.source.offset(token)
            value = self.source.text[start:end]
            edit = self._replace(token, token_bound, f"calc({value} + var({SHIFT_VAR}, 0px))", end)
        else:
            return None  # auto, a keyword of its own
        if edit is None:
            return None
        self.edits.append(edit)
        if not self.overrides:
            return None
        text = self._value_text(tokens, edit)
        if text is None:
            return None
        return _Sized(((declaration.lower_name, text),), declaration.important)

    def _font_shorthand(
        self, tokens: list[tuple[_Node, int]], root: bool, important: bool
    ) -> _Sized | None:
        first = tokens[0][0]
        if len(tokens) == 1 and first.type == "ident" and first.lower_value in _CSS_WIDE_KEYWORDS:
            keyword: str = first.lower_value
            return _Sized((("font-size", keyword), ("line-height", keyword)), important)
        index = 0
        while index < len(tokens) and _is_font_prefix(tokens[index][0]):
            index += 1
        if index >= len(tokens) or not _is_size(tokens[index][0]):
            return None  # a system font, a var() to substitute first, or invalid
        size = tokens[index : index + 1]
        line_height: list[tuple[_Node, int]] = []
        rest = index + 1
        if rest < len(tokens) and _is_literal(tokens[rest][0], "/"):
            line_height = tokens[rest + 1 : rest + 2]
            rest += 2
        if (not line_height and rest != index + 1) or rest >= len(tokens):
            return None  # "/" without a line height, or no family: the browser drops it
        size_edit: _Edit | None = None
        line_height_edit: _Edit | None = None
        if not any(_mentions_scale(token) for token, _ in tokens):
            size_edit = self._scale_size(*size[0], root)
            if line_height and _is_absolute(line_height[0][0], relative_too=False):
                line_height_edit = self._wrap(*line_height[0])
        self.edits.extend(edit for edit in (size_edit, line_height_edit) if edit is not None)
        if not self.overrides:
            return None
        size_text = self._value_text(size, size_edit)
        line_height_text = self._value_text(line_height, line_height_edit) if line_height else None
        if size_text is None or (line_height and line_height_text is None):
            return None
        return _Sized(
            (("font-size", size_text), ("line-height", line_height_text or "normal")), important
        )

    def _scale_size(self, token: _Node, bound: int, root: bool) -> _Edit | None:
        if token.type == "ident":
            px = _SIZE_KEYWORDS_PX.get(token.lower_value)
            if px is None:
                return None
            return self._replace(token, bound, _fitted(f"{px}px", grows=True))
        if _is_absolute(token, relative_too=root):
            return self._fit(token, bound, grows=True)
        if _is_relative_size(token):
            return self._fit(token, bound, grows=False)
        return None

    def _fit(self, token: _Node, bound: int, *, grows: bool) -> _Edit | None:
        end = self.source.end(token, bound)
        if end is None:
            return None
        start = self.source.offset(token)
        return self._replace(token, bound, _fitted(self.source.text[start:end], grows=grows), end)

    def _wrap(self, token: _Node, bound: int) -> _Edit | None:
        end = self.source.end(token, bound)
        if end is None:
            return None
        start = self.source.offset(token)
        return self._replace(token, bound, f"calc({self.source.text[start:end]}{_FACTOR}", end)

    def _replace(self, token: _Node, bound: int, text: str, end: int | None = None) -> _Edit | None:
        if end is None:
            end = self.source.end(token, bound)
            if end is None:
                return None
        start = self.source.offset(token)
        if start > 0 and self.source.text[start - 1] not in _SEPARATORS:
            text = " " + text  # "bold.5px" must not become the ident "boldcalc("
        return _Edit(start, end, text)

    def _value_text(self, tokens: list[tuple[_Node, int]], edit: _Edit | None) -> str | None:
        """The value as written from its first to its last token, with the edit in it."""
        last, last_bound = tokens[-1]
        end = self.source.end(last, last_bound)
        if end is None:
            return None
        start = self.source.offset(tokens[0][0])
        return self.source.apply(() if edit is None else (edit,), start, end).strip()

    def _significant_with_bounds(
        self, tokens: Sequence[_Node], bound: int
    ) -> list[tuple[_Node, int]]:
        """Non-blank tokens, each with where the following token starts."""
        result: list[tuple[_Node, int]] = []
        pending: _Node | None = None
        for token in tokens:
            if pending is not None:
                result.append((pending, self.source.offset(token)))
                pending = None
            if token.type not in _BLANK:
                pending = token
        if pending is not None:
            result.append((pending, bound))
        return result


def _significant(tokens: Iterable[_Node]) -> list[_Node]:
    return [token for token in tokens if token.type not in _BLANK]


def _is_root_selector(prelude: Sequence[_Node]) -> bool:
    """Whether a selector list holds only ``html`` and ``:root``."""
    groups: list[list[_Node]] = [[]]
    for token in _significant(prelude):
        if _is_literal(token, ","):
            groups.append([])
        else:
            groups[-1].append(token)
    return all(_is_root_compound(group) for group in groups)


def _is_root_compound(tokens: list[_Node]) -> bool:
    if len(tokens) == 1:
        return bool(tokens[0].type == "ident" and tokens[0].lower_value == "html")
    return (
        len(tokens) == 2
        and _is_literal(tokens[0], ":")
        and tokens[1].type == "ident"
        and tokens[1].lower_value == "root"
    )


#: Beside every background: whether it paints the box, as the colour to paint it in a theme.
PAINT_VAR: Final = "--a11y-paint"
_THEME_BACKGROUND: Final = "--a11y-bg"
_BACKGROUNDS: Final = frozenset({"background", "background-color"})
# Declarations that place a box, rewritten in some rules (see ``_Scan.block``).
_PLACED: Final = frozenset({"position", "top", "width"})
#: What a column's width in % becomes (see ``_Declarations._column``).
FLOW_WIDTH_VAR: Final = "--a11y-flow-width"
#: What ``position: fixed`` and ``sticky`` become: the reading modes set these on small
#: screens, where a box pinned to the window would cover much of it.
_PINNED: Final = {"fixed": "--a11y-fixed", "sticky": "--a11y-sticky"}
#: How far the toolbar still reaches into the window: boxes pinned to the top move down by it.
SHIFT_VAR: Final = "--a11y-shift"


def _position(items: Sequence[_Node]) -> str:
    """The ``position`` a rule's declarations give its box ("" when they give none): the last
    one, or the last ``!important`` one if any is."""
    position, important = "", False
    for item in items:
        if item.type == "declaration" and item.lower_name == "position":
            if important and not item.important:
                continue
            values = _significant(item.value)
            single = len(values) == 1 and values[0].type == "ident"
            position = values[0].lower_value if single else "other"
            important = important or bool(item.important)
    return position


def _fitted(size: str, *, grows: bool) -> str:
    """A font size as the reading modes set it: ``grows`` (an absolute size) multiplied by the
    scale, else (a relative one) following a scaled parent or root already; in both cases no
    larger than the room the element's longest word has, and never smaller than the size the
    site gave. Without a mode the scale is 1 and the room unset: ``size`` itself."""
    if grows:
        return f"min(calc({size}{_FACTOR}, max({size}, {_ROOM}))"
    return f"min({size}, max(calc({size} / var({SCALE_VAR}, 1)), {_ROOM}))"


def _is_relative_size(token: _Node) -> bool:
    """A size relative to the parent's or the root's (``1.5em``, ``2rem``, ``120%``), but not
    the parent's own size (``1em``, ``100%``), which a capped parent passes on already."""
    if token.type == "percentage":
        return bool(token.value != 100)
    if token.type == "dimension" and token.lower_unit in _FONT_RELATIVE_UNITS:
        return not (token.lower_unit == "em" and token.value == 1)
    if token.type == "function":
        return token.lower_name in _MATH_FUNCTIONS and _holds_length(token.arguments, True)
    return False


def _is_literal(token: _Node, char: str) -> bool:
    return bool(token.type == "literal" and token.value == char)


def _is_absolute(token: _Node, *, relative_too: bool) -> bool:
    """Whether a value token is a length that does not follow the text size."""
    if token.type == "function":
        return token.lower_name in _MATH_FUNCTIONS and _holds_length(token.arguments, relative_too)
    return _is_length(token, relative_too)


def _is_length(token: _Node, relative_too: bool) -> bool:
    if token.type == "dimension":
        unit: str = token.lower_unit
        return (
            unit in _ABSOLUTE_UNITS
            or unit in _VIEWPORT_UNITS
            or (relative_too and unit in _FONT_RELATIVE_UNITS)
        )
    return relative_too and token.type == "percentage"


def _holds_length(tokens: Iterable[_Node], relative_too: bool) -> bool:
    for token in tokens:
        if _is_length(token, relative_too):
            return True
        inner = _children(token)
        if inner and _holds_length(inner, relative_too):
            return True
    return False


def _mentions_scale(token: _Node) -> bool:
    """Whether a value is the proxy's already (it names one of its custom properties)."""
    if token.type == "ident":
        return bool(token.value.startswith("--a11y-"))
    return any(_mentions_scale(child) for child in _children(token))


def _children(token: _Node) -> list[_Node]:
    if token.type == "function":
        arguments: list[_Node] = token.arguments
        return arguments
    if token.type in ("() block", "[] block", "{} block"):
        content: list[_Node] = token.content
        return content
    return []


def _is_font_prefix(token: _Node) -> bool:
    """Style, variant, weight or stretch: what may precede the size in ``font``."""
    if token.type == "ident":
        return token.lower_value in _FONT_PREFIX_KEYWORDS
    if token.type == "number":
        return bool(token.value != 0)  # a weight; a bare 0 is the size
    return token.type == "dimension" and token.lower_unit in _ANGLE_UNITS


def _is_size(token: _Node) -> bool:
    if token.type == "ident":
        return token.lower_value in _SIZE_KEYWORDS_PX or token.lower_value in (
            _RELATIVE_SIZE_KEYWORDS
        )
    if token.type in ("dimension", "percentage"):
        return True
    if token.type == "number":
        return bool(token.value == 0)
    return token.type == "function" and token.lower_name in _MATH_FUNCTIONS
