"""Atomic file output: write to a temporary name in the target directory, then rename.

``os.replace`` within one directory is atomic, so a reader (or a crash) never sees a
half-written map; on any error the temporary file is removed and the target left untouched.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def check_suffix(path: str | os.PathLike, allowed: tuple[str, ...], what: str) -> Path:
    """``path`` as a Path, with an error naming the allowed extensions if it has another one."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise ValueError(
            f"{what}: {str(path)!r} must end in {' or '.join(allowed)} "
            f"(got {path.suffix or 'no extension'})"
        )
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    Parent directories are created. The temporary name keeps the extension (so writers that
    look at it behave) and starts with a dot.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "sub" / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
