"""Voices: where people speak (voice activity), the frozen Whisper encoder's features of that speech, and the small
head that reads an emotion from them."""
