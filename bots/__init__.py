"""moodscore's Discord bot: /score and /compose."""

from moodscore.models import Command

# registered with `moodscore` through the "moodscore.commands" entry points (pyproject.toml)
DISCORD = Command(
    "the Discord bot (moodscore discord --help)", "moodscore.bots.discord_bot:main", needs=(("discord", "discord"),)
)
