"""moodscore's OSC bridge: the server (bridge.server), the client (bridge.client), Ableton (bridge.ableton).

The address space is documented in bridge/PROTOCOL.md.
"""

from moodscore.models import Command

# registered with `moodscore` through the "moodscore.commands" entry points (pyproject.toml)
OSC = (("pythonosc", "bridge"),)
SERVER = Command(
    "the OSC bridge for REAPER and Ableton Live (moodscore bridge --help)", "moodscore.bridge.server:main", OSC
)
CLIENT = Command("send one request to the OSC bridge and print the reply", "moodscore.bridge.client:main", OSC)
SEND = Command(
    "compose and put the MIDI on a DAW track (moodscore send ableton --help)", "moodscore.bridge.send:main", OSC
)
