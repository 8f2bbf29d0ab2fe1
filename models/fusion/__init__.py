"""Fusion: the face's and the voice's per-window probabilities combined, calibrated and smoothed into a Timeline."""
