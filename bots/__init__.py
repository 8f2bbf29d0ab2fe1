"""moodscore's Discord bot: /score and /compose."""

from models import Command

# registered with `moodscore` through the "moodscore.commands" entry points (pyproject.toml)
DISCORD = Command(
    "the Discord bot (moodscore discord --help)", "bots.discord_bot:main", needs=(("discord", "discord"),)
)
