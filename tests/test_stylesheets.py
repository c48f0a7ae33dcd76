"""The mode stylesheets: contrast, focus, isolation and reflow rules.

The static tests parse the sheets, alone and as the proxy composes them per mode,
with tinycss2 and read every colour from the parsed CSS: the colour pairs below
are named by custom property, their values come from the sheets' :root rules,
and rules that set a colour and a background together are checked as they are.
The browser tests put the composed sheet and the real toolbar on a page whose
own CSS is hostile, and measure what Chromium computes.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import tinycss2
import tinycss2.color4

from proxy.rewriting.assets import Stylesheets, stylesheets_dir
from proxy.rewriting.modes import ALL_MODES, DEFAULT, Mode, Theme
from proxy.rewriting.toolbar import toolbar
from tests.apca import lightness_contrast
from tests.wcag import contrast_ratio, parse_color

TOOLBAR = "toolbar.css"
READABLE = "readable.css"
PROXY_PAGE = "proxy-page.css"
#: The colour schemes: a palette each, and one rule set they share.
PALETTES = {Theme.BLUE: "palette-blue.css", Theme.BW: "palette-bw.css"}
SCHEME_RULES = "theme.css"
ALL_SHEETS = (TOOLBAR, *PALETTES.values(), SCHEME_RULES, READABLE, PROXY_PAGE)
# Sheets with rules for focus of their own (a palette has colours only).
FOCUS_SHEETS = (TOOLBAR, SCHEME_RULES, READABLE, PROXY_PAGE)
# Sheets that go into pages we do not control, and so must fight their CSS.
INJECTED_SHEETS = (TOOLBAR, *PALETTES.values(), SCHEME_RULES, READABLE)

# Theme and readable rules keep out of our toolbar with this guard; its ID also
# gives them the specificity to beat class-level !important page rules.
GUARD = ":not(#a11y-proxy-toolbar, #a11y-proxy-toolbar *)"
#: b/w's one layer over the window that greys what lies under it.
GREY_LAYER = "#a11y-proxy-toolbar::after"
TOOLBAR_ID = "#a11y-proxy-toolbar"
CONTROL = "#a11y-proxy-toolbar .a11y-toolbar__control"

TEXT_CONTRAST = 7.0  # WCAG 1.4.6, AAA
NON_TEXT_CONTRAST = 3.0  # WCAG 1.4.11 and 2.4.13
MIN_FOCUS_OUTLINE_PX = 3.0
MIN_FOCUS_OFFSET_PX = 2.0
MIN_TARGET_PX = 44.0  # WCAG 2.5.5, AAA (2.5.8 asks for 24)
MIN_LINE_HEIGHT = 1.5
MAX_MEASURE_CH = 80.0

# (foreground property, background property): text must reach 7:1 on it.
TOOLBAR_TEXT_PAIRS = [
    ("--a11y-tb-fg", "--a11y-tb-bg"),
    ("--a11y-tb-current-fg", "--a11y-tb-current-bg"),
    ("--a11y-tb-focus-fg", "--a11y-tb-focus-bg"),
]
THEME_TEXT_PAIRS = [
    ("--a11y-fg", "--a11y-bg"),
    ("--a11y-link", "--a11y-bg"),
    ("--a11y-visited", "--a11y-bg"),
    ("--a11y-fg", "--a11y-accent-bg"),
    ("--a11y-link", "--a11y-accent-bg"),
    ("--a11y-visited", "--a11y-accent-bg"),
    ("--a11y-fg", "--a11y-field-bg"),
    ("--a11y-placeholder", "--a11y-field-bg"),
    ("--a11y-fg", "--a11y-mark-bg"),
    ("--a11y-link", "--a11y-mark-bg"),
    ("--a11y-visited", "--a11y-mark-bg"),
    ("--a11y-focus-fg", "--a11y-focus-bg"),
    ("--a11y-selection-fg", "--a11y-selection-bg"),
]
# Shapes and indicators next to each other: 3:1.
TOOLBAR_NON_TEXT_PAIRS = [
    ("--a11y-tb-border", "--a11y-tb-bg"),
    ("--a11y-tb-current-bg", "--a11y-tb-bg"),
    ("--a11y-tb-focus", "--a11y-tb-bg"),
    ("--a11y-tb-focus", "--a11y-tb-focus-ring"),
    ("--a11y-tb-focus-ring", "--a11y-tb-focus-bg"),
]
THEME_NON_TEXT_PAIRS = [
    ("--a11y-border", "--a11y-bg"),
    ("--a11y-border", "--a11y-field-bg"),
    ("--a11y-border", "--a11y-accent-bg"),
    ("--a11y-focus", "--a11y-bg"),
    ("--a11y-focus", "--a11y-focus-ring"),
]


# --- parsing -----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One style rule: where it comes from, its selectors, its declarations."""

    sheet: str
    selectors: tuple[str, ...]
    declarations: tuple[Any, ...]

    def get(self, name: str) -> Any | None:
        """The last declaration of `name`, as the cascade would keep it."""
        found = [decl for decl in self.declarations if decl.lower_name == name]
        return found[-1] if found else None

    def has_selector(self, predicate: str) -> bool:
        return any(predicate in selector for selector in self.selectors)


def _split_selectors(prelude: list[Any]) -> tuple[str, ...]:
    # Commas inside :not(...) are nested in a function token, so a top-level
    # comma always separates two selectors.
    groups: list[list[Any]] = [[]]
    for token in prelude:
        if token.type == "literal" and token.value == ",":
            groups.append([])
        else:
            groups[-1].append(token)
    return tuple(" ".join(tinycss2.serialize(group).split()) for group in groups)


def _parse_rules(sheet: str, nodes: list[Any]) -> Iterator[Rule]:
    for node in nodes:
        if node.type == "error":
            raise AssertionError(f"{sheet}: {node.message}")
        if node.type == "at-rule":
            # Registered custom properties and the toolbar's scroll animation hold no rules.
            if node.lower_at_keyword in ("property", "keyframes"):
                continue
            assert node.lower_at_keyword == "media", f"{sheet}: unexpected @{node.at_keyword}"
            inner = tinycss2.parse_rule_list(node.content, skip_comments=True, skip_whitespace=True)
            yield from _parse_rules(sheet, inner)
            continue
        declarations = tinycss2.parse_declaration_list(
            node.content, skip_comments=True, skip_whitespace=True
        )
        for decl in declarations:
            if decl.type == "error":
                raise AssertionError(f"{sheet}: {decl.message}")
        yield Rule(sheet, _split_selectors(node.prelude), tuple(declarations))


def parse_css(sheet: str, css: str) -> list[Rule]:
    nodes = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return list(_parse_rules(sheet, nodes))


def load(name: str) -> list[Rule]:
    return parse_css(name, (stylesheets_dir() / name).read_text(encoding="utf-8"))


@functools.cache
def _stylesheets() -> Stylesheets:
    return Stylesheets.load()


def compose(mode: Mode) -> str:
    """The stylesheet the proxy serves for a mode, from the proxy's own composer."""
    return _stylesheets().by_token[mode.token].decode()


def composed_rules(mode: Mode) -> list[Rule]:
    return parse_css(f"mode {mode.token}", compose(mode))


#: Custom properties on :root that are not colours: lengths and keywords of the layout.
LAYOUT_PROPERTIES = frozenset(
    {"--a11y-toolbar-height", "--a11y-fixed", "--a11y-sticky", "--a11y-shift"}
)


def palette(rules: list[Rule]) -> dict[str, str]:
    """Colour custom properties declared on :root, later declarations winning."""
    values: dict[str, str] = {}
    for rule in rules:
        if rule.selectors != (":root",):
            continue
        for decl in rule.declarations:
            if decl.name.startswith("--") and decl.name not in LAYOUT_PROPERTIES:
                values[decl.name] = tinycss2.serialize(decl.value).strip()
    return values


def style_rules(rules: list[Rule]) -> list[Rule]:
    return [rule for rule in rules if rule.selectors != (":root",)]


def _tokens(decl: Any) -> list[Any]:
    return [token for token in decl.value if token.type not in ("whitespace", "comment")]


def _var_parts(function: Any) -> tuple[str, list[Any] | None]:
    arguments = [token for token in function.arguments if token.type != "comment"]
    name = next(token for token in arguments if token.type != "whitespace").value
    commas = [
        i for i, token in enumerate(arguments) if token.type == "literal" and token.value == ","
    ]
    if not commas:
        return name, None
    return name, arguments[commas[0] + 1 :]


def var_references(tokens: list[Any]) -> Iterator[tuple[str, bool]]:
    """(custom property, has a fallback) for every var() in a token list, nested too."""
    for token in tokens:
        if token.type != "function":
            continue
        if token.lower_name == "var":
            name, fallback = _var_parts(token)
            yield name, fallback is not None
            if fallback:
                yield from var_references(fallback)
        else:
            yield from var_references(token.arguments)


def resolve_color(tokens: list[Any], values: dict[str, str]) -> str | None:
    """The first concrete colour in a value; None for inherit, currentcolor, transparent."""
    for token in tokens:
        if token.type == "function" and token.lower_name == "var":
            name, fallback = _var_parts(token)
            if name in values:
                return values[name]
            assert fallback is not None, f"var({name}) is used but never declared"
            return resolve_color([t for t in fallback if t.type != "whitespace"], values)
        if token.type in ("hash", "function", "ident"):
            color = tinycss2.color4.parse_color(tinycss2.serialize([token]))
            if color is not None and not isinstance(color, str) and color.alpha == 1:
                return str(tinycss2.serialize([token]))
    return None


def length_px(tokens: list[Any]) -> float | None:
    for token in tokens:
        if token.type == "dimension" and token.lower_unit == "px":
            return float(token.value)
        if token.type == "number" and token.value == 0:
            return 0.0
    return None


def idents(decl: Any) -> set[str]:
    return {token.lower_value for token in _tokens(decl) if token.type == "ident"}


def declared_color(rule: Rule, names: tuple[str, ...], values: dict[str, str]) -> str | None:
    for name in names:
        decl = rule.get(name)
        if decl is not None:
            return resolve_color(_tokens(decl), values)
    return None


# --- the palettes ------------------------------------------------------------


def _pair_cases() -> Iterator[Any]:
    for theme in Theme:
        name = theme.value
        for fg, bg in TOOLBAR_TEXT_PAIRS:
            yield pytest.param(theme, fg, bg, TEXT_CONTRAST, id=f"{name}:{fg}/{bg}")
        for fg, bg in TOOLBAR_NON_TEXT_PAIRS:
            yield pytest.param(theme, fg, bg, NON_TEXT_CONTRAST, id=f"{name}:{fg}/{bg}")
        if theme is Theme.DEFAULT:
            continue
        for fg, bg in THEME_TEXT_PAIRS:
            yield pytest.param(theme, fg, bg, TEXT_CONTRAST, id=f"{name}:{fg}/{bg}")
        for fg, bg in THEME_NON_TEXT_PAIRS:
            yield pytest.param(theme, fg, bg, NON_TEXT_CONTRAST, id=f"{name}:{fg}/{bg}")


@pytest.mark.parametrize(("theme", "fg", "bg", "minimum"), list(_pair_cases()))
def test_palette_pair_contrast(theme: Theme, fg: str, bg: str, minimum: float) -> None:
    values = palette(composed_rules(Mode(theme)))
    assert fg in values, f"{fg} is not declared"
    assert bg in values, f"{bg} is not declared"
    ratio = contrast_ratio(values[fg], values[bg])
    assert ratio >= minimum, f"{fg} {values[fg]} on {bg} {values[bg]}: {ratio:.2f}:1"


#: APCA lightness contrast (the WCAG 3 candidate): body text, and any other text.
APCA_BODY = 90.0
APCA_TEXT = 75.0
BODY_TEXT = ("--a11y-fg", "--a11y-bg")


@pytest.mark.parametrize("theme", list(Theme))
def test_every_text_pair_reaches_apca_lc(theme: Theme) -> None:
    values = palette(composed_rules(Mode(theme)))
    pairs = TOOLBAR_TEXT_PAIRS + ([] if theme is Theme.DEFAULT else THEME_TEXT_PAIRS)
    measured = lightness_contrast([(values[fg], values[bg]) for fg, bg in pairs])
    for (fg, bg), lc in zip(pairs, measured, strict=True):
        minimum = APCA_BODY if (fg, bg) == BODY_TEXT else APCA_TEXT
        assert abs(lc) >= minimum, f"{fg} {values[fg]} on {bg} {values[bg]}: Lc {lc:.1f}"


@pytest.mark.parametrize("theme", list(Theme))
def test_every_checked_property_is_used_by_a_rule(theme: Theme) -> None:
    # A pair whose properties no rule uses would check nothing.
    pairs = TOOLBAR_TEXT_PAIRS + TOOLBAR_NON_TEXT_PAIRS
    if theme is not Theme.DEFAULT:
        pairs = pairs + THEME_TEXT_PAIRS + THEME_NON_TEXT_PAIRS
    used = {
        name
        for rule in style_rules(composed_rules(Mode(theme)))
        for decl in rule.declarations
        for name, _ in var_references(_tokens(decl))
    }
    unused = {name for pair in pairs for name in pair} - used
    assert not unused


@pytest.mark.parametrize("name", [TOOLBAR, *PALETTES.values()])
def test_palette_is_plain_hex(name: str) -> None:
    values = palette(load(name))
    assert values, f"{name} declares no palette"
    for prop, value in values.items():
        assert value.startswith("#"), f"{prop}: {value}"
        parse_color(value)


@pytest.mark.parametrize("mode", ALL_MODES, ids=lambda mode: mode.token)
def test_every_var_is_declared_or_has_a_fallback(mode: Mode) -> None:
    rules = composed_rules(mode)
    declared = set(palette(rules))
    for rule in rules:
        if rule.selectors == (":root",):
            declared |= {decl.name for decl in rule.declarations if decl.name.startswith("--")}
    for rule in style_rules(rules):
        for decl in rule.declarations:
            for name, has_fallback in var_references(_tokens(decl)):
                assert has_fallback or name in declared, f"{rule.selectors[0]}: var({name})"


def test_proxy_page_vars_all_have_fallbacks() -> None:
    # The error pages may be served without any mode sheet beside them.
    for rule in load(PROXY_PAGE):
        for decl in rule.declarations:
            for name, has_fallback in var_references(_tokens(decl)):
                assert has_fallback, f"{rule.selectors[0]}: var({name}) needs a fallback"


# --- colours as the rules use them -------------------------------------------


def _proxy_page_contexts() -> Iterator[Any]:
    yield pytest.param(load(PROXY_PAGE), id="proxy-page")
    for theme in PALETTES:
        # The error page's colours follow a theme palette when one is present.
        rules = composed_rules(Mode(theme)) + load(PROXY_PAGE)
        yield pytest.param(rules, id=f"proxy-page-{theme.value}")


def _contexts() -> Iterator[Any]:
    # Every theme, and an enlarged default mode: readable.css without any palette.
    for mode in (*(Mode(theme) for theme in Theme), Mode(scale=150)):
        yield pytest.param(composed_rules(mode), id=mode.token)
    yield from _proxy_page_contexts()


@pytest.mark.parametrize("rules", list(_contexts()))
def test_rules_setting_text_and_background_reach_aaa(rules: list[Rule]) -> None:
    values = palette(rules)
    checked = 0
    for rule in style_rules(rules):
        text = declared_color(rule, ("color",), values)
        ground = declared_color(rule, ("background-color", "background"), values)
        if text is None or ground is None:
            continue
        checked += 1
        ratio = contrast_ratio(text, ground)
        assert ratio >= TEXT_CONTRAST, f"{rule.selectors[0]}: {text} on {ground}, {ratio:.2f}:1"
    assert checked, "no rule sets both a text and a background colour"


@pytest.mark.parametrize("rules", list(_contexts()))
def test_borders_stand_out_from_their_box(rules: list[Rule]) -> None:
    values = palette(rules)
    for rule in style_rules(rules):
        border = declared_color(rule, ("border-color", "border"), values)
        ground = declared_color(rule, ("background-color", "background"), values)
        # A border painted in the box's own colour is no border: the box edge then
        # counts, and the palette pairs check that one.
        if border is None or ground is None or parse_color(border) == parse_color(ground):
            continue
        ratio = contrast_ratio(border, ground)
        assert ratio >= NON_TEXT_CONTRAST, f"{rule.selectors[0]}: {border} on {ground}"


@pytest.mark.parametrize("rules", list(_proxy_page_contexts()))
def test_proxy_page_text_reaches_aaa_on_the_page_background(rules: list[Rule]) -> None:
    values = palette(rules)
    root = next(rule for rule in rules if rule.selectors == ("html",))
    page = declared_color(root, ("background-color",), values)
    assert page is not None
    for rule in style_rules(rules):
        if rule.sheet != PROXY_PAGE or rule.has_selector(":focus"):
            continue  # focused links bring their own background, checked above
        text = declared_color(rule, ("color",), values)
        if text is not None:
            ratio = contrast_ratio(text, page)
            assert ratio >= TEXT_CONTRAST, f"{rule.selectors[0]}: {text} on {page}"


# --- focus -------------------------------------------------------------------


# A rule that only moves a focused element (or the toolbar) in the stacking order draws
# no indicator of its own.
STACKING = frozenset({"z-index", "position"})


def _focus_rules(rules: list[Rule]) -> list[Rule]:
    """The rules that draw a focus indicator: on the focused element itself."""
    return [
        rule
        for rule in rules
        if any(selector.endswith((":focus", ":focus-visible")) for selector in rule.selectors)
        and not {decl.lower_name for decl in rule.declarations} <= STACKING
    ]


@pytest.mark.parametrize("name", FOCUS_SHEETS)
def test_sheet_has_focus_and_focus_visible_rules(name: str) -> None:
    rules = _focus_rules(load(name))
    selectors = [selector for rule in rules for selector in rule.selectors]
    assert any(selector.endswith(":focus") for selector in selectors)
    assert any(selector.endswith(":focus-visible") for selector in selectors)


@pytest.mark.parametrize("name", ALL_SHEETS)
def test_every_focus_rule_draws_a_thick_offset_outline(name: str) -> None:
    for rule in _focus_rules(load(name)):
        outline = rule.get("outline")
        assert outline is not None, f"{rule.selectors[0]} sets no outline"
        width = length_px(_tokens(outline))
        assert width is not None, f"{rule.selectors[0]}: outline width must be in px"
        assert width >= MIN_FOCUS_OUTLINE_PX, f"{rule.selectors[0]}: {width}px"
        assert "solid" in idents(outline), f"{rule.selectors[0]}: outline must be solid"
        offset = rule.get("outline-offset")
        assert offset is not None, f"{rule.selectors[0]} sets no outline-offset"
        assert (length_px(_tokens(offset)) or 0) >= MIN_FOCUS_OFFSET_PX


@pytest.mark.parametrize("rules", list(_contexts()))
def test_focus_outline_is_framed_by_a_contrasting_ring(rules: list[Rule]) -> None:
    values = palette(rules)
    for rule in _focus_rules(rules):
        outline = declared_color(rule, ("outline",), values)
        ring = declared_color(rule, ("box-shadow",), values)
        assert outline is not None, f"{rule.selectors[0]}: no outline colour"
        assert ring is not None, f"{rule.selectors[0]}: no box-shadow ring"
        ratio = contrast_ratio(outline, ring)
        assert ratio >= NON_TEXT_CONTRAST, f"{rule.selectors[0]}: {outline} / {ring}"


@pytest.mark.parametrize("name", ALL_SHEETS)
def test_no_rule_removes_outlines(name: str) -> None:
    for rule in load(name):
        for decl in rule.declarations:
            if decl.lower_name not in ("outline", "outline-width", "outline-style"):
                continue
            assert "none" not in idents(decl), f"{rule.selectors[0]}: {decl.name}: none"
            assert length_px(_tokens(decl)) != 0, f"{rule.selectors[0]}: {decl.name}: 0"


def test_focused_element_and_the_boxes_around_it_come_forward() -> None:
    # A later flex item or positioned box with an opaque background would paint over the
    # ring, which reaches beyond the element.
    rules = [rule for rule in load(READABLE) if rule.get("z-index") is not None]
    selectors = {selector for rule in rules for selector in rule.selectors}
    assert f"{GUARD}:focus" in selectors and f"{GUARD}:has(:focus)" in selectors
    for rule in rules:
        assert int(_tokens(rule.get("z-index"))[0].value) >= 2**31 - 1


def test_the_toolbar_is_in_the_flow_under_what_the_page_places_on_top() -> None:
    # What the page places against the top of the page (a skip link, a language link) shows
    # over the toolbar, not beneath it, unseen (WCAG 2.4.11); its height is known, so boxes
    # the page pins to the window make room for it.
    bar = next(rule for rule in load(TOOLBAR) if rule.selectors == (TOOLBAR_ID,))
    assert idents(bar.get("position")) == {"relative"}
    assert idents(bar.get("z-index")) == {"auto"}
    height = bar.get("height")
    assert height is not None and "--a11y-toolbar-height" in tinycss2.serialize(height.value)
    # ...and while focus is on the page, it steps out of the page's positioned layers, so an
    # element pulled up over the top of the page shows over it once focused.
    rule = next(rule for rule in load(TOOLBAR) if rule.has_selector(":has(~ :focus"))
    assert rule.has_selector(":has(~ :focus, ~ * :focus)")
    assert idents(rule.get("position")) == {"static"}


def test_links_inside_a_focused_control_take_its_text_colour() -> None:
    rules = [rule for rule in load(SCHEME_RULES) if rule.has_selector(":focus a[href]")]
    selectors = {selector for rule in rules for selector in rule.selectors}
    for control in ("button", "summary"):
        assert f"{control}{GUARD}:focus a[href]" in selectors, control
    for rule in rules:
        assert {name for name, _ in var_references(_tokens(rule.get("color")))} == {
            "--a11y-focus-fg"
        }


# --- isolation from the page ---------------------------------------------------


def _zero_specificity(selector: str) -> bool:
    """Whether a selector is made of :where() groups alone."""
    tokens = [
        token
        for token in tinycss2.parse_component_value_list(selector)
        if token.type != "whitespace"
    ]
    pairs = list(zip(tokens[::2], tokens[1::2], strict=False))
    return (
        bool(tokens)
        and len(tokens) % 2 == 0
        and all(
            colon.type == "literal"
            and colon.value == ":"
            and function.type == "function"
            and function.lower_name == "where"
            for colon, function in pairs
        )
    )


@pytest.mark.parametrize("name", INJECTED_SHEETS)
def test_injected_declarations_are_important(name: str) -> None:
    # Save defaults that stand in for the browser's own and must lose to any page rule:
    # those have zero specificity and no !important.
    for rule in load(name):
        defaults = all(_zero_specificity(selector) for selector in rule.selectors)
        for decl in rule.declarations:
            if decl.name.startswith("--"):
                continue
            if defaults:
                assert not decl.important, f"{name} {rule.selectors[0]}: {decl.name}"
            else:
                assert decl.important, f"{name} {rule.selectors[0]}: {decl.name} lacks !important"


def test_toolbar_rules_all_start_at_the_toolbar() -> None:
    # Besides the toolbar: the link back to it, and the room the page makes for it.
    ours = (TOOLBAR_ID, "#a11y-proxy-return")
    for name in (TOOLBAR, "toolbar-compact.css"):
        for rule in style_rules(load(name)):
            for selector in rule.selectors:
                assert selector.startswith(ours) or selector in (":root", "body"), selector


def test_toolbar_reverts_page_styles_first() -> None:
    first = style_rules(load(TOOLBAR))[0]
    assert {TOOLBAR_ID, f"{TOOLBAR_ID} *"} <= set(first.selectors)
    reset = first.get("all")
    assert reset is not None
    assert idents(reset) == {"revert"}


@pytest.mark.parametrize("name", [*PALETTES.values(), SCHEME_RULES, READABLE])
def test_page_rules_keep_out_of_the_toolbar(name: str) -> None:
    for rule in style_rules(load(name)):
        for selector in rule.selectors:
            if selector == GREY_LAYER:
                continue  # the toolbar's own layer (see test_bw_greys_out_pictures)
            assert GUARD in selector, f"{name}: {selector} lacks the toolbar guard"


def test_schemes_are_one_rule_set_and_a_palette_each() -> None:
    # The rules write no colour of their own: every one comes from the palette.
    for rule in load(SCHEME_RULES):
        for decl in rule.declarations:
            colours = [token for token in _tokens(decl) if token.type == "hash"]
            assert not colours, f"{rule.selectors[0]}: {decl.name} writes a colour"
    # A palette is its custom properties (and b/w's grey layer), the same names in each.
    names = []
    for theme, name in PALETTES.items():
        rules = load(name)
        extra = [rule.selectors for rule in style_rules(rules)]
        assert extra == ([(GREY_LAYER,)] if theme is Theme.BW else [])
        names.append(set(palette(rules)))
    assert names[0] == names[1]


def test_bw_greys_out_pictures() -> None:
    # One layer over the whole window greys what lies under it, and lets clicks through. A
    # filter on each picture would paint it above the text beside it where the two overlap.
    (layer,) = [rule for rule in load(PALETTES[Theme.BW]) if rule.selectors == (GREY_LAYER,)]
    backdrop, inset = layer.get("backdrop-filter"), layer.get("inset")
    assert backdrop is not None and "grayscale(1)" in tinycss2.serialize(backdrop.value)
    assert idents(layer.get("position")) == {"fixed"}
    assert inset is not None and tinycss2.serialize(inset.value).strip() == "0"
    assert idents(layer.get("pointer-events")) == {"none"}
    # No element of the page gets a filter of its own.
    assert all(rule.get("filter") is None for rule in composed_rules(Mode(Theme.BW)))


def test_blue_keeps_pictures_in_colour() -> None:
    rules = composed_rules(Mode(Theme.BLUE))
    assert all(rule.get("filter") is None and rule.get("backdrop-filter") is None for rule in rules)


def test_theme_links_are_underlined() -> None:
    rules = load(SCHEME_RULES)
    link_rules = [rule for rule in rules if rule.has_selector(":link")]
    assert link_rules
    for rule in link_rules:
        decoration = rule.get("text-decoration")
        assert decoration is not None and "underline" in idents(decoration)
    for rule in rules:
        for decl in rule.declarations:
            if decl.lower_name.startswith("text-decoration"):
                assert "none" not in idents(decl), f"{rule.selectors[0]}: {decl.name}: none"


def test_theme_recolours_what_a_reader_sees() -> None:
    selectors = " ".join(selector for rule in load(SCHEME_RULES) for selector in rule.selectors)
    for target in (
        ":link",
        ":visited",
        ":hover",
        ":active",
        ":focus",
        "::placeholder",
        "::selection",
        "::marker",
        "::before",
        "::after",
        "th:",
        "input:",
        "select:",
        "textarea:",
        "button:",
        "hr:",
        "mark:",
        "code:",
        "pre:",
    ):
        assert target in selectors, f"{SCHEME_RULES} has no rule for {target}"


# --- the toolbar -------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_SHEETS)
def test_nothing_leaves_the_normal_flow(name: str) -> None:
    # Only the proxy's own layers are placed: the toolbar in its band above the page, its
    # panel while held open, b/w's grey layer. Nothing of the page is taken out of the flow.
    ours = {f"{TOOLBAR_ID} .a11y-toolbar__panel", GREY_LAYER}
    for rule in load(name):
        decl = rule.get("position")
        if decl is not None and idents(decl) & {"fixed", "sticky", "absolute"}:
            assert set(rule.selectors) <= ours | {
                f"{TOOLBAR_ID} .a11y-toolbar__list > li > a > .a11y-toolbar__label",
                f"{TOOLBAR_ID} .a11y-toolbar__control--more > .a11y-toolbar__label",
            }, rule.selectors[0]


def test_toolbar_font_sizes_follow_the_scale_in_px() -> None:
    sizes = 0
    for rule in load(TOOLBAR):
        for decl in rule.declarations:
            text = tinycss2.serialize(decl.value)
            # The page may set html to 62.5%: rem and em would follow it.
            if decl.lower_name in ("font-size", "min-height", "min-width", "padding"):
                assert "rem" not in text, f"{rule.selectors[0]}: {decl.name}: {text}"
            if decl.lower_name == "font-size":
                sizes += 1
                names = {name for name, _ in var_references(_tokens(decl))}
                assert "--a11y-scale" in names and "px" in text, text
    assert sizes


def test_toolbar_controls_are_large_targets() -> None:
    rule = next(rule for rule in load(TOOLBAR) if rule.selectors == (CONTROL,))
    for name in ("min-height", "min-width"):
        decl = rule.get(name)
        assert decl is not None, name
        assert (length_px(_tokens(decl)) or 0) >= MIN_TARGET_PX, name
    decoration = rule.get("text-decoration")
    assert decoration is not None and "underline" in idents(decoration)


def test_toolbar_keeps_to_one_row_of_a_known_height() -> None:
    # One row, so the page can make room for exactly it; where the full labels would not fit
    # on one row, the short ones do (toolbar-compact.css, composed in a media query per mode).
    rule = next(
        rule for rule in load(TOOLBAR) if rule.selectors == (f"{TOOLBAR_ID} .a11y-toolbar__list",)
    )
    assert idents(rule.get("flex-wrap")) == {"nowrap"}
    compact = load("toolbar-compact.css")
    short = next(
        rule for rule in compact if rule.selectors == (f"{TOOLBAR_ID} .a11y-toolbar__short",)
    )
    assert idents(short.get("display")) == {"inline"}
    heights = [
        length_px(_tokens(rule.get("--a11y-toolbar-height")))
        for rule in [*load(TOOLBAR), *compact]
        if rule.get("--a11y-toolbar-height") is not None
    ]
    assert heights == [52, 48]


def test_current_state_is_more_than_colour() -> None:
    rules = [rule for rule in load(TOOLBAR) if rule.has_selector('[aria-current="true"]')]
    weights = [rule.get("font-weight") for rule in rules if rule.get("font-weight")]
    assert any(float(_tokens(weight)[0].value) >= 700 for weight in weights)
    marks = [rule for rule in rules if rule.has_selector("::before") and rule.get("content")]
    assert marks, "the current control has no mark"


# --- readable text -----------------------------------------------------------


def _by_element(rules: list[Rule], prop: str) -> dict[str, Any]:
    """The declaration of `prop` per leading element name of the selectors."""
    found: dict[str, Any] = {}
    for rule in rules:
        decl = rule.get(prop)
        if decl is None:
            continue
        for selector in rule.selectors:
            element = selector.split(":", 1)[0].split("[", 1)[0]
            if element:
                found[element] = decl
    return found


def test_text_has_generous_line_height() -> None:
    heights = _by_element(load(READABLE), "line-height")
    for element in ("body", "p", "li", "dt", "dd", "blockquote", "td", "th", "h1", "h6"):
        assert element in heights, f"{element} has no line-height"
        token = _tokens(heights[element])[0]
        assert token.type == "number", f"{element}: line-height must be unitless"
        assert token.value >= MIN_LINE_HEIGHT, f"{element}: {token.value}"


def test_running_text_has_a_measure_and_no_justification() -> None:
    rules = load(READABLE)
    widths = _by_element(rules, "max-width")
    aligns = _by_element(rules, "text-align")
    for element in ("p", "li", "dd", "blockquote"):
        token = _tokens(widths[element])[0]
        assert token.type == "dimension" and token.lower_unit == "ch"
        assert token.value <= MAX_MEASURE_CH
        assert idents(aligns[element]) == {"start"}
    for name in ALL_SHEETS:
        for rule in load(name):
            decl = rule.get("text-align")
            assert decl is None or "justify" not in idents(decl), rule.selectors[0]


def test_words_are_never_broken_and_paragraphs_are_spaced() -> None:
    # "Break anywhere" let a table column or a flex item shrink to one letter.
    for name in (READABLE, "reflow.css"):
        for rule in load(name):
            for prop in ("overflow-wrap", "word-break"):
                decl = rule.get(prop)
                assert decl is None or not idents(decl) & {"anywhere", "break-all"}, rule.selectors
    spacing = next(
        rule.get("margin-block-end")
        for rule in load(READABLE)
        if rule.selectors == (f':is(main, article, [role="main"]) p{GUARD}',)
    )
    token = _tokens(spacing)[0]
    assert token.type == "dimension" and token.lower_unit == "em" and token.value >= 1.5


def test_images_shrink_and_keep_their_proportions() -> None:
    rules = load(READABLE)
    assert tinycss2.serialize(_by_element(rules, "max-width")["img"].value).strip() == "100%"
    # The height stays the page's (a picture filling a box of a set height must not grow out
    # of it); the picture shows whole inside the box rather than squeezed.
    assert "img" not in _by_element(rules, "height")
    assert idents(_by_element(rules, "object-fit")["img"]) == {"contain"}


#: Chromium's sizes for <font size=N>: the absolute keywords x-small .. xxx-large at 16px.
FONT_TAG_PX = {"1": 10, "2": 13, "3": 16, "4": 18, "5": 24, "6": 32, "7": 48}


def _scaled_px(decl: Any) -> float:
    """The px length in ``calc(<px> * var(--a11y-scale, 1))``."""
    (calc,) = _tokens(decl)
    assert calc.type == "function" and calc.lower_name == "calc"
    assert {name for name, _ in var_references(calc.arguments)} == {"--a11y-scale"}
    px = length_px([token for token in calc.arguments if token.type != "whitespace"])
    assert px is not None
    return px


def test_sizes_the_browser_sets_by_itself_follow_the_scale() -> None:
    # The scaled root size does not reach form fields (a 13.333px system font) nor
    # <font size> (absolute keywords): readable.css gives them scaled defaults.
    defaults = [rule for rule in load(READABLE) if all(map(_zero_specificity, rule.selectors))]
    fields = next(rule for rule in defaults if "input" in rule.selectors[0])
    for element in ("input", "select", "textarea", "button"):
        assert element in fields.selectors[0]
    assert _scaled_px(fields.get("font-size")) == pytest.approx(13.333)
    found: dict[str, float] = {}
    for rule in defaults:
        for size, px in FONT_TAG_PX.items():
            if f'font[size="{size}"]' in rule.selectors[0]:
                found[size] = _scaled_px(rule.get("font-size"))
                assert found[size] == px, size
    assert set(found) == set(FONT_TAG_PX)


def test_text_boxes_of_a_fixed_height_grow_with_their_text() -> None:
    rules = [rule for rule in load(READABLE) if rule.get("min-height") is not None]
    selectors = {selector.split(":not(", 1)[0] for rule in rules for selector in rule.selectors}
    assert {"header", '[class*="header" i]', '[class*="title" i]'} <= selectors
    for rule in rules:
        assert idents(rule.get("min-height")) == {"max-content"}


def test_every_reading_mode_underlines_links_and_never_justifies() -> None:
    rules = load(READABLE)
    links = next(rule for rule in rules if rule.selectors == (f"a[href]{GUARD}",))
    assert idents(links.get("text-decoration-line")) == {"underline"}
    everything = [rule for rule in rules if rule.selectors == (GUARD,)]
    assert any(
        rule.get("text-justify") is not None and idents(rule.get("text-justify")) == {"none"}
        for rule in everything
    )
    body = next(rule for rule in rules if rule.selectors == (f"body{GUARD}",))
    assert body.get("overflow-wrap") is None  # each page keeps its own


# --- in a browser ------------------------------------------------------------

# Page CSS of the kind found in the wild, aimed at everything we inject.
HOSTILE_CSS = """
html { font-size: 62.5%; }
* { box-sizing: content-box; }
body { margin: 0; color: #aaa; background: #fafafa; font: 1.2rem/1.1 serif; }
nav { position: fixed; top: 0; left: 0; float: right; width: 50px; background: #c00; }
ul { display: grid; margin: 40px; padding: 0; }
li { float: left; list-style: square; font-size: 9px; height: 12px; overflow: hidden; }
a { color: #ccc; text-decoration: none; font-size: 8px; padding: 0; }
a:focus, *:focus { outline: 0 !important; }
.text-white { color: #fff !important; }
.bg-dark { background-color: #222 !important; }
.grad { background: linear-gradient(90deg, red, blue); -webkit-background-clip: text;
        -webkit-text-fill-color: transparent; }
p { text-align: justify; text-shadow: 1px 1px 2px #f00; line-height: 1; height: 1em; }
th { background: #333; color: #eee; }
input { border: 0; background: #eee; color: #bbb; }
input::placeholder { color: #ddd; }
mark { background: #ff0; color: #fa0; }
"""

CONTENT_HTML = """
<header class="bg-dark"><h1 class="text-white">Міністерство прикладів</h1></header>
<main>
  <h2 class="grad">Gradient heading</h2>
  <p id="para">Justified text with <a id="link" href="#a">a link</a>, <mark>marked
    <a href="#b">text</a></mark>, <code>code</code> and a long address
    https://example.gov.ua/a/very/long/path/that/has/to/wrap/somewhere/in/the/middle.html
    and <span class="text-white">white text</span>. Lorem ipsum dolor sit amet.</p>
  <table><tr><th>Head</th></tr><tr><td>Cell</td></tr></table>
  <form><label>Name <input id="field" placeholder="Your name"></label>
    <button type="button">Send</button></form>
  <ul><li>First item</li><li>Second item</li></ul>
  <img alt="" width="900" height="300"
       src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='900' height='300'/%3E">
</main>
"""

BROWSER_MODES = [DEFAULT, Mode(scale=200), Mode(Theme.BLUE, 150), Mode(Theme.BW, 200)]
READING_MODES = [mode for mode in BROWSER_MODES if not mode.is_default]
NARROW = {"width": 320, "height": 800}
#: The toolbar's labels on small screens, whatever the mode.
COMPACT_FONT_PX = 16

# Colours as painted: -webkit-text-fill-color wins over color, and the background
# is the first opaque one on the way up (a translucent one is returned as is and
# fails parsing, since its contrast depends on what lies behind).
PAINTED_JS = """
(el) => {
  const style = getComputedStyle(el);
  let node = el, ground = 'rgb(255, 255, 255)';
  while (node) {
    const bg = getComputedStyle(node).backgroundColor;
    if (bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') { ground = bg; break; }
    node = node.parentElement;
  }
  return [style.webkitTextFillColor || style.color, ground];
}
"""
OUTLINE_JS = """
(el) => {
  const s = getComputedStyle(el);
  return [s.outlineWidth, s.outlineStyle, s.outlineColor, s.boxShadow];
}
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no chromium on this machine")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page_in_mode(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A hostile Ukrainian page with the toolbar and the composed sheet of the param mode."""
    mode: Mode = request.param
    page = browser.new_page(viewport=NARROW)
    page.set_content(
        "<!doctype html><html lang='uk'><head><meta charset='utf-8'>"
        f"<style>{HOSTILE_CSS}</style><style>{compose(mode)}</style></head>"
        f"<body>{toolbar(mode, '/', 'uk', '/_a11y/')}{CONTENT_HTML}</body></html>"
    )
    yield page
    page.close()


def _painted_contrast(page: Any, selector: str) -> float:
    text, ground = page.eval_on_selector(selector, PAINTED_JS)
    return contrast_ratio(text, ground)


def _px(value: str) -> float:
    assert value.endswith("px"), value
    return float(value[:-2])


def _shadow_colour(box_shadow: str) -> str:
    # Chromium serialises a shadow colour first: "rgb(255, 221, 0) 0px 0px 0px 7px".
    return box_shadow[: box_shadow.index(")") + 1]


@pytest.mark.browser
@pytest.mark.parametrize("page_in_mode", BROWSER_MODES, ids=lambda m: m.token, indirect=True)
def test_toolbar_survives_a_hostile_page(page_in_mode: Any) -> None:
    page = page_in_mode
    bar = page.locator("#a11y-proxy-toolbar")
    assert bar.evaluate("el => getComputedStyle(el).position") in ("static", "relative")
    box = bar.bounding_box()
    assert box is not None
    assert (box["x"], box["y"], box["width"]) == (0, 0, NARROW["width"])
    scale = float(
        page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--a11y-scale') || '1'"
        )
    )
    # The three controls of the original strip and the disclosure; the rest is in its panel.
    controls = page.locator(".a11y-toolbar__control:visible")
    assert controls.count() == 4
    for index in range(controls.count()):
        control = controls.nth(index)
        rect = control.bounding_box()
        assert rect is not None
        assert rect["width"] >= MIN_TARGET_PX and rect["height"] >= MIN_TARGET_PX
        assert rect["x"] >= 0 and rect["x"] + rect["width"] <= NARROW["width"]
        # 320 px is a small screen: short labels at a fixed size, not grown with the mode.
        font = _px(control.evaluate("el => getComputedStyle(el).fontSize"))
        assert font == pytest.approx(COMPACT_FONT_PX), scale
        assert "underline" in control.evaluate("el => getComputedStyle(el).textDecorationLine")
    assert _painted_contrast(page, ".a11y-toolbar__control:not([aria-current])") >= TEXT_CONTRAST
    assert _painted_contrast(page, ".a11y-toolbar__control[aria-current]") >= TEXT_CONTRAST


@pytest.mark.browser
@pytest.mark.parametrize("page_in_mode", BROWSER_MODES, ids=lambda m: m.token, indirect=True)
def test_toolbar_focus_is_thick_and_visible(page_in_mode: Any) -> None:
    page = page_in_mode
    page.keyboard.press("Tab")
    assert page.eval_on_selector(":focus", "el => el.className").startswith("a11y-toolbar__control")
    width, style, colour, ring = page.eval_on_selector(":focus", OUTLINE_JS)
    assert _px(width) >= MIN_FOCUS_OUTLINE_PX and style == "solid"
    strip = page.eval_on_selector(
        "#a11y-proxy-toolbar", "el => getComputedStyle(el).backgroundColor"
    )
    assert contrast_ratio(colour, strip) >= NON_TEXT_CONTRAST
    assert contrast_ratio(colour, _shadow_colour(ring)) >= NON_TEXT_CONTRAST
    assert _painted_contrast(page, ":focus") >= TEXT_CONTRAST


@pytest.mark.browser
@pytest.mark.parametrize(
    "page_in_mode", [Mode(theme) for theme in PALETTES], ids=lambda m: m.token, indirect=True
)
def test_theme_text_reaches_aaa_on_a_hostile_page(page_in_mode: Any) -> None:
    page = page_in_mode
    for selector in (
        "h1.text-white",
        ".grad",
        "#para",
        "#link",
        "mark",
        "mark a",
        "code",
        "span.text-white",
        "th",
        "td",
        "label",
        "#field",
        "button",
        "main li",
    ):
        ratio = _painted_contrast(page, selector)
        assert ratio >= TEXT_CONTRAST, f"{selector}: {ratio:.2f}:1"
    placeholder, field = page.eval_on_selector(
        "#field",
        "el => [getComputedStyle(el, '::placeholder').color, getComputedStyle(el).backgroundColor]",
    )
    assert contrast_ratio(placeholder, field) >= TEXT_CONTRAST
    assert page.eval_on_selector(".grad", "el => getComputedStyle(el).backgroundImage") == "none"
    assert page.eval_on_selector("#para", "el => getComputedStyle(el).textShadow") == "none"


@pytest.mark.browser
@pytest.mark.parametrize("page_in_mode", READING_MODES, ids=lambda m: m.token, indirect=True)
def test_page_focus_and_reflow_in_reading_modes(page_in_mode: Any, browser: Any) -> None:
    page = page_in_mode
    # No sideways scrolling the page has not of itself (its long address, which no mode
    # breaks inside a word).
    original = browser.new_page(viewport=NARROW)
    original.set_content(
        f"<!doctype html><html lang='uk'><head><meta charset='utf-8'><style>{HOSTILE_CSS}"
        f"</style></head><body>{CONTENT_HTML}</body></html>"
    )
    own = original.evaluate("document.documentElement.scrollWidth")
    original.close()
    assert page.evaluate("document.documentElement.scrollWidth") <= max(NARROW["width"], own)
    line_height, font_size, align, height = page.eval_on_selector(
        "#para",
        "el => {const s = getComputedStyle(el);"
        " return [s.lineHeight, s.fontSize, s.textAlign, el.getBoundingClientRect().height]}",
    )
    assert _px(line_height) >= MIN_LINE_HEIGHT * _px(font_size) - 0.01
    assert align == "start"
    assert height > 2 * _px(line_height), "the paragraph is still clipped to one line"

    page.focus("#link")
    width, style, colour, ring = page.eval_on_selector("#link", OUTLINE_JS)
    assert _px(width) >= MIN_FOCUS_OUTLINE_PX and style == "solid"
    assert contrast_ratio(colour, _shadow_colour(ring)) >= NON_TEXT_CONTRAST
    _, ground = page.eval_on_selector("#para", PAINTED_JS)
    assert contrast_ratio(colour, ground) >= NON_TEXT_CONTRAST
