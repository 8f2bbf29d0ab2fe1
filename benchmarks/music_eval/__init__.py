"""Helpers of ``benchmarks/music_eval.py``, an independent music-quality benchmark for generated piano MIDI.

Nothing here imports the composer's or the old judge's feature code: the notes, features, key finder and tests
are this benchmark's own, so that it can grade the composer without sharing its blind spots.

- ``midi``: note arrays from MIDI (piano tracks only), sustain-pedal extension, cutting, hygiene counts.
- ``features``: beat-free composition features (pitch, intervals, rhythm, harmony, repetition) and the key finder.
- ``structure``: bar-grid measures (bar self-similarity, 4-bar recurrence) and note-duration distributions.
- ``stats``: song-grouped folds, the classifier two-sample test and the outside emotion classifier.
- ``refdata``: the real-music references (EMOPIA, POP909), cached under ``benchmarks/results/cache/``.
- ``report``: the Markdown tables.
"""
