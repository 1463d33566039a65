"""NUTS through nutpie, driven by a numpy/scipy log density and its gradient.

nutpie (Seyboldt et al.; Rust, Stan's NUTS with its own mass-matrix adaptation) takes a
Python callback returning ``(logp, gradient)``, so the engine's numpy/scipy/CHOLMOD code is
used as it is, with no port of the model to JAX or PyTensor (docs/BAYES_MCMC.md compares the
options). Each chain is one ``nutpie.sample`` call with its own seed, so a chain's draws do not
depend on how many processes run them; chains run in parallel worker processes (the callback
holds the GIL, so threads would not run in parallel), and a progress bar counts iterations
(warm-up included) of all chains through a counter the workers share.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

#: iterations done by all chains of the current run (shared with forked workers)
_PROGRESS = None


def _tick(k: int = 1) -> None:
    if _PROGRESS is not None:
        with _PROGRESS.get_lock():
            _PROGRESS.value += k


#: nutpie's sample statistics under ArviZ's names
_STATS = {"diverging": "diverging", "depth": "tree_depth", "n_steps": "n_steps",
          "energy": "energy", "step_size": "step_size", "mean_tree_accept": "acceptance_rate",
          "logp": "lp", "maxdepth_reached": "reached_max_treedepth"}


@dataclass(frozen=True)
class ChainSettings:
    """Warm-up, kept draws, thinning and seed of one run (the same for every chain)."""

    draws: int = 1000
    warmup: int = 1000
    thin: int = 1
    seed: int = 0
    max_treedepth: int = 10
    target_accept: float = 0.8

    def __post_init__(self) -> None:
        for name in ("draws", "thin"):
            v = getattr(self, name)
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.warmup, (int, np.integer)) and self.warmup >= 0):
            raise ValueError(f"warmup must be a non-negative integer, got {self.warmup!r}")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"target_accept must be in (0, 1), got {self.target_accept!r}")


def chain_seed(seed: int, chain: int) -> int:
    """A chain's seed from the run's seed (independent streams via numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(seed), int(chain)]).generate_state(1)[0])


def _nutpie_model(density: Any, init: np.ndarray, jitter: np.ndarray):
    from nutpie.compiled_pyfunc import from_pyfunc

    dim = density.dim

    def make_logp():
        def logp(x, **_):
            return density.logp_grad(np.asarray(x, dtype=float))
        return logp

    def make_expand(seed1, seed2, chain):
        count = [0]

        def expand(x, **_):  # called once per iteration, warm-up included
            count[0] += 1
            if count[0] == 25:
                _tick(25)
                count[0] = 0
            return {"x": np.array(x, dtype=float)}
        return expand

    def initial_point(seed):
        # Stan-like random inits, but around a sensible start (not uniform(-2, 2) on raw
        # units, which would put an intercept of 300 ms far out in the tails)
        rng = np.random.default_rng(seed)
        return init + jitter * rng.uniform(-1, 1, size=dim)

    return from_pyfunc(dim, make_logp, make_expand, [np.dtype("float64")], [(dim,)], ["x"],
                       make_initial_point_fn=initial_point)


def run_chain(density: Any, chain: int, settings: ChainSettings, init: np.ndarray,
              jitter: np.ndarray) -> dict[str, np.ndarray]:
    """One NUTS chain: the kept (thinned) draws of the parameter vector and the statistics."""
    import nutpie
    from threadpoolctl import threadpool_limits

    model = _nutpie_model(density, init, jitter)
    # the density's matrices are small: BLAS threads only contend with the other chains
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        tr = nutpie.sample(model, draws=settings.draws * settings.thin, tune=settings.warmup,
                           chains=1, cores=1, seed=chain_seed(settings.seed, chain),
                           progress_bar=False, save_warmup=False,
                           maxdepth=settings.max_treedepth,
                           target_accept=settings.target_accept,
                           # a density may ask for nutpie's low-rank mass matrix correction
                           # (a linear ridge, e.g. an intercept against a centred field)
                           low_rank_modified_mass_matrix=bool(
                               getattr(density, "low_rank_mass_matrix", False)))
    keep = slice(settings.thin - 1, None, settings.thin)
    out = {"x": np.asarray(tr.posterior["x"].values[0])[keep]}
    for k, v in _STATS.items():
        if k in tr.sample_stats:
            out[v] = np.asarray(tr.sample_stats[k].values[0])[keep]
    return out


def _worker(args):
    density, chain, settings, init, jitter = args
    try:
        return chain, run_chain(density, chain, settings, init, jitter)
    except BaseException as e:  # noqa: BLE001 - nutpie's Rust panics are BaseExceptions
        # a worker that dies leaves multiprocessing's pool waiting forever: hand the error
        # back instead, re-raised in the parent
        return chain, _ChainError(f"chain {chain}: {type(e).__name__}: {e}")


class _ChainError:
    def __init__(self, message: str) -> None:
        self.message = message


def run_chains(density: Any, chains: int, settings: ChainSettings, init: np.ndarray,
               jitter: np.ndarray, cores: int | None = None,
               progress: bool = True) -> list[dict[str, np.ndarray]]:
    """``chains`` NUTS chains, in up to ``cores`` worker processes (1: in this process)."""
    if not (isinstance(chains, (int, np.integer)) and chains >= 1):
        raise ValueError(f"chains must be a positive integer, got {chains!r}")
    cores = min(chains, cores or os.cpu_count() or 1)
    if cores < 1:
        raise ValueError(f"cores must be at least 1, got {cores!r}")
    import nutpie  # noqa: F401  - imported once here, inherited by the forked workers

    # one evaluation here compiles (or loads from numba's cache) the density's kernel before
    # the fork: the workers inherit the machine code instead of each initialising LLVM after
    # a fork, which can deadlock, and the compile time is paid once
    density.logp_grad(np.asarray(init, dtype=float))

    jobs = [(density, c, settings, init, jitter) for c in range(chains)]
    total = chains * (settings.warmup + settings.draws * settings.thin)
    out = _map(_worker, jobs, cores, progress, total)
    for r in out:
        if isinstance(r, _ChainError):
            raise RuntimeError(f"NUTS failed in {r.message}")
    return out


def _map(fn, jobs: list, cores: int, progress: bool, total: int) -> list:
    """``fn`` over ``jobs`` (each returning ``(index, result)``), results in index order;
    the progress bar shows the iterations the workers report through :func:`_tick`."""
    from tqdm.auto import tqdm

    global _PROGRESS
    # fork: the density (arrays, sparse matrices) and the counter are inherited
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    _PROGRESS = ctx.Value("q", 0)
    results: dict[int, Any] = {}
    bar = tqdm(total=total, desc="sampling", unit="it", disable=not progress, leave=False)

    def refresh() -> None:
        bar.update(min(_PROGRESS.value, total) - bar.n)
    try:
        if cores == 1:
            for j in jobs:
                i, r = fn(j)
                results[i] = r
                refresh()
        else:
            with ctx.Pool(cores) as pool:
                it = pool.imap_unordered(fn, jobs)
                while len(results) < len(jobs):
                    try:
                        i, r = it.next(timeout=0.25)
                        results[i] = r
                    except mp.TimeoutError:
                        pass
                    refresh()
        bar.update(total - bar.n)
    finally:
        bar.close()
        _PROGRESS = None
    return [results[i] for i in range(len(jobs))]
