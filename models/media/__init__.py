"""Media: probing and decoding clips (PyAV), the shot cuts in their pictures, muxing the music into the video, and
the pictures a job draws."""
