"""Safe file output: nothing the user had is lost, no failure is silent.

Every file this layer writes (GeoTIFFs, figures) goes through :func:`atomic_path`:

1. the target is checked first: a path component that is a regular file, a target that is a
   directory, or an existing file without write permission (read from the mode bits, so the
   answer is the same for root, who bypasses them) is refused with an error naming it;
2. the data are written to a temporary file in the target's directory (same filesystem, so
   the final rename is atomic);
3. the caller verifies the temporary file (reopens and reads it back);
4. the temporary file and then its directory are flushed to disk (``fsync``);
5. ``os.replace`` puts it in place, with the old file's permission bits.

On any failure at any step the temporary file (and any side file a writer made next to it)
is removed and the old file is left byte-for-byte as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

#: Side files a writer may create next to the temporary file (GDAL's PAM metadata).
_SIDE_SUFFIXES = (".aux.xml",)


class FileWriteError(OSError):
    """Writing a file failed; the message says why and that the old file (if any) is intact."""


def check_suffix(path: str | os.PathLike, allowed: tuple[str, ...], what: str) -> Path:
    """``path`` as a Path, with an error naming the allowed extensions if it has another one."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise ValueError(
            f"{what}: {str(path)!r} must end in {' or '.join(allowed)} "
            f"(got {path.suffix or 'no extension'})"
        )
    return path


def user_may_write(st: os.stat_result) -> bool:
    """Whether the mode bits of a file let the current user write it.

    Root bypasses permissions, so for root a file counts as writable only when some write bit
    is set: a file made read-only (``chmod a-w``) is protected from every user alike.
    """
    mode = st.st_mode
    uid = os.geteuid()
    if uid == 0:
        return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    if st.st_uid == uid:
        return bool(mode & stat.S_IWUSR)
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return bool(mode & stat.S_IWGRP)
    return bool(mode & stat.S_IWOTH)


def check_target(path: Path, what: str) -> None:
    """Refuse a target that cannot or must not be replaced, naming the component at fault.

    Raises
    ------
    NotADirectoryError
        A parent component exists and is not a directory.
    IsADirectoryError
        The target itself is a directory.
    PermissionError
        The target exists and its mode bits do not let the user write it.
    """
    for parent in reversed(path.parents):  # from the root down: name the first bad component
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(
                f"{what}: cannot write {str(path)!r}: the path component {str(parent)!r} is a "
                "file, not a directory"
            )
    if path.is_dir():
        raise IsADirectoryError(f"{what}: {str(path)!r} is a directory, not a file")
    if path.exists():
        st = path.stat()
        if not user_may_write(st) or (os.geteuid() != 0 and not os.access(path, os.W_OK)):
            raise PermissionError(
                f"{what}: {str(path)!r} exists and is read-only (mode "
                f"{stat.filemode(st.st_mode)}); it was left unchanged. Make it writable "
                "(chmod u+w) or choose another path"
            )


def _make_parents(path: Path, what: str) -> None:
    """Create the missing parent directories, naming the one that cannot be created."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for parent in missing:
        try:
            parent.mkdir()
        except FileExistsError:
            if not parent.is_dir():  # created as a file meanwhile
                raise NotADirectoryError(
                    f"{what}: cannot write {str(path)!r}: {str(parent)!r} is not a directory"
                ) from None
        except OSError as err:
            raise FileWriteError(
                f"{what}: cannot write {str(path)!r}: the missing directory {str(parent)!r} "
                f"could not be created ({err.strerror or err})"
            ) from err


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(tmp: Path) -> None:
    for p in [tmp, *(tmp.with_name(tmp.name + s) for s in _SIDE_SUFFIXES)]:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(p)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, what: str = "output file") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, put it in place.

    The block writes (and should verify) the temporary file. Then it is fsynced, given the
    old file's permission bits, renamed over ``path`` with ``os.replace`` and the directory
    is fsynced. The target is checked before anything is written (see :func:`check_target`);
    missing parent directories are created; a symbolic link is followed (the file it points
    to is replaced, the link kept). The temporary name keeps the extension (so writers that
    look at it behave) and starts with a dot.

    Parameters
    ----------
    path : str or PathLike
        The target file.
    what : str
        What is being written, for error messages (e.g. ``'GeoTIFF'``).

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
    if path.is_symlink():  # replace the file the link points to, and keep the link
        path = path.resolve()
    check_target(path, what)
    _make_parents(path, what)
    old_mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else None
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.is_file():
            raise FileWriteError(f"{what}: the writer produced no file for {str(path)!r}")
        _fsync(tmp)
        if old_mode is not None:
            os.chmod(tmp, old_mode)
        os.replace(tmp, path)
    except BaseException as err:
        _remove_quietly(tmp)
        _report_failure(err, what, path, old_mode is not None, "no file was left behind")
        raise
    finally:
        _remove_quietly(tmp)  # side files a writer left even on success
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        _fsync(path.parent, directory=True)


def verify_figure_file(tmp: Path, fmt: str, target: str | os.PathLike) -> None:
    """Read a freshly saved figure back and check it is complete; else :class:`FileWriteError`.

    Raster images (png, jpg, tif, webp) are decoded in full with Pillow (a truncated file
    fails its checksums or ends early); PDF and PostScript must end with their ``%%EOF``
    marker; SVG must parse as XML; any other format must at least be non-empty.
    """
    fmt = fmt.lower()
    try:
        data = tmp.read_bytes()
        if not data:
            raise ValueError("the file is empty")
        if fmt in ("png", "jpg", "jpeg", "tif", "tiff", "webp"):
            from PIL import Image

            with Image.open(tmp) as img:
                img.load()
        elif fmt in ("pdf", "ps", "eps"):
            head = b"%PDF" if fmt == "pdf" else b"%!"
            if not data.startswith(head) or b"%%EOF" not in data[-1024:]:
                raise ValueError(f"no complete {fmt.upper()} document (missing %%EOF)")
        elif fmt in ("svg", "svgz"):
            import gzip
            import xml.etree.ElementTree as ET

            ET.fromstring(gzip.decompress(data) if fmt == "svgz" else data)
    except Exception as err:
        raise FileWriteError(
            f"save_figure: the {fmt} file written for {str(target)!r} cannot be read back "
            f"({type(err).__name__}: {err}); the write failed"
        ) from err


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, what: str = "output directory") -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; when the block succeeds, put it in place.

    The directory counterpart of :func:`atomic_path` (for Zarr stores): the block fills (and
    should verify) the temporary directory; its files and the directory are fsynced; an
    existing ``path`` is renamed aside, the new one renamed in and the old one removed. Two
    renames cannot be one atomic step, so for that instant ``path`` is absent, never partly
    written. On any failure the temporary directory is removed and an old ``path`` is kept.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "store.zarr"
    >>> with atomic_directory(target) as tmp:
    ...     _ = (tmp / "a").write_text("hello")
    >>> (target / "a").read_text()
    'hello'
    """
    import shutil

    path = Path(path)
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(
                f"{what}: cannot write {str(path)!r}: the path component {str(parent)!r} is a "
                "file, not a directory"
            )
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{what}: {str(path)!r} exists and is a file, not a directory")
    _make_parents(path, what)
    if not os.access(path.parent, os.W_OK):
        raise PermissionError(f"{what}: the directory {str(path.parent)!r} is not writable")
    tag = uuid.uuid4().hex[:12]
    tmp = path.with_name(f".{path.stem}.{tag}.tmp{path.suffix}")
    aside = path.with_name(f".{path.stem}.{tag}.old{path.suffix}")
    tmp.mkdir()
    existed = path.exists()
    try:
        yield tmp
        for root, _, files in os.walk(tmp):
            for f in files:
                _fsync(Path(root) / f)
            with contextlib.suppress(OSError):
                _fsync(Path(root), directory=True)
        if existed:
            os.replace(path, aside)
        try:
            os.replace(tmp, path)
        except BaseException:
            if existed:
                os.replace(aside, path)
            raise
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _report_failure(err, what, path, existed, "nothing was left behind")
        raise
    shutil.rmtree(aside, ignore_errors=True)
    with contextlib.suppress(OSError):
        _fsync(path.parent, directory=True)


def _report_failure(err: BaseException, what: str, path: Path, existed: bool,
                    nothing: str) -> None:
    """Say which target failed and that nothing was lost: an OS error from a writer (EFBIG,
    ENOSPC, EIO) names the temporary file or nothing, so it is raised again as a
    FileWriteError naming the target (errno kept); other errors get a note."""
    kept = f"the existing {str(path)!r} was left unchanged" if existed else nothing
    if isinstance(err, OSError) and not isinstance(err, FileWriteError):
        wrapped = FileWriteError(
            f"{what}: writing {str(path)!r} failed ({err.strerror or err}); {kept}")
        wrapped.errno = err.errno
        raise wrapped from err
    if isinstance(err, Exception):
        err.add_note(f"{what}: {kept}")
