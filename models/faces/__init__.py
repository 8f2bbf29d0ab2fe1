"""Faces: finding and following them in the frames (MediaPipe's landmarker, a tiled search for small faces), aligning
each crop the way the expression network was trained, reading its expression, and choosing which face carries each
shot."""
