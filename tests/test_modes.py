import pytest

from proxy.rewriting.modes import ALL_MODES, DEFAULT, LARGE, LARGER, Mode, Theme


def test_every_mode_round_trips_through_its_token() -> None:
    for mode in ALL_MODES:
        assert Mode.parse(mode.token) == mode
        assert Mode.from_token(mode.token) == mode
    assert len({mode.token for mode in ALL_MODES}) == 9


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "blue",
        "blue-151",
        "BLUE-150x",
        "red-150",
        "blue-150;",
        "<script>",
        "x" * 10_000,
        "blue-150\r\nSet-Cookie: a=b",
        "default-100 ",
        "bw-200\x00",
    ],
)
def test_anything_else_is_the_default_mode(raw: str | None) -> None:
    mode = Mode.parse(raw)
    assert mode == DEFAULT or (raw is not None and mode.token == raw.strip().lower())
    assert mode.token in {m.token for m in ALL_MODES}


def test_parse_tolerates_case_and_spaces_but_from_token_is_exact() -> None:
    assert Mode.parse(" Blue-150 ") == Mode(Theme.BLUE, 150)
    assert Mode.from_token("Blue-150") is None


def test_large_font_toggles_and_keeps_the_theme() -> None:
    blue = Mode(Theme.BLUE)
    assert blue.with_scale(LARGE) == Mode(Theme.BLUE, 150)
    assert blue.with_scale(LARGE).with_scale(LARGE) == blue
    assert blue.with_scale(LARGE).with_scale(LARGER) == Mode(Theme.BLUE, 200)


def test_choosing_the_active_theme_returns_to_default_colours() -> None:
    large = Mode(scale=150)
    assert large.with_theme(Theme.BLUE) == Mode(Theme.BLUE, 150)
    assert large.with_theme(Theme.BLUE).with_theme(Theme.BLUE) == large
    assert Mode(Theme.BLUE).with_theme(Theme.BW) == Mode(Theme.BW)


def test_modes_are_frozen_and_validated() -> None:
    with pytest.raises(ValueError, match="scale"):
        Mode(scale=120)
    with pytest.raises(AttributeError):
        DEFAULT.scale = 150  # type: ignore[misc]
