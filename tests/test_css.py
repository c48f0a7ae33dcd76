"""Tests for proxy.css: which sizes follow --a11y-scale, and that nothing else moves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import tinycss2
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy import css as css_module
from proxy.css import SCALE_VAR, font_overrides, scale_declarations, scale_stylesheet

FACTOR = f" * var({SCALE_VAR}, 1))"


def scaled(value: str) -> str:
    return f"calc({value}{FACTOR}"


def expand(template: str) -> str:
    """Write expected output short: ``<14px>`` stands for the scaled 14px."""
    return re.sub(r"<([^<>]+)>", lambda match: scaled(match.group(1)), template)


def unwrap(css: str) -> str:
    """Undo every wrap: what remains must be the input, byte for byte."""
    while (end := css.find(FACTOR)) != -1:
        depth = 0
        start = end - 1
        while css[start] != "(" or depth:
            depth += {")": 1, "(": -1}.get(css[start], 0)
            start -= 1
        assert css[start - 4 : start + 1] == "calc("
        css = css[: start - 4] + css[start + 1 : end] + css[end + len(FACTOR) :]
    return css


def is_subsequence(needle: str, haystack: str) -> bool:
    remaining = iter(haystack)
    return all(char in remaining for char in needle)


def walk_declarations(nodes: list[Any]) -> Iterator[tuple[list[str], Any]]:
    """Every declaration of a sheet with the preludes of the rules around it."""

    def visit(items: list[Any], path: list[str]) -> Iterator[tuple[list[str], Any]]:
        for node in items:
            if node.type == "declaration":
                yield path, node
            elif node.type in ("qualified-rule", "at-rule") and node.content is not None:
                head = tinycss2.serialize(node.prelude).strip()
                if node.type == "at-rule":
                    head = f"@{node.lower_at_keyword} {head}".strip()
                inner = tinycss2.parse_blocks_contents(
                    node.content, skip_comments=True, skip_whitespace=True
                )
                yield from visit(inner, [*path, head])

    yield from visit(nodes, [])


def declarations(css: str) -> list[tuple[list[str], str, str, bool]]:
    """(enclosing preludes, property, value, important) for each declaration."""
    sheet = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    return [
        (path, decl.lower_name, tinycss2.serialize(decl.value).strip(), decl.important)
        for path, decl in walk_declarations(sheet)
    ]


# font-size values


@pytest.mark.parametrize(
    "value", ["14px", "12pt", "1pc", "0.5in", "1cm", "4mm", "8q", "8Q", "14PX", "1.5E1Px"]
)
def test_absolute_font_size_is_scaled(value: str) -> None:
    assert scale_stylesheet(f"p{{font-size:{value}}}") == f"p{{font-size:{scaled(value)}}}"


@pytest.mark.parametrize(
    "value",
    [
        "clamp(1rem, 2vw, 3rem)",
        "calc(1em + 2px)",
        "min(4vw, 30px)",
        "max(1rem, 2dvh)",
        "CALC(10PT)",
        "-webkit-calc(1rem + 1vmax)",
        "5vw",
        "3svh",
        "2cqi",
    ],
)
def test_viewport_and_math_sizes_are_wrapped_whole(value: str) -> None:
    assert scale_stylesheet(f"p {{ font-size: {value} }}") == f"p {{ font-size: {scaled(value)} }}"


@pytest.mark.parametrize(
    "value",
    [
        "1.2em",
        "120%",
        "1rem",
        "2ex",
        "3ch",
        "larger",
        "smaller",
        "inherit",
        "initial",
        "unset",
        "revert",
        "var(--size)",
        "var(--size, 14px)",
        "0",
        "calc(1em + 10%)",
        "14px 12px",
        "'14px'",
    ],
)
def test_relative_and_unknown_font_sizes_are_left_alone(value: str) -> None:
    css = f"p {{ font-size: {value} }}"
    assert scale_stylesheet(css) is css


@pytest.mark.parametrize(
    ("keyword", "px"),
    [
        ("xx-small", 9),
        ("x-small", 10),
        ("small", 13),
        ("medium", 16),
        ("large", 18),
        ("x-large", 24),
        ("xx-large", 32),
        ("xxx-large", 48),
        ("X-Large", 24),
    ],
)
def test_absolute_size_keywords_become_scaled_pixels(keyword: str, px: int) -> None:
    assert scale_stylesheet(f"p{{font-size:{keyword}}}") == f"p{{font-size:{scaled(f'{px}px')}}}"


@pytest.mark.parametrize(
    "selector", ["html", ":root", "HTML", ":ROOT", ":root, html", "html ,\n:root"]
)
@pytest.mark.parametrize("value", ["62.5%", "1.25em", "1rem", "14px"])
def test_root_relative_sizes_are_scaled(selector: str, value: str) -> None:
    css = f"{selector} {{ font-size: {value} }}"
    assert scale_stylesheet(css) == f"{selector} {{ font-size: {scaled(value)} }}"


@pytest.mark.parametrize("selector", ["html body", "html, body", ".html", "html.dark", "body"])
def test_relative_sizes_outside_the_root_are_left_alone(selector: str) -> None:
    css = f"{selector} {{ font-size: 62.5% }}"
    assert scale_stylesheet(css) is css


def test_root_rule_scales_relative_sizes_in_nested_group_rules() -> None:
    css = ":root { @media (min-width: 40em) { font-size: 110% } }"
    assert scaled("110%") in scale_stylesheet(css)


def test_important_is_kept() -> None:
    css = "p{font-size:14px!important} q{font-size: 1em ! important}"
    assert declarations(scale_stylesheet(css)) == [
        (["p"], "font-size", scaled("14px"), True),
        (["q"], "font-size", "1em", True),
    ]


def test_every_scaled_font_size_parses_as_one_calc() -> None:
    css = """
    a{font-size:14px} b{font-size:large !important} c{font-size:clamp(1rem,2vw,3rem)}
    html{font-size:62.5%} d{font:italic bold 12px/30px Arial} e{font-size:-webkit-calc(2pt)}
    @media print{f{font-size:12pt}} g{font: 700 x-small serif}
    """
    out = scale_stylesheet(css)
    sizes = []
    for _, decl in walk_declarations(tinycss2.parse_stylesheet(out, skip_comments=True)):
        if decl.lower_name == "font-size":
            sizes.append(tinycss2.parse_one_component_value(decl.value, skip_comments=True))
        elif decl.lower_name == "font":
            functions = [token for token in decl.value if token.type == "function"]
            sizes.append(functions[0])
    assert len(sizes) == 8
    for value in sizes:
        assert value.type == "function"
        assert value.lower_name == "calc"
        assert value.serialize().endswith(FACTOR)


# line-height and the font shorthand


@pytest.mark.parametrize("value", ["20px", "15pt", "calc(1rem + 4px)", "3vh"])
def test_absolute_line_height_is_scaled(value: str) -> None:
    assert scale_stylesheet(f"p{{line-height:{value}}}") == f"p{{line-height:{scaled(value)}}}"


@pytest.mark.parametrize("value", ["1.5", "150%", "1.2em", "normal", "2rem", "inherit"])
def test_relative_line_height_is_left_alone(value: str) -> None:
    css = f"html{{line-height:{value}}}"
    assert scale_stylesheet(css) is css


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12px Arial", "<12px> Arial"),
        ("bold 14px/20px Arial, sans-serif", "bold <14px>/<20px> Arial, sans-serif"),
        (
            "italic small-caps 700 condensed 1.2pt/1.5 x",
            "italic small-caps 700 condensed <1.2pt>/1.5 x",
        ),
        ("oblique 10deg 16px / 120% serif", "oblique 10deg <16px> / 120% serif"),
        ("normal large 'Times New Roman'", "normal <18px> 'Times New Roman'"),
        ("1em/24px x", "1em/<24px> x"),
        ("bold.5in x", "bold <.5in> x"),
        ("clamp(1rem, 3vw, 2rem)/1.2 x", "<clamp(1rem, 3vw, 2rem)>/1.2 x"),
    ],
)
def test_font_shorthand_scales_size_and_line_height_in_place(value: str, expected: str) -> None:
    assert scale_stylesheet(f"p {{ font: {value}; }}") == f"p {{ font: {expand(expected)}; }}"


@pytest.mark.parametrize(
    "value",
    [
        "caption",
        "icon",
        "menu",
        "message-box",
        "small-caption",
        "status-bar",
        "inherit",
        "1.2em/1.5 serif",
        "larger serif",
        "14px",
        "bold 14px/",
        "var(--font)",
        "bold var(--size) serif",
    ],
)
def test_font_shorthand_without_an_absolute_size_is_left_alone(value: str) -> None:
    css = f"p{{font:{value}}}"
    assert scale_stylesheet(css) is css


def test_root_shorthand_scales_percentages() -> None:
    assert scale_stylesheet("html{font:100%/1.5 sans-serif}") == (
        f"html{{font:{scaled('100%')}/1.5 sans-serif}}"
    )


# structure


def test_group_rules_are_processed_recursively() -> None:
    css = """
    @media screen and (max-width: 600px) { @supports (display: grid) { h1 { font-size: 2px } } }
    @layer base { p { font-size: 12pt } }
    @container card (min-width: 1px) { q { line-height: 9px } }
    @-moz-document url-prefix() { s { font-size: 1px } }
    """
    media = ["@media screen and (max-width: 600px)", "@supports (display: grid)", "h1"]
    assert [(path, value) for path, _, value, _ in declarations(scale_stylesheet(css))] == [
        (media, scaled("2px")),
        (["@layer base", "p"], scaled("12pt")),
        (["@container card (min-width: 1px)", "q"], scaled("9px")),
        (["@-moz-document url-prefix()", "s"], scaled("1px")),
    ]


def test_nested_style_rules_are_scaled() -> None:
    css = ".card { font-size: 14px; & .title { font-size: 20px } h2 & { font: 18px x } }"
    assert declarations(scale_stylesheet(css)) == [
        ([".card"], "font-size", scaled("14px"), False),
        ([".card", "& .title"], "font-size", scaled("20px"), False),
        ([".card", "h2 &"], "font", f"{scaled('18px')} x", False),
    ]


@pytest.mark.parametrize(
    "css",
    [
        "@font-face { font-family: x; font-size: 12px; }",
        "@keyframes grow { from { font-size: 10px } to { font-size: 20px } }",
        "@page { font-size: 12pt; margin: 1in }",
        "@counter-style x { font-size: 12px }",
        "@unknown-rule { p { font-size: 12px } }",
        "p { --font-size: 12px; color: red } .font { color: blue }",
        "",
    ],
)
def test_other_rules_are_not_touched(css: str) -> None:
    assert scale_stylesheet(css) is css


def test_untouched_text_is_kept_byte_for_byte() -> None:
    css = (
        '/* header \u00e9 */\r\n@charset "utf-8";\r\n'
        ".a\\:b ,\t.c::after{content:'\\201C';  font-size :\t14px /* why */ ;color:#FFF}\r\n"
        "\f<!-- -->\n@media(min-width:1px){.d{margin:0 AUTO;font-size:1E1PX}}  /* tail"
    )
    out = scale_stylesheet(css)
    assert out == css.replace("14px", scaled("14px")).replace("1E1PX", scaled("1E1PX"))
    assert unwrap(out) == css


def test_unchanged_input_is_returned_as_is() -> None:
    css = "p { color: red; font-family: serif }"
    style = "color: red; font-family: serif"
    assert scale_stylesheet(css) is css
    assert scale_declarations(style) is style


@pytest.mark.parametrize(
    "css",
    [
        "a{font-size:14px} b{font:bold large/20px x} html{font-size:62.5%}",
        "@media x{p{line-height:12pt;font-size:clamp(1px,2vw,3px)!important}}",
        f"a{{font-size:calc(14px * var({SCALE_VAR}))}}",
    ],
)
def test_rewriting_twice_changes_nothing(css: str) -> None:
    once = scale_stylesheet(css)
    assert scale_stylesheet(once) is once


def test_value_that_mentions_the_scale_is_not_wrapped_again() -> None:
    css = (
        f"p{{font-size:max(12px, 1em * var({SCALE_VAR}))}}"
        f"q{{font:calc(2px * var({SCALE_VAR}))/9px x}}"
    )
    assert scale_stylesheet(css) is css


# malformed input


@pytest.mark.parametrize(
    ("css", "expected"),
    [
        ("a{font-size:14px", "a{font-size:<14px>"),
        ("a{font-size:14px;b{", "a{font-size:<14px>;b{"),
        ("a{font-size:calc(14px", "a{font-size:calc(14px"),
        ("a{font-size:14px}}}} b{font-size:2pt}", "a{font-size:<14px>}}}} b{font-size:<2pt>}"),
        ("a{font-size:'14px}", "a{font-size:'14px}"),
        ("a{font-size:14px\\", "a{font-size:14px\\"),
        ("a{font-size:", "a{font-size:"),
        ("font-size:14px", "font-size:14px"),
        ("a{font-size:url(14px}", "a{font-size:url(14px}"),
        ("a{font-size: /* 14px", "a{font-size: /* 14px"),
    ],
)
def test_malformed_css_is_kept_and_never_raises(css: str, expected: str) -> None:
    assert scale_stylesheet(css) == expand(expected)
    font_overrides(css)
    scale_declarations(css)


def test_garbage_bytes_decoded_as_text() -> None:
    garbage = bytes(range(256)).decode("latin-1") + "\x00\ufffd\udcff"
    css = f"{garbage}\np{{font-size:14px}}{garbage}"
    out = scale_stylesheet(css)
    assert scale_stylesheet(out) == out
    assert unwrap(out) == css
    font_overrides(css)
    scale_declarations(garbage)


# style attributes


def test_style_attribute_declarations_are_scaled() -> None:
    style = "color: red; font-size: 12px !important;line-height:16px; font: 10pt/1 x"
    assert scale_declarations(style) == (
        f"color: red; font-size: {scaled('12px')} !important;"
        f"line-height:{scaled('16px')}; font: {scaled('10pt')}/1 x"
    )


def test_style_attribute_relative_sizes_and_nested_rules_are_left_alone() -> None:
    style = "font-size: 62.5%; p { font-size: 12px }"
    assert scale_declarations(style) is style


def test_style_attributes_give_the_same_answer_every_time_in_any_order() -> None:
    # Values are remembered per process: the root flag is part of what is remembered.
    style = "font-size: 62.5%; line-height: 20px"
    for _ in range(2):
        assert scale_declarations(style) == f"font-size: 62.5%; line-height: {scaled('20px')}"
        assert scale_declarations(style, root=True) == (
            f"font-size: {scaled('62.5%')}; line-height: {scaled('20px')}"
        )
    # Nothing to scale: the very object given comes back, also when an equal one came before.
    relative = "font-size: 1em; " + "color: red; " * 4
    equal = relative[:-1] + " "
    assert equal == relative and equal is not relative
    assert scale_declarations(relative) is relative
    assert scale_declarations(equal) is equal


def test_long_style_attributes_are_scaled_like_short_ones() -> None:
    long = "font-size: 12px; " + "color: red; " * 100
    assert scale_declarations(long) == long.replace("12px", scaled("12px"), 1)
    assert scale_declarations(long) == scale_declarations(long)


# override sheet for <style> blocks


def test_overrides_repeat_size_rules_with_scaled_values() -> None:
    css = """
    body { color: #333; font-size: 14px !important; line-height: 20px; margin: 0 }
    .lead { font-size: 1.25rem; line-height: 1.5 }
    .plain { color: red }
    @media (max-width: 600px) { h1, h2 { font: bold 24px/1.2 serif } }
    """
    assert declarations(font_overrides(css)) == [
        (["body"], "font-size", scaled("14px"), True),
        (["body"], "line-height", scaled("20px"), False),
        ([".lead"], "font-size", "1.25rem", False),
        ([".lead"], "line-height", "1.5", False),
        (["@media (max-width: 600px)", "h1, h2"], "font-size", scaled("24px"), False),
        (["@media (max-width: 600px)", "h1, h2"], "line-height", "1.2", False),
    ]


def test_overrides_of_a_block_seen_again_or_of_a_long_block_are_the_same() -> None:
    css = "h1 { font-size: 20px } p { color: red }"
    assert font_overrides(css) == font_overrides(css) == f"h1 {{font-size:{scaled('20px')};}}\n"
    long = css + " /* " + "x" * 40_000 + " */"
    assert font_overrides(long) == font_overrides(css)


def test_overrides_keep_declaration_order_inside_a_rule() -> None:
    css = "p { font-size: 14px; font-size: 0.875rem } q { font: 12px x; line-height: 9pt }"
    assert [(name, value) for _, name, value, _ in declarations(font_overrides(css))] == [
        ("font-size", scaled("14px")),
        ("font-size", "0.875rem"),
        ("font-size", scaled("12px")),
        ("line-height", "normal"),
        ("line-height", scaled("9pt")),
    ]


def test_overrides_keep_named_layers_and_nesting_but_skip_anonymous_layers() -> None:
    css = """
    @layer base { p { font-size: 12px } }
    @layer { q { font-size: 12px } }
    .a { & b { font-size: 2pt } }
    """
    assert [path for path, *_ in declarations(font_overrides(css))] == [
        ["@layer base", "p"],
        [".a", "& b"],
    ]


@pytest.mark.parametrize(
    "css",
    [
        "p { font-size: 1em; line-height: 1.4 } .x { color: red }",
        "@font-face { font-size: 12px }",
        "p { font: caption }",
        "",
    ],
)
def test_overrides_are_empty_when_nothing_needs_scaling(css: str) -> None:
    assert font_overrides(css) == ""


def test_overrides_of_a_truncated_block_still_parse() -> None:
    out = font_overrides("@media print { p { font-size: 14px")
    assert declarations(out) == [(["@media print", "p"], "font-size", scaled("14px"), False)]


def test_overrides_cannot_close_the_style_element() -> None:
    css = 'a[title="x<"] { font-size: 12px; } b { font-size: 2pt }'
    assert "</" not in font_overrides(css).lower()


# properties over arbitrary text

CSS_PIECES = [
    "a", "html", ":root", ",", " ", "\n", "\r\n", "{", "}", ";", ":", "(", ")", "/", "\\",
    "'", '"', "/*", "*/", "!important", "font-size", "font", "line-height", "14px", "1.5",
    "2em", "62.5%", "large", "bold", "700", "calc(", "clamp(", "2vw", "var(--a11y-scale)",
    "var(", "url(", "@media x", "@layer", "@font-face", "&", ".5pt", "0", "caption", "-",
    "e3", "serif", "<!--", "-->", "\x00", "\f", "\u00e9",
]  # fmt: skip
css_like = st.lists(st.sampled_from(CSS_PIECES), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), css_like))
def test_any_text_never_raises_and_scaling_is_idempotent(css: str) -> None:
    once = scale_stylesheet(css)
    assert scale_stylesheet(once) == once
    if not any(keyword in css.lower() for keyword in ("small", "medium", "large")):
        assert is_subsequence(css, once)  # only insertions, nothing dropped or moved
    font_overrides(css)
    declarations_once = scale_declarations(css)
    assert scale_declarations(declarations_once) == declarations_once


# big sheets: only the rules that may declare a size are parsed

# Pieces of CSS that decide where a rule ends, or that hide it: brackets, ";", strings,
# escapes, comments, url() and what the parser skips between rules; and sizes to find.
SHEET_PIECES = (
    *("a", "b{", "}", "{", "(", ")", "[", "]", ";", ",", ".c", "#", "-", "--", "1", "&"),
    *("@media x", "@", "@-x", "@1", "@import x;", "@layer", "@supports(x)", "@font-face{"),
    *('"', "'", "\\", "\\75", "\\41 ", "\\\n", "\\\r\n", "\\u", "\\{", "\\29", "\\7d"),
    *(" ", "\t", "\n", "\r\n", "\r", "\f", "\0", "é", "/*", "*/", "<!--", "-->"),
    *("url(", "URL( ", "url('x')", "url(x{y)", "url(a b)", "xurl(", "url()", 'url(  "x")'),
    *("font-size:12px", "font: 10px/12px x", "line-height:3px", "font-family:x", "html"),
    *(":root", "!important", "U+00", "}}", "]]", "@media{", "src:url(a.woff)", "--x:{"),
)
# Rules that set no size, enough of them to make a sheet that is cut into rules.
FILLER = "".join(f".f{number} {{ color: red; margin: {number}px }}\n" for number in range(200))
sheets = st.lists(st.sampled_from(SHEET_PIECES), max_size=60).map("".join)


def test_the_filler_is_long_enough_to_be_cut() -> None:
    assert len(FILLER) >= css_module._SPLIT_CHARS
    assert len(css_module._sized_spans(FILLER + "p{font-size:1px}")) == 1


def assert_cut_like_the_parser(css: str) -> None:
    starts = css_module._rule_starts(css)
    if starts is None:
        return  # left in doubt: the sheet is parsed whole
    source = css_module._Source(css)
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    parsed = [0, *(source.offset(rule) for rule in rules[1:])]
    if rules and rules[-1].type == "error" and len(parsed) > 1:
        # A rule cut off by the end of the sheet is reported at its last token.
        assert starts[:-1] == parsed[:-1]
        assert starts[-1] <= parsed[-1]
    else:
        assert starts == parsed


@pytest.mark.parametrize(
    "css",
    [
        'a"\nb{} c{}',  # a newline ends a string
        'a{content:"}\\"}"} b{}',  # an escaped quote does not
        'a{content:"x\\\r\ny}"} b{}',  # nor an escaped line break
        'a{content:"\\41\n}"} b{}',  # a hex escape takes one whitespace with it
        "a{background:url(x.png)} b{} c{x:url( 'y{' )} d{}",
        "a{b:url(x{y)} c{}",  # unsure: parsed whole
        "a{/* } */} b{} /* c{ */ d{}",
        "@import url(x.css); @media print{a{}} b{} @font-face{src:x} c{}",
        "a[{]}} b{} c{}",  # a block ends only at its own bracket
        "<!-- a{} --> b{} <!--c{}-->",
        "\\75rl(x{) a{}",  # an escaped letter of url: unsure
        "a{} @1x; b{} @-x; c{}",
        "a{} b",
        "<![CDATA[ a{} b{} ]]>",
    ],
)
def test_rules_are_cut_where_the_css_parser_starts_them(css: str) -> None:
    assert_cut_like_the_parser(css)


@settings(max_examples=400, deadline=None)
@given(sheets)
def test_any_sheet_is_cut_where_the_css_parser_starts_its_rules(css: str) -> None:
    assert_cut_like_the_parser(css)


@settings(max_examples=400, deadline=None)
@given(sheets)
def test_a_big_sheet_scales_as_its_parts_would(css: str) -> None:
    # The filler sets nothing and ends every block: what follows it reads as it does alone.
    assert font_overrides(FILLER + css) == font_overrides(css)
    assert scale_stylesheet(FILLER + css) == FILLER + scale_stylesheet(css)
