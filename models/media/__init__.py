"""Media: probing and decoding clips (PyAV), muxing the music into the video, and the pictures a job draws."""
