"""Markdown tables for the music benchmark's results (one section per folder, and a comparison table)."""

from __future__ import annotations

from typing import Any

QUADS = ("Q1", "Q2", "Q3", "Q4")


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def short(r: dict[str, Any]) -> str:
    re, em = r["realism"], r["emotion"]["agreement"]
    return (
        f"{r['name']}: {r['n_pieces']} pieces, {r['median_duration_s']:.1f} s | realism vs EMOPIA "
        f"{_pct(re['vs_emopia_testval'].get('accuracy'))}, vs POP909 {_pct(re['vs_pop909'].get('accuracy'))} "
        f"(sanity {_pct(re['sanity_emopia_train_vs_testval'].get('accuracy'))}) | emotion agreement "
        f"{_pct(em.get('quadrant'))} (arousal {_pct(em.get('arousal'))}, valence {_pct(em.get('valence'))})"
    )


def _realism(r: dict[str, Any]) -> list[str]:
    re = r["realism"]
    out = ["### 1. Realism (classifier two-sample test, held-out accuracy; 50% = indistinguishable, goal <= 70%)"]
    rows = []
    for key, label in (
        ("vs_emopia_testval", "generated vs EMOPIA test+val clips"),
        ("vs_pop909", "generated vs POP909 excerpts"),
        ("sanity_emopia_train_vs_testval", "sanity: EMOPIA train vs EMOPIA test+val"),
    ):
        t = re[key]
        if "error" in t:
            rows.append([label, t["error"], "", "", "", ""])
            continue
        rows.append(
            [
                label,
                t["n_real"],
                t["n_generated"],
                t["n_per_side"],
                f"**{_pct(t['accuracy'])}**",
                f"{_pct(t['accuracy_fold_std'])} ({t['folds']} folds x {t['repeats']})",
            ]
        )
    null = re.get("null_size_matched_emopia_train_vs_emopia_ref")
    if null:
        draws = ", ".join(_pct(a) for a in null["accuracy_per_draw"]) or "not run (too few pieces)"
        rows.append(
            [
                "null: EMOPIA train songs (as many clips as generated) vs the EMOPIA reference",
                "",
                "",
                null["n_per_side"],
                f"{_pct(null['accuracy'])}",
                f"draws {draws}",
            ]
        )
    out.append(_table(["test", "n real (side 0)", "n gen (side 1)", "n per side", "accuracy", "fold sd"], rows))
    out.append(f"Window: {r['window_s']} s from the first onset; {re['excluded_emopia_songs']} EMOPIA songs excluded.")
    small = min(re[k].get("n_per_side", 0) for k in ("vs_emopia_testval", "vs_pop909"))
    if small < 30:
        out.append(f"**Only {small} pieces per side: these accuracies are noisy (and biased below 50% when small).**")
    rows = []
    for key, label in (("vs_emopia_testval", "vs EMOPIA"), ("vs_pop909", "vs POP909")):
        per_q = re[key].get("generated_flagged_share_per_quadrant", {})
        rows.append([label, *(_pct(per_q.get(q)) for q in QUADS)])
    out += ["", "Generated pieces called generated on held-out folds, per quadrant:", ""]
    out.append(_table(["test", *QUADS], rows))
    for key, label in (("vs_emopia_testval", "EMOPIA"), ("vs_pop909", "POP909")):
        top = re[key].get("top_features")
        if top:
            out.append(f"\nWhat gives generated music away vs {label} (permutation importance on held-out folds):\n")
            rows = [
                [t["feature"], _f(t["importance"]), _f(t["generated_mean"]), _f(t["real_mean"]), _f(t["effect_size_d"])]
                for t in top
            ]
            out.append(_table(["feature", "importance", "generated mean", f"{label} mean", "effect d"], rows))
    return out


def _emotion(r: dict[str, Any]) -> list[str]:
    em = r["emotion"]
    c = em["classifier"]
    test, cut, ag = c["test_whole_clips"], c["test_clips_cut_to_window"], em["agreement"]
    out = [
        "### 2. Emotion",
        f"Outside classifier ({c['chosen']}, EMOPIA train only: {c['n_train_clips']} clips + their first/last 30 s; "
        f"train CV by song "
        f"{c['cv_accuracy_train']}): EMOPIA test accuracy **{_pct(test['quadrant'])}** whole clips "
        f"(arousal {_pct(test['arousal'])}, valence {_pct(test['valence'])}), {_pct(cut.get('quadrant'))} on test "
        f"clips cut to {r['window_s']} s (n={cut.get('n')}); val {_pct(c['val_whole_clips']['quadrant'])}.",
        "",
        _table(
            ["agreement with manifest quadrants", "4 quadrants (goal >= 75%)", "arousal", "valence", "n"],
            [
                [
                    "generated",
                    f"**{_pct(ag.get('quadrant'))}**",
                    _pct(ag.get("arousal")),
                    _pct(ag.get("valence")),
                    ag["n"],
                ]
            ],
        ),
    ]
    if ag.get("confusion"):
        rows = [[f"true {q}", *ag["confusion"][i], _pct(ag["per_quadrant"].get(q))] for i, q in enumerate(QUADS)]
        out += ["", _table(["", "pred Q1", "pred Q2", "pred Q3", "pred Q4", "recall"], rows)]
    rows = [
        [
            q,
            m["n_generated"],
            _pct(m["generated_minor_share"]),
            m["n_emopia_testval"],
            _pct(m["emopia_testval_minor_share"]),
        ]
        for q, m in em["mode"].items()
    ]
    out += [
        "",
        "Key mode (own Krumhansl-Schmuckler):",
        "",
        _table(["quadrant", "n gen", "gen minor", "n EMOPIA", "EMOPIA test+val minor"], rows),
    ]
    rows = []
    for q, row in em["per_quadrant_summary"].items():
        for k in ("register", "density", "velocity", "polyphony"):
            v = row[k]
            iqr = f"{v['emopia_q1']:.2f} - {v['emopia_q3']:.2f} (median {v['emopia_median']:.2f})"
            rows.append([q, k, _f(v["generated_median"], 2), _pct(v["share_in_emopia_iqr"]), iqr])
    out += [
        "",
        "Per quadrant, against EMOPIA (all splits, whole clips): register = mean MIDI pitch, density = notes/s, "
        "velocity = mean MIDI velocity, polyphony = mean sounding notes (pedal-extended):",
        "",
        _table(["quadrant", "measure", "generated median", "share in EMOPIA IQR", "EMOPIA IQR"], rows),
    ]
    return out


def _structure(r: dict[str, Any]) -> list[str]:
    s = r["structure"]
    out = [
        f"### 3. Structure ({s['bars']} bars; {s['n_generated']} generated, {s['n_pop909_excerpts']} POP909 excerpts)",
        "",
    ]
    rows = []
    for k, v in s["measures"].items():
        goal = _f(v.get("within_25pct")) if "within_25pct" in v else ""
        rows.append([k, _f(v["generated"]), _f(v["pop909"]), _pct(v["relative_difference"]), _f(v.get("emopia")), goal])
    out.append(_table(["measure", "generated", "POP909", "rel. diff", "EMOPIA test+val", "within 25%"], rows))
    rows = []
    for k, d in s["durations_s"].items():
        if d.get("n_notes"):
            hist = " / ".join(f"{100 * h:.0f}" for h in d["hist"])
            rows.append([k, d["n_notes"], _f(d["median"]), f"{d['q1']:.3f} - {d['q3']:.3f}", hist])
    out += [
        "",
        "Note durations in seconds (pedal-extended); histogram % in bins 0/.125/.25/.5/1/2/4/inf s:",
        "",
        _table(["set", "notes", "median", "IQR", "histogram %"], rows),
    ]
    return out


def _hygiene(r: dict[str, Any]) -> list[str]:
    rows = [[k, v["total"], _pct(v["mean_share"]), v["pieces_with_any"]] for k, v in r["hygiene"].items()]
    return [
        "### 4. Hygiene (raw MIDI, piano tracks unless 'all tracks')",
        "",
        _table(["check", "notes", "mean share per piece", "pieces with any"], rows),
    ]


def markdown(r: dict[str, Any]) -> str:
    head = [
        f"## Music benchmark: {r['name']}",
        "",
        f"Folder `{r['folder']}`: {r['n_pieces']} pieces {r['quadrant_counts']}, median duration "
        f"{r['median_duration_s']:.1f} s. Runtime {r['runtime_s']}.",
        "",
    ]
    parts = head + _realism(r) + [""] + _emotion(r) + [""] + _structure(r) + [""] + _hygiene(r)
    return "\n".join(parts)


def compare_table(results: list[dict[str, Any]]) -> str:
    head = [
        "folder",
        "n",
        "dur s",
        "real. EMOPIA",
        "real. POP909",
        "sanity",
        "emotion",
        "arousal",
        "valence",
        "bar self-sim (POP909)",
        "4-bar rec. (POP909)",
        "mel. step",
        "dup.",
        "outside A1-C7",
        "> 2 bars",
    ]
    rows = []
    for r in results:
        re, ag, st, hy = r["realism"], r["emotion"]["agreement"], r["structure"]["measures"], r["hygiene"]
        bs, pr, ms = st["bar_self_similarity"], st["pattern4_recurrence"], st["melody_step_share"]
        rows.append(
            [
                r["name"],
                r["n_pieces"],
                f"{r['median_duration_s']:.1f}",
                _pct(re["vs_emopia_testval"].get("accuracy")),
                _pct(re["vs_pop909"].get("accuracy")),
                _pct(re["sanity_emopia_train_vs_testval"].get("accuracy")),
                _pct(ag.get("quadrant")),
                _pct(ag.get("arousal")),
                _pct(ag.get("valence")),
                f"{_f(bs['generated'])} ({_f(bs['pop909'])})",
                f"{_f(pr['generated'])} ({_f(pr['pop909'])})",
                f"{_f(ms['generated'])} ({_f(ms['pop909'])})",
                _pct(hy["duplicates"]["mean_share"]),
                _pct(hy["outside_a1_c7"]["mean_share"]),
                hy["longer_than_2_bars"]["total"],
            ]
        )
    return _table(head, rows)
