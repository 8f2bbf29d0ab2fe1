"""Analysis: the pipeline that drives the face and voice models over a clip (decoding, tracking and classifying in
overlapping threads, then fusing), and the cache that keeps a clip's timeline by content."""
