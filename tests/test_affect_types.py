"""The emotion vocabulary and the Timeline contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from moodscore.models import affect
from moodscore.models.types import Emotion, Segment, Timeline


def test_every_class_point_lies_in_its_quadrant() -> None:
    for name in affect.CLASSES:
        v, a = affect.CLASS_VA[name]
        assert affect.quadrant_of_va(v, a) == affect.QUADRANT_OF_CLASS[name], name
        assert -1 <= v <= 1 and -1 <= a <= 1


@pytest.mark.parametrize("q", affect.QUADRANTS)
def test_quadrant_va_round_trip(q: str) -> None:
    assert affect.quadrant_of_va(*affect.quadrant_va(q)) == q


def test_quadrant_va_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="Q5"):
        affect.quadrant_va("Q5")


def test_fer_mapping_keeps_probability_and_gives_calm_nothing() -> None:
    rng = np.random.default_rng(0)
    fer = rng.dirichlet(np.ones(7), size=5)
    mapped = affect.fer_to_classes(fer)
    assert mapped.shape == (5, 8)
    np.testing.assert_allclose(mapped.sum(axis=1), 1.0)
    assert np.all(mapped[:, affect.CLASS_INDEX["calm"]] == 0)
    # FER 'fear' (index 2) goes to 'fearful'
    assert affect.fer_to_classes(np.eye(7)[2])[affect.CLASS_INDEX["fearful"]] == 1.0


def test_emotion_from_probs_takes_the_quadrant_of_the_most_probable_class() -> None:
    def probs(**kw: float) -> np.ndarray:
        p = np.zeros(8)
        for name, x in kw.items():
            p[affect.CLASS_INDEX[name]] = x
        return p

    e = Emotion.from_probs(probs(happy=0.45, surprised=0.15, sad=0.4))
    assert e.quadrant == "Q1" and e.confidence == pytest.approx(0.6) and e.label == "happy"
    # an unsure sad face: Q2's three classes hold more mass (0.46) than sad (0.31), but sad is the most probable
    e = Emotion.from_probs(probs(sad=0.31, angry=0.22, fearful=0.24, neutral=0.15, happy=0.08))
    assert (e.quadrant, e.label) == ("Q3", "sad") and e.confidence == pytest.approx(0.31)
    assert e.valence < 0 and e.arousal < 0  # the point is moved into the quadrant
    assert affect.quadrant_scores(np.array(e.probs), "mass").argmax() == affect.QUADRANTS.index("Q2")
    with pytest.raises(ValueError):
        Emotion.from_probs(np.zeros(8))
    with pytest.raises(ValueError):
        Emotion.from_probs(np.ones(7))


def _timeline() -> Timeline:
    e1 = Emotion.from_probs(np.eye(8)[2] * 0.9 + 0.1 / 8)
    e2 = Emotion.from_probs(np.eye(8)[3] * 0.7 + 0.3 / 8)
    return Timeline(
        duration_s=7.5,
        segments=(Segment(0.0, 3.25, e1, face=e1, voice=None), Segment(3.25, 7.5, e2, face=e2, voice=e2)),
    )


def test_timeline_json_round_trip_is_lossless_and_has_the_documented_shape() -> None:
    tl = _timeline()
    data = json.loads(tl.to_json())
    assert set(data) >= {"duration_s", "segments"}
    seg = data["segments"][0]
    assert set(seg) >= {"start_s", "end_s", "quadrant", "label", "valence", "arousal", "confidence", "modalities"}
    assert seg["modalities"]["voice"] is None and seg["modalities"]["face"]["label"] == "happy"
    back = Timeline.from_json(tl.to_json())
    assert back == tl
    assert back.segments[1].voice == tl.segments[1].voice


def test_timeline_rejects_gaps_and_overlaps() -> None:
    e = Emotion.from_probs(np.ones(8))
    with pytest.raises(ValueError, match="contiguous"):
        Timeline(duration_s=4, segments=(Segment(0, 2, e), Segment(2.5, 4, e)))
    with pytest.raises(ValueError, match="start at 0"):
        Timeline(duration_s=4, segments=(Segment(0, 3, e),))
    with pytest.raises(ValueError):
        Segment(2, 2, e)


def test_a_segments_quadrant_label_and_point_never_contradict_each_other() -> None:
    """With surprised pulling the mean up, a Q4 'neutral' segment once carried arousal +0.35 (a Q1 point)."""
    import numpy as np

    from moodscore.models import affect
    from moodscore.models.types import Emotion

    rng = np.random.default_rng(0)
    for alpha in (0.2, 1.0, 5.0):
        for p in rng.dirichlet([alpha] * affect.N_CLASSES, size=500):
            e = Emotion.from_probs(p)
            assert affect.quadrant_of_va(e.valence, e.arousal) == e.quadrant
            assert affect.QUADRANT_OF_CLASS[e.label] == e.quadrant
    p = np.zeros(affect.N_CLASSES)
    p[[affect.CLASS_INDEX["neutral"], affect.CLASS_INDEX["surprised"], affect.CLASS_INDEX["calm"]]] = 0.4, 0.35, 0.25
    e = Emotion.from_probs(p)
    assert (e.quadrant, e.label) == ("Q4", "neutral") and e.valence > 0 and e.arousal == -0.05
