"""BLAS threading for the engine's many small factorisations, safe across Python threads.

A mixed-model fit makes hundreds of calls on matrices of a few dozen rows; OpenBLAS's
threads cost more to wake than such calls take (cbpp: 0.25 s with 2 threads, 0.10 s with 1).
Small problems therefore run single-threaded; large ones keep the library's default.

The BLAS thread count is process-wide, so the guard is too: fits running in
several Python threads share one *mode* ("one" thread or the library's "default"). The first
fit to enter sets the mode, later fits in the same mode join it, fits wanting the other mode
wait until the last holder leaves, and the last one out restores the original limits. Each
fit thus runs entirely under the thread count it would have had alone, so concurrent fits
give exactly the sequential numbers. (A guard that each fit sets and restores on its own
restores the default while another thread's fit is still running, which changed a gam's
estimates by 1.3e-4, and left the process on one thread.) threadpoolctl lets one Python
thread own a pthreads OpenBLAS's count at a time; the guard takes and gives back that
ownership around each change it makes (see :func:`_release_control`), otherwise fits in
worker threads ran on every BLAS thread at once, 20-40 times slower.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from threadpoolctl import ThreadpoolController

#: problems with fewer latent + fixed columns than this run with one BLAS thread
SMALL = 1500
_controller: ThreadpoolController | None = None  # scanning loaded libraries costs ~3 ms

_cond = threading.Condition()
_mode: str | None = None  # "one", "default", or "nested" (one thread, exclusive)
_holders = 0  # fits (threads) currently inside a top-level guard
_limiter: Any = None  # threadpoolctl's limiter while the limit is applied
_local = threading.local()  # this thread's nesting depth and mode


def _get_controller() -> ThreadpoolController:
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def _release_control() -> None:
    """Let the next thread that sets OpenBLAS's count do so.

    threadpoolctl (>= 3.6) lets only one Python thread, the first to set a limit, change a
    pthreads OpenBLAS's process-wide count until that thread leaves a ``with`` block; a
    limit set without ``with`` keeps the ownership, and the other threads' changes are then
    silently dropped. Our changes are serialised by ``_cond``, so whichever thread makes
    one may take the ownership for it and give it back afterwards. Only our own ownership
    is given back: a user's thread inside ``with threadpool_limits(...)`` keeps its
    ownership, and its limits stand for every fit.
    """
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # pragma: no cover - older threadpoolctl: no ownership to release
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear()


def _apply_one() -> Any:
    _release_control()
    try:
        return _get_controller().limit(limits=1, user_api="blas")
    finally:
        _release_control()


def _restore(limiter: Any) -> None:
    _release_control()
    try:
        limiter.restore_original_limits()
    finally:
        _release_control()


@contextlib.contextmanager
def blas_threads_for(n_columns: int) -> Iterator[None]:
    """Limit BLAS to one thread for small systems (the library's default for large ones).

    Re-entrant: a guard inside a fit's guard in the same thread (the selected inverse of a
    large factor asks for one thread) does not wait for itself.

    Examples
    --------
    >>> with blas_threads_for(10):
    ...     pass
    """
    want = "one" if n_columns < SMALL else "default"
    depth = getattr(_local, "depth", 0)
    if depth:
        yield from _nested(want)
        return
    global _mode, _holders, _limiter
    with _cond:
        while _holders and _mode != want:
            _cond.wait()
        if _holders == 0 and want == "one":
            _limiter = _apply_one()
        _mode = want
        _holders += 1
    _local.depth, _local.mode = 1, want
    try:
        yield
    finally:
        _local.depth, _local.mode = 0, None
        with _cond:
            _holders -= 1
            if _holders == 0:
                if _limiter is not None:
                    _restore(_limiter)
                    _limiter = None
                _mode = None
                _cond.notify_all()


def _nested(want: str) -> Iterator[None]:
    """A guard inside this thread's guard: one thread inside a large fit's default mode is
    taken only when this fit is alone (it then holds the mode exclusively until done);
    otherwise the outer mode stands."""
    global _mode
    _local.depth += 1
    limiter = None
    try:
        if want == "one" and _local.mode == "default":
            with _cond:
                if _holders == 1 and _mode == "default":
                    _mode = "nested"  # nobody joins while the count is changed under them
                    limiter = _apply_one()
        yield
    finally:
        if limiter is not None:
            with _cond:
                _restore(limiter)
                _mode = "default"
                _cond.notify_all()
        _local.depth -= 1
