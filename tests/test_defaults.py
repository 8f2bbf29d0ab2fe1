"""One set of defaults (models.types.DEFAULTS) that every front end offers: the command line, the web page, the
Discord commands and the OSC bridge, and the one instrument parser they share."""

from __future__ import annotations

from typing import Any

import pytest

from moodscore.models import DEFAULTS, ComposeRequest, Engine, parse_instruments


def _request_defaults(request: ComposeRequest) -> dict[str, Any]:
    return {
        "bars": request.n_bars,
        "tempo": request.tempo,
        "key": request.key,
        "seed": request.seed,
        "variations": request.variations,
        "instruments": request.instruments,
        "temperature": request.temperature,
    }


CORE = _request_defaults(ComposeRequest(emotion="Q3"))


def test_the_core_defaults_are_what_a_bare_request_holds() -> None:
    assert CORE["bars"] == DEFAULTS.bars and CORE["key"] == DEFAULTS.key and CORE["seed"] == DEFAULTS.seed
    assert CORE["tempo"] == ComposeRequest(emotion="Q3", tempo=None).suggested_tempo()  # the emotion's tempo
    assert ComposeRequest(emotion="Q1").tempo != ComposeRequest(emotion="Q3").tempo


def test_the_command_line_offers_the_core_defaults() -> None:
    from moodscore.models.cli import build_parser

    args = build_parser().parse_args(["compose", "--quadrant", "Q3", "--out", "x"])
    request = ComposeRequest(
        emotion="Q3", bars=args.bars, tempo=args.tempo, key=args.key, seed=args.seed, variations=args.variations,
        instruments=parse_instruments(args.instruments), temperature=args.temperature,
    )  # fmt: skip
    assert _request_defaults(request) == CORE
    score = build_parser().parse_args(["score", "clip.mp4", "--out", "x"])
    assert (score.tempo, score.key, score.seed, parse_instruments(score.instruments)) == (
        DEFAULTS.tempo, DEFAULTS.key, DEFAULTS.seed, DEFAULTS.instruments,
    )  # fmt: skip


def test_the_bridge_offers_the_core_defaults() -> None:
    from moodscore.bridge.handlers import compose_request

    assert _request_defaults(compose_request({"quadrant": "Q3"})) == CORE
    linked = compose_request({"quadrant": "Q3"}, tempo=97.0)  # a DAW's own tempo stands in for the emotion's
    assert linked.tempo == 97.0 and linked.n_bars == DEFAULTS.bars


def test_the_discord_commands_offer_the_core_defaults() -> None:
    from moodscore.bots.app import build_commands

    commands = {c.name: c for c in build_commands()}
    compose = {p.name: p.default for p in commands["compose"].parameters}
    assert compose["bars"] == DEFAULTS.bars and compose["key"] == DEFAULTS.key and compose["tempo"] is DEFAULTS.tempo
    assert compose["seed"] == DEFAULTS.seed
    score = {p.name: p.default for p in commands["score"].parameters}
    assert score["tempo"] is DEFAULTS.tempo and parse_instruments(score["instruments"]) == DEFAULTS.instruments


def test_the_web_page_offers_the_core_defaults() -> None:
    import gradio as gr

    from moodscore.web.ui import TEMPO_LABEL, build_app

    demo = build_app(Engine(debug=True))
    try:
        by_label: dict[str, list[Any]] = {}
        for block in demo.blocks.values():
            label = getattr(block, "label", None)
            if label and isinstance(block, gr.Slider | gr.Number | gr.Dropdown | gr.CheckboxGroup):
                by_label.setdefault(str(label), []).append(getattr(block, "value", None))
        assert by_label["Bars"] == [DEFAULTS.bars]
        assert by_label[TEMPO_LABEL] == [DEFAULTS.tempo, DEFAULTS.tempo]  # score and compose: empty = the emotion's
        assert by_label["Key"] == [DEFAULTS.key, DEFAULTS.key]
        assert by_label["Seed"] == [DEFAULTS.seed, DEFAULTS.seed]
        assert by_label["Variations"] == [DEFAULTS.variations]
        assert by_label["With piano"] == [[], []]  # the piano alone, as DEFAULTS.instruments
    finally:
        demo.moodscore_jobs.close()


@pytest.mark.parametrize(
    ("given", "parts"),
    [
        ("piano", ("piano",)),
        ("Piano, BASS", ("piano", "bass")),
        ("piano + pad", ("piano", "pad")),
        (" piano,,bass,piano ", ("piano", "bass")),
        (["piano", "Pad"], ("piano", "pad")),
    ],
)
def test_one_instrument_parser(given: Any, parts: tuple[str, ...]) -> None:
    assert parse_instruments(given) == parts
    assert ComposeRequest(emotion="Q1", instruments=parse_instruments(given)).instruments == parts
