"""moodscore's Gradio web demo: score a clip or compose without one, in the browser."""

from moodscore.models import Command

# registered with `moodscore` through the "moodscore.commands" entry points (pyproject.toml)
WEB = Command("the Gradio web demo (moodscore web --help)", "moodscore.web.app:main", needs=(("gradio", "web"),))
