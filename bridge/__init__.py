"""moodscore's OSC bridge: the server (bridge.server), the client (bridge.client), Ableton (bridge.ableton).

The address space is documented in bridge/PROTOCOL.md.
"""
