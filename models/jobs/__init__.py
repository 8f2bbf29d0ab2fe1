"""Jobs: scoring, composing and rescoring as functions of files and options to an output folder, and the runner
that carries them to threads, local worker processes or Celery workers."""
