"""BLAS threading for the engine's many small factorisations.

A mixed-model fit makes hundreds of calls on matrices of a few dozen rows; OpenBLAS's
threads cost more to wake than such calls take (cbpp: 0.25 s with 2 threads, 0.10 s with 1).
Small problems therefore run single-threaded; large ones keep the library's default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from threadpoolctl import ThreadpoolController

#: problems with fewer latent + fixed columns than this run with one BLAS thread
SMALL = 1500
_controller: ThreadpoolController | None = None  # scanning loaded libraries costs ~3 ms


def _get_controller() -> ThreadpoolController:
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


@contextlib.contextmanager
def blas_threads_for(n_columns: int) -> Iterator[None]:
    """Limit BLAS to one thread for small systems (a no-op for large ones)."""
    if n_columns < SMALL:
        with _get_controller().limit(limits=1, user_api="blas"):
            yield
    else:
        yield
