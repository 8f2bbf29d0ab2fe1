"""Analysis: the pipeline that drives the face and voice models over a clip (decoding, tracking and classifying in
overlapping threads), the shot cuts it finds on the way, and the cache that keeps a clip's timeline by content."""
