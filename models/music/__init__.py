"""Music: MIDI data loaders, features, the MIDI emotion judge."""
