"""moodscore: music for a video from the emotions on screen.

The installed import names are the project's own: ``moodscore.models`` (the core and its public API),
``moodscore.web``, ``moodscore.bots`` and ``moodscore.bridge``. In the repository these four are links to the
top-level folders of the same names (``models/``, ``web/``, ``bots/``, ``bridge/``); a wheel holds the files
themselves.
"""
