"""The page: a Gradio Blocks app with a 'Score a clip' tab and a 'Compose' tab.

Every button that runs a job shares one concurrency group ("engine") so that at most ``max_jobs`` jobs run at
once, whatever mix of scoring, rescoring and composing; the queue holds at most ``max_queue`` waiting events.
The endpoints have stable API names: ``/score``, ``/rescore`` and ``/compose``. A rescore works on the visitor's
last score, which the server keeps in the session (a ``gr.State``); the request names only bars and a seed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import gradio as gr  # this module is imported only when the app is built (see moodscore.web.app.main)
from gradio.utils import get_upload_folder

from moodscore.models import DEFAULTS, QUADRANT_NAMES, Engine, Runner, default_example_clip, make_runner
from moodscore.web.handlers import MAX_VARIATIONS, STEMS, Handlers, sections_of
from moodscore.web.jobs import UserFacingError, WebJobs, WebSettings
from moodscore.web.pad import draw_pad, point_at

NOTES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEYS = ("auto", *(f"{n} {mode}" for mode in ("major", "minor") for n in NOTES))
MODES = ("quadrant", "valence / arousal point")
TEMPO_LABEL = "Tempo (BPM; empty: the one the emotion suggests)"
EXTRA_PARTS = [p for p in DEFAULTS.instruments if p != "piano"]  # the parts the core plays beside the piano
# one example per quadrant: mode, quadrant, valence, arousal, bars, tempo, key, extra instruments, seed, variations
COMPOSE_EXAMPLES = [
    ["quadrant", "Q1", 0.7, 0.6, 8, 126, "auto", ["bass"], 1, 1],
    ["quadrant", "Q2", -0.6, 0.7, 8, 140, "auto", ["bass"], 2, 1],
    ["quadrant", "Q3", -0.6, -0.5, 8, 68, "auto", ["pad"], 3, 1],
    ["quadrant", "Q4", 0.6, -0.5, 8, 84, "auto", ["pad"], 4, 1],
]
CSS = """
.ms-chip {display:inline-block; padding:0 .5em; border-radius:.6em; color:#111; font-weight:600}
.ms-summary ul {margin:.2em 0 0 1em}
"""
INTRO = (
    "# moodscore\nUpload a clip (or record one): moodscore reads the faces and voices in it, follows the emotion "
    "on the valence-arousal plane and writes piano music that follows it, mixed under the clip. "
    "Or compose without a video."
)


@contextlib.contextmanager
def page_errors() -> Iterator[None]:
    """Turn a one-line job error into a message in the page (a gr.Error), never a traceback."""
    try:
        yield
    except UserFacingError as exc:
        raise gr.Error(exc.message, duration=30, title=exc.title, print_exception=False) from None


def build_app(
    engine: Engine | None = None,
    settings: WebSettings | None = None,
    *,
    runner: Runner | None = None,
    storage: str | os.PathLike[str] | None = None,
) -> Any:
    """The Blocks app, its queue configured. Jobs go to ``runner`` (``storage``: where its job folders must
    lie); without one, to worker threads sharing ``engine`` when given (tests pass a debug one), else to a
    local pool of worker processes with the shipped models."""
    settings = settings or WebSettings()
    if runner is None:
        runner = make_runner(
            engine=engine, workers=settings.max_jobs, max_queue=settings.max_queue, time_limit=settings.max_job_seconds
        )
    jobs = WebJobs(runner, settings, storage=storage)
    handlers = Handlers(jobs, uploads=get_upload_folder())
    keep_s = int(settings.keep_minutes * 60)
    # the browser's own <audio controls> player: plays anything the browser can, keyboard-accessible
    player = gr.WaveformOptions(show_recording_waveform=False)
    track = gr.Progress()  # Gradio hands each event its own tracker in place of this default

    def score(clip: Any, tempo: float, key: str, extra: list[str], seed: float, progress: Any = track) -> Any:
        with page_errors():
            return handlers.score(clip, tempo, key, extra, seed, progress=progress)

    def rescore(kept: Any, bars: str, seed: float, progress: Any = track) -> Any:
        with page_errors():
            return handlers.rescore(kept, bars, seed, progress=progress)

    def show_sections(kept: Any) -> Any:
        choices = sections_of(kept)
        return gr.Dropdown(choices=choices, value=None, interactive=bool(choices))

    def compose(
        mode: str,
        quadrant: str,
        valence: float,
        arousal: float,
        bars: float,
        tempo: float,
        key: str,
        extra: list[str],
        seed: float,
        variations: float,
        progress: Any = track,
    ) -> list[Any]:
        with page_errors():
            return handlers.compose(
                mode, quadrant, valence, arousal, bars, tempo, key, extra, seed, variations, progress=progress
            )

    def pick(evt: gr.SelectData) -> tuple[str, float, float]:
        valence, arousal = point_at(*evt.index[:2])
        return MODES[1], valence, arousal

    def show_slots(variations: float) -> list[Any]:
        n = int(variations)
        return [
            *(gr.Audio(visible=i < n) for i in range(MAX_VARIATIONS)),
            *(gr.Image(visible=i < n) for i in range(MAX_VARIATIONS)),
        ]

    with gr.Blocks(title="moodscore", analytics_enabled=False, delete_cache=(keep_s, keep_s)) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            with gr.Tab("Score a clip", id="score"):
                with gr.Row():
                    with gr.Column(scale=2):
                        clip = gr.Video(
                            label="Clip", sources=["upload", "webcam"], include_audio=True, height=320, elem_id="clip"
                        )
                        with gr.Accordion("Options", open=False):
                            tempo = gr.Number(DEFAULTS.tempo, minimum=40, maximum=200, step=1, label=TEMPO_LABEL)
                            key = gr.Dropdown(list(KEYS), value=DEFAULTS.key, label="Key")
                            extra = gr.CheckboxGroup(["bass", "pad", STEMS], value=EXTRA_PARTS, label="With piano")
                            seed = gr.Number(DEFAULTS.seed, minimum=0, step=1, label="Seed")
                        go = gr.Button("Score this clip", variant="primary", elem_id="score-button")
                        gr.Examples([[str(default_example_clip())]], inputs=[clip], label="Example clip")
                    with gr.Column(scale=3):
                        plot = gr.Image(label="Emotion timeline and piano roll", interactive=False, elem_id="plot")
                        summary = gr.HTML(label="Segments", elem_id="score-summary")
                        music = gr.Audio(
                            label="Music alone",
                            type="filepath",
                            interactive=False,
                            elem_id="music",
                            waveform_options=player,
                        )
                        video = gr.Video(label="Scored video", interactive=False, height=360, elem_id="scored-video")
                        files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="files")
                        with gr.Accordion("Write some bars again", open=True, elem_id="rescore"):
                            gr.Markdown(
                                "Not happy with one stretch? Pick a segment (or give bars), a new seed, and only "
                                "those bars are written again; every other bar stays, and nothing is analysed again."
                            )
                            with gr.Row():
                                part = gr.Dropdown(
                                    [], label="Segment", interactive=False, elem_id="rescore-segment", scale=2
                                )
                                r_bars = gr.Textbox(label="Bars", placeholder="e.g. 9-12", elem_id="rescore-bars")
                                r_seed = gr.Number(1, minimum=0, step=1, label="New seed", elem_id="rescore-seed")
                            r_go = gr.Button("Write these bars again", elem_id="rescore-button")
                kept = gr.State(None)  # the visitor's last score (a job folder's name), kept on the server
                outputs = [plot, music, video, files, summary, kept]
                go.click(
                    score, [clip, tempo, key, extra, seed], outputs, api_name="score", concurrency_id="engine"
                ).success(show_sections, kept, part, api_visibility="private", queue=False)
                part.input(lambda value: value or "", part, r_bars, api_visibility="private", queue=False)
                r_go.click(
                    rescore, [kept, r_bars, r_seed], outputs, api_name="rescore", concurrency_id="engine"
                ).success(show_sections, kept, part, api_visibility="private", queue=False)
            with gr.Tab("Compose", id="compose"):
                with gr.Row():
                    with gr.Column(scale=2):
                        mode = gr.Radio(list(MODES), value="quadrant", label="Emotion from")
                        quadrant = gr.Radio(
                            [(f"{q}: {name}", q) for q, name in QUADRANT_NAMES.items()], value="Q1", label="Quadrant"
                        )
                        gr.Markdown("Or click a point on the valence-arousal plane:")
                        pad = gr.Image(
                            str(draw_pad(jobs.root / "pad.png")),
                            label="Or click a point on the valence-arousal plane",
                            show_label=False,
                            interactive=False,
                            height=300,
                            elem_id="va-pad",
                        )
                        with gr.Row():
                            valence = gr.Slider(-1, 1, value=0.5, step=0.05, label="Valence (unpleasant - pleasant)")
                            arousal = gr.Slider(-1, 1, value=0.5, step=0.05, label="Arousal (calm - excited)")
                        bars = gr.Slider(1, 64, value=DEFAULTS.bars, step=1, label="Bars")
                        c_tempo = gr.Number(DEFAULTS.tempo, minimum=40, maximum=200, step=1, label=TEMPO_LABEL)
                        c_key = gr.Dropdown(list(KEYS), value=DEFAULTS.key, label="Key")
                        c_extra = gr.CheckboxGroup(["bass", "pad"], value=EXTRA_PARTS, label="With piano")
                        with gr.Row():
                            c_seed = gr.Number(DEFAULTS.seed, minimum=0, step=1, label="Seed")
                            variations = gr.Slider(
                                1, MAX_VARIATIONS, value=DEFAULTS.variations, step=1, label="Variations"
                            )
                        pad.select(pick, None, [mode, valence, arousal], api_visibility="private", queue=False)
                        c_go = gr.Button("Compose", variant="primary", elem_id="compose-button")
                        c_inputs = [mode, quadrant, valence, arousal, bars, c_tempo, c_key, c_extra, c_seed, variations]
                        gr.Examples(
                            COMPOSE_EXAMPLES, inputs=c_inputs, label="One per quadrant", elem_id="compose-examples"
                        )
                    with gr.Column(scale=3):
                        c_summary = gr.HTML(label="Pieces", elem_id="compose-summary")
                        slots_audio, slots_roll = [], []
                        for i in range(MAX_VARIATIONS):
                            slots_audio.append(
                                gr.Audio(
                                    label=f"Variation {i + 1}",
                                    type="filepath",
                                    interactive=False,
                                    visible=i == 0,
                                    elem_id=f"variation-{i + 1}",
                                    waveform_options=player,
                                )
                            )
                            slots_roll.append(
                                gr.Image(
                                    label=f"Piano roll {i + 1}", show_label=False, interactive=False, visible=i == 0
                                )
                            )
                        c_files = gr.File(
                            label="Downloads", file_count="multiple", interactive=False, elem_id="compose-files"
                        )
                c_go.click(
                    compose,
                    c_inputs,
                    [*slots_audio, *slots_roll, c_files, c_summary],
                    api_name="compose",
                    concurrency_id="engine",
                ).success(show_slots, variations, [*slots_audio, *slots_roll], api_visibility="private", queue=False)
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=settings.max_jobs)
    demo.moodscore_jobs = jobs  # for the launcher and tests: the runner and the job folders
    return demo


def launch_options(settings: WebSettings) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch`` that every launcher (CLI, tests) uses."""
    from starlette.middleware import Middleware

    from moodscore.web.limits import UploadBudget

    visitor, total = settings.upload_budgets_mb
    budget = Middleware(
        UploadBudget, per_client=visitor * 1024**2, total=total * 1024**2, window_s=settings.keep_minutes * 60
    )
    return {
        "app_kwargs": {"middleware": [budget]},
        "max_file_size": settings.max_upload_mb * 1024**2,
        "ssr_mode": False,  # no Node server; the page is plain static files served by this process
        "mcp_server": False,
        "footer_links": ["api"],
        "theme": gr.themes.Default(),  # its fonts are bundled (LocalFont): no request leaves the machine
        "css": CSS,
    }
