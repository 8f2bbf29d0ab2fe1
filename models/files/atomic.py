"""Writing a result file atomically: into a temporary name beside it, renamed into place only on success."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from moodscore.models.errors import MoodscoreError, OutputError


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike[str],
    *,
    suffix: str = ".part",
    errors: tuple[type[BaseException], ...] = (OSError,),
) -> Iterator[str]:
    """Yield a temporary path in ``path``'s folder; when the block succeeds it becomes ``path`` (mode 0644).

    On any failure the temporary file is removed and nothing is left behind; exceptions of the types in
    ``errors`` (other than moodscore's own, which pass as they are) become :class:`OutputError`.
    """
    out = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=suffix)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are ordinary files
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, errors) and not isinstance(exc, MoodscoreError):
            raise OutputError(f"cannot write {out}: {exc}") from exc
        raise
