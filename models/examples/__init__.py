"""The bundled example clip (``example.mp4``: a face and speech whose emotion changes), package data so that
``moodscore demo`` works from any install. Made by ``python tests/data/make_example.py models/examples/example.mp4``."""
