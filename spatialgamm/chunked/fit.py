"""Fitting out of core: the front doors' path for a dask DataFrame or a Parquet dataset.

    source    = open_source(data)                    # metadata only; bad paths refused here
    template  = set_up(formula, source, ...)         # pass 1: ranges and levels (light)
                                                     # pass 2: smooth constraints (if any)
    objective = Chunked{Gaussian,Laplace}Objective   # passes of sufficient statistics
    summary   = optimize(objective, ...)             # the engine's optimiser, unchanged

Partitions are read and reduced on dask's scheduler: a ``distributed.Client`` when one is
active (a local cluster, or a cluster of machines: the same code), else dask's threads.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..engine.objective import POLISH_MAX_Q
from ..engine.optimize import POLISH_TOL, optimize
from ..engine.system import LatentSystem
from ..engine.threads import blas_threads_for
from ..errors import DataError
from ..families import get_family
from ..formula.parse import parse_formula
from ..model import build_model
from .design import (
    SAMPLE_ROWS,
    ModelTemplate,
    _tensor_of,
    model_columns,
    refuse_unsupported,
    setup_rows,
    smooth_sums,
    sum_functions,
    ti_sum_functions,
    with_data_constraints,
)
from .objective import (
    ChunkedGaussianObjective,
    ChunkedLaplaceObjective,
    cross_products,
    data_start,
)
from .passes import CHUNK_ROWS, State, gaussian_pass, pirls_pass, run_pass
from .result import ChunkedFit
from .source import ChunkedSource, check_columns, check_partition, open_source


def _setup_part(part: Any, columns: tuple, head: int) -> tuple:
    """Pass 1 on one partition: its set-up rows, first rows, dtypes and row count."""
    df = part.load() if hasattr(part, "load") else part
    lacking = [c for c in columns if c not in df.columns]
    if lacking:
        return None, None, {}, 0, lacking
    d = df[list(columns)]
    return (setup_rows(d, columns), d.iloc[:head], {c: d[c].dtype for c in columns}, len(d),
            [])


def set_up(formula: str, source: ChunkedSource, family: Any, weights: Any, offset: Any,
           na_action: str, env: dict, control: Any, sample_rows: int = SAMPLE_ROWS
           ) -> ModelTemplate:
    """Check the data and build the model's structure from two passes (module
    :mod:`~spatialgamm.chunked.design`)."""
    import dask
    pf = parse_formula(formula, env)
    columns = model_columns(pf, source.names, weights, offset)
    check_columns(source, columns)
    parts = dask.compute(*[dask.delayed(_setup_part)(source.delayed(i, columns),
                                                     tuple(columns), sample_rows if i == 0
                                                     else 0)
                           for i in range(source.n_partitions)])
    dtypes0: dict = {}
    picked = []
    n = 0
    for i, (rows, head, dtypes, n_i, lacking) in enumerate(parts):
        where = source.label(i)
        if lacking:
            raise DataError(f"{where} lacks column(s) {lacking} that the model uses")
        if not dtypes0:
            dtypes0 = dtypes
        else:
            check_partition(rows, columns, dtypes0, where)
        picked.extend([head, rows] if i == 0 else [rows])
        n += n_i
    if n == 0:
        raise DataError("the data have no rows")
    frame = pd.concat(picked, ignore_index=True)
    for c, dt in dtypes0.items():  # text columns: the levels of every partition
        if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt)):
            frame[c] = frame[c].astype(object)
    spec = build_model(formula, frame, family, offset=offset, weights=weights,
                       na_action=na_action, env=env, control=control)
    blocks = spec.blocks
    refuse_unsupported(blocks)
    fns = sum_functions(spec)
    if fns:
        sums = run_pass(source, columns, _sums_part, fns, spec, weights, offset, na_action).d
        ti_fns = ti_sum_functions(spec, sums)  # ti: margins constrained, then the whole's
        ti_sums = (run_pass(source, columns, _sums_part, ti_fns, spec, weights, offset,
                            na_action).d if ti_fns else None)
        blocks = with_data_constraints(spec, sums, ti_sums)
    return ModelTemplate(spec, blocks, columns, weights, offset, na_action)


def _sums_part(part: Any, key: Any, fns: dict, spec: Any, weights: Any, offset: Any,
               na_action: str) -> _Sums:
    df = part.load() if hasattr(part, "load") else part
    return _Sums(smooth_sums(fns, df, spec, weights, offset, na_action))


@dataclass
class _Sums:
    """Column sums and the largest row sum of each smooth's raw basis (``+`` reduces)."""

    d: dict

    def __add__(self, o: _Sums) -> _Sums:
        return _Sums({k: (v[0] + o.d[k][0], max(v[1], o.d[k][1])) for k, v in self.d.items()})


def fit_chunked(formula: str, data: Any, family: Any = "gaussian", method: str = "REML",
                weights: Any = None, offset: Any = None, na_action: str = "omit",
                env: dict | None = None, control: Any = None,
                chunk_rows: int = CHUNK_ROWS, sample_rows: int = SAMPLE_ROWS) -> ChunkedFit:
    """Fit ``formula`` to data that does not fit in one process (see module docstring).

    Parameters
    ----------
    formula : str
        Fixed effects, ``s()`` smooths (single penalty), ``te()`` and ``ti()`` tensor
        products (without ``by=``), ``hsgp()`` and ``spde()`` terms, lme4 bars.
    data : dask DataFrame, Parquet path (file or directory), or pyarrow dataset
    family : str or Family
        Gaussian, Poisson or binomial (families without a dispersion parameter to estimate).
    method : {"REML", "ML"}
        Marginal likelihood (Laplace approximate for non-Gaussian families, with ``beta``
        at the joint mode; REML integrates it out too: mgcv's LAML).
    chunk_rows : int
        Rows of a partition processed at a time (a worker's memory is about
        ``chunk_rows x (p + q)`` doubles).

    Examples
    --------
    >>> import numpy as np, pandas as pd, dask.dataframe as dd
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"x": rng.uniform(size=400)})
    >>> d["y"] = np.sin(6 * d.x) + rng.normal(scale=0.3, size=400)
    >>> m = fit_chunked("y ~ s(x, bs='ps')", dd.from_pandas(d, npartitions=4))
    >>> m.n, round(m.sigma, 1)
    (400, 0.3)
    """
    t0 = time.perf_counter()
    fam = get_family(family)
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"out-of-core fits use method 'REML' or 'ML' (marginal likelihood), "
                         f"got {method!r}")
    if not fam.is_gaussian_identity and not fam.scale_known:
        raise NotImplementedError(f"family {fam.name!r} has a dispersion parameter to "
                                  "estimate: out-of-core fits take Gaussian (identity link), "
                                  "Poisson and binomial data")
    source = open_source(data)
    tmpl = set_up(formula, source, fam, weights, offset, na_action, dict(env or {}), control,
                  sample_rows)
    timing = {"setup": time.perf_counter() - t0}
    system = LatentSystem(tmpl.blocks, len(tmpl.spec.y))
    # one BLAS thread for small systems, as the in-memory fits (engine/threads.py)
    with blas_threads_for(tmpl.p + system.q):
        out = _estimate(source, tmpl, system, fam, method, chunk_rows, timing)
    summary, beta, u, b, sigma, crit, n, passes, cross, pls = out
    timing["total"] = time.perf_counter() - t0
    names = list(tmpl.spec.x_names)
    return ChunkedFit(formula=formula, family=fam, method=method, phi=summary.x,
                      beta=pd.Series(beta, index=names), b=b, u=u, sigma=sigma,
                      criterion=crit, n=n, optinfo=summary, template=tmpl,
                      n_partitions=source.n_partitions, n_passes=passes, timing=timing,
                      cross=cross, pls=pls, latent_scale=1.0 if sigma is None else sigma ** 2)


def _estimate(source: ChunkedSource, tmpl: ModelTemplate, system: LatentSystem, fam: Any,
              method: str, chunk_rows: int, timing: dict) -> tuple:
    """The passes of statistics and the search: ``(summary, beta, u, b, sigma, criterion,
    n, passes, cross-products at the optimum, its PLS solution)``."""
    space = system.parameter_space()
    ctl = tmpl.spec.control
    reml = method == "REML"
    p = tmpl.p
    t1 = time.perf_counter()
    if fam.is_gaussian_identity:
        st = run_pass(source, tmpl.columns, gaussian_pass, tmpl, chunk_rows)
        timing["statistics"] = time.perf_counter() - t1
        if st.n - p <= 0:
            raise ValueError(f"no residual degrees of freedom: {st.n} rows, {p} columns")
        obj = ChunkedGaussianObjective(system, st, p, reml)
        dense_a = obj.solver.backend == "dense"
        t2 = time.perf_counter()
        # the in-memory plan's search and polish (engine.objective.default_plan), so that
        # both end at one point of a flat optimum
        polish = dict(polish_tol=POLISH_TOL) if dense_a or system.q <= POLISH_MAX_Q else {}
        summary = optimize(obj, data_start(system, st), space, boundary=system.at_boundary,
                           fg=obj.value_and_grad if dense_a else None, **polish,
                           **ctl.optimizer_kwargs())
        r = obj.solve(summary.x)
        beta, u, b = r.beta, r.u, r.b()
        sigma = float(np.sqrt(obj.sigma2(r)))
        crit, n, passes = float(summary.fun), st.n, 2 + _has_sums(tmpl)
        cross, pls = obj.cp, r
    else:
        run = functools.partial(_pirls_run, source, tmpl, chunk_rows, fam)
        obj = ChunkedLaplaceObjective(system, run, p, fam, reml)
        timing["statistics"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        start = data_start(system, obj.init_stats)
        summary = optimize(obj, start, space, boundary=system.at_boundary,
                           check_hessian=reml, fd_eps=1e-6, polish=True, gtol=ctl.gtol,
                           maxiter=ctl.maxiter, scaled_tol=ctl.check_conv_grad_tol)
        mode = obj.pirls(summary.x)
        beta, u, b = mode.beta, mode.u, mode.b
        sigma, crit, n = None, obj.laplace(mode), obj.n
        passes = obj.n_passes + 1 + _has_sums(tmpl)
        pls = mode.pls
        cross = cross_products(obj.mode_stats, obj.solver.dense, p)  # at the mode's weights
    timing["optimise"] = time.perf_counter() - t2
    return summary, beta, u, b, sigma, crit, n, passes, cross, pls


def _has_sums(t: ModelTemplate) -> int:
    """The set-up's passes of sums (a second one for ``ti()``'s)."""
    fns = sum_functions(t.spec)
    return bool(fns) + any(_tensor_of(b) is not None and _tensor_of(b).inter
                           for b in t.spec.blocks)


def _pirls_run(source: ChunkedSource, tmpl: ModelTemplate, chunk_rows: int, fam: Any,
               cur: State, cand: State, want_cp: bool) -> Any:
    return run_pass(source, tmpl.columns, pirls_pass, tmpl, chunk_rows, fam, 1.0, cur, cand,
                    want_cp)
