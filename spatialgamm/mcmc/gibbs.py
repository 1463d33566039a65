"""The lecture notes' Gibbs sampler for Gaussian linear mixed models.

Model (random effects as latent data; per bar term k, level l)::

    y | beta, b, tau ~ N(X beta + Z b, tau^-1 I)
    b_kl | Omega_k   ~ N(0, Omega_k^-1)                 (nc_k-vector per level)
    beta             ~ N(m0, s0^2 I)
    tau              ~ Gamma(a, b)        (shape a, rate b; Ga(1, 0.005), Ga(0.001, 0.001))
    Omega_k          ~ Wishart(nu, S)     (E Omega = nu S)

Full conditionals (conjugacy):

* ``(beta, b) | tau, Omega, y ~ N(Q^-1 r, Q^-1)`` with
  ``Q = tau [X Z]'[X Z] + blockdiag(I / s0^2, I_L (x) Omega_k)`` and
  ``r = tau [X Z]' y + (m0 / s0^2, 0)``: beta and b drawn jointly in one block (the notes'
  separate beta | b and b | beta steps have the same stationary law but mix slowly when the
  intercept and the random intercepts are correlated, as in sleepstudy);
* ``tau | beta, b, y ~ Gamma(a + n/2, b + ||y - X beta - Z b||^2 / 2)``;
* ``Omega_k | b ~ Wishart(nu + L_k, (S^-1 + sum_l b_kl b_kl')^-1)``.

The same priors in :func:`spatialgamm.brm` (``normal`` on ``b`` with ``center=False``,
``gamma_precision(a, b)`` on ``sigma``, ``wishart_precision(nu, s)`` on ``cov``) give NUTS the
same posterior, which the tests check.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy import stats

from .draws import assemble_idata, coef_label
from .engine_adapter import ModelData, model_data
from .fit import BrmsFit
from .priors import Prior, prior
from .sampler import _map, _tick, chain_seed


def _chain(args) -> tuple[int, dict[str, np.ndarray]]:
    md, chain, iters, warmup, thin, seed, hyper = args
    m0, s0, a, b0, nu, S = hyper
    rng = np.random.default_rng(chain_seed(seed, chain))
    X, Z, y = md.X, md.Z.toarray(), md.y - md.offset
    n, p, q = md.n, md.p, md.q
    W = np.hstack([X, Z])
    WtW, Wty = W.T @ W, W.T @ y
    prior_prec = np.zeros(p + q)
    prior_prec[:p] = 1.0 / s0 ** 2
    tau = 1.0 / np.var(y)
    Omegas = [np.eye(t.nc) / np.var(y) for t in md.terms]
    Sinv = [np.linalg.inv(np.diag(np.broadcast_to(S, (t.nc,)))) for t in md.terms]
    keep = (iters - warmup) // thin
    out = {"beta": np.empty((keep, p)), "b": np.empty((keep, q)), "tau": np.empty(keep),
           "Sigma": [np.empty((keep, t.nc, t.nc)) for t in md.terms]}
    k = 0
    for it in range(iters):
        # (beta, b) | tau, Omega: one Gaussian block
        Q = tau * WtW
        Q[np.diag_indices(p)] += prior_prec[:p]
        for t, Om in zip(md.terms, Omegas):
            o = p + t.col.start
            for lev in range(t.n_levels):
                i = o + lev * t.nc
                Q[i:i + t.nc, i:i + t.nc] += Om
        rhs = tau * Wty
        rhs[:p] += m0 * prior_prec[:p]
        L = sla.cholesky(Q, lower=True, check_finite=False)
        mean = sla.cho_solve((L, True), rhs, check_finite=False)
        theta = mean + sla.solve_triangular(L, rng.standard_normal(p + q), lower=True,
                                            trans="T", check_finite=False)
        beta, bvec = theta[:p], theta[p:]
        # tau | beta, b
        res = y - W @ theta
        tau = rng.gamma(a + n / 2, 1.0 / (b0 + 0.5 * float(res @ res)))
        # Omega_k | b_k
        for j, t in enumerate(md.terms):
            B = bvec[t.col].reshape(t.n_levels, t.nc)
            scale = np.linalg.inv(Sinv[j] + B.T @ B)
            Omegas[j] = np.atleast_2d(stats.wishart.rvs(df=nu + t.n_levels, scale=scale,
                                                        random_state=rng))
        if it % 25 == 24:
            _tick(25)
        if it >= warmup and (it - warmup + 1) % thin == 0:
            out["beta"][k], out["b"][k], out["tau"][k] = beta, bvec, tau
            for j in range(len(md.terms)):
                out["Sigma"][j][k] = np.linalg.inv(Omegas[j])
            k += 1
    return chain, out


def gibbs_lmm(formula: str, data: pd.DataFrame, beta_prior: tuple[float, float] = (0.0, 1e3),
              tau_prior: tuple[float, float] = (1.0, 0.005),
              wishart: tuple[float, float | list[float]] = (3.0, 1.0),
              chains: int = 4, iter: int = 2000, warmup: int | None = None, thin: int = 1,
              seed: int | None = None, cores: int | None = None,
              progress: bool = True) -> BrmsFit:
    """Sample a Gaussian LMM with the lecture notes' Gibbs sampler.

    Parameters
    ----------
    formula : str
        ``y ~ fixed + (expr | group) ...`` (Gaussian, identity link, lme4 bars only).
    beta_prior : (mean, sd)
        Independent normal prior on every fixed effect (R's coefficients, not centred).
    tau_prior : (shape, rate)
        Gamma prior on the residual precision (the notes use Ga(1, 0.005) and
        Ga(0.001, 0.001)).
    wishart : (nu, s)
        Wishart(nu, S) prior on each group's random-effect precision matrix, ``S = s I`` or
        ``diag(s)``.
    chains, iter, warmup, thin, seed, cores, progress
        As :func:`spatialgamm.brm`.

    Returns
    -------
    BrmsFit
        With ``sampler="gibbs"``; its ``priors`` are the equivalent brm() priors.

    Examples
    --------
    >>> from spatialgamm.datasets import load_sleepstudy
    >>> fit = gibbs_lmm("Reaction ~ Days + (Days | Subject)", load_sleepstudy(), chains=1,
    ...                 iter=400, seed=1, progress=False)
    >>> 8 < float(fit.draws("b_Days").mean()) < 13
    True
    """
    warmup = iter // 2 if warmup is None else warmup
    if not (isinstance(iter, (int, np.integer)) and 0 <= warmup < iter):
        raise ValueError(f"need integers 0 <= warmup < iter, got iter={iter!r}, "
                         f"warmup={warmup!r}")
    if thin < 1 or (iter - warmup) % thin:
        raise ValueError(f"iter - warmup ({iter - warmup}) must be a multiple of thin ({thin})")
    m0, s0 = beta_prior
    a, b0 = tau_prior
    nu, S = wishart
    if s0 <= 0 or a <= 0 or b0 <= 0 or nu <= 0 or np.any(np.asarray(S) <= 0):
        raise ValueError("gibbs_lmm: prior sd, Gamma shape/rate, Wishart nu and scale must be "
                         "positive")
    md: ModelData = model_data(formula, data, "gaussian")
    if not md.terms:
        raise ValueError(f"gibbs_lmm: formula {formula!r} has no (expr | group) term")
    if md.smooth_terms:
        raise NotImplementedError(f"gibbs_lmm: formula {formula!r} has smooth terms; the "
                                  "conjugate sampler takes lme4 bars only (use brm())")
    for t in md.terms:
        if nu <= t.nc - 1:
            raise ValueError(f"gibbs_lmm: Wishart nu ({nu}) must exceed {t.nc - 1} for term "
                             f"{t.name!r} with {t.nc} coefficients")
        if np.size(S) not in (1, t.nc):
            raise ValueError(f"gibbs_lmm: give one Wishart scale or {t.nc}")
    seed = int(np.random.SeedSequence().entropy % (2 ** 31)) if seed is None else int(seed)
    hyper = (m0, s0, a, b0, nu, np.asarray(S, dtype=float))
    jobs = [(md, c, iter, warmup, thin, seed, hyper) for c in range(chains)]
    cores = min(chains, cores or 1)
    t0 = time.perf_counter()
    res = _map(_chain, jobs, cores, progress, chains * iter)
    seconds = time.perf_counter() - t0
    C, S_ = chains, (iter - warmup) // thin
    beta = np.stack([r["beta"] for r in res])
    post: dict[str, np.ndarray] = {}
    for j, nm in enumerate(md.x_names):
        post[f"b_{coef_label(nm)}"] = beta[:, :, j]
    for j, t in enumerate(md.terms):
        Sig = np.stack([r["Sigma"][j] for r in res])  # (C, S, nc, nc)
        sd = np.sqrt(np.diagonal(Sig, axis1=2, axis2=3))
        names = [coef_label(c) for c in t.cov_names]
        for i, c in enumerate(names):
            post[f"sd_{t.group}__{c}"] = sd[:, :, i]
        for i in range(t.nc):
            for k in range(i + 1, t.nc):
                post[f"cor_{t.group}__{names[i]}__{names[k]}"] = \
                    Sig[:, :, i, k] / (sd[:, :, i] * sd[:, :, k])
    post["sigma"] = 1.0 / np.sqrt(np.stack([r["tau"] for r in res]))
    b = np.stack([r["b"] for r in res])
    idata = assemble_idata(md, post, beta, b, {"lp": np.zeros((C, S_))}, seed)
    s_txt = ", ".join(f"{v:g}" for v in np.atleast_1d(S))
    priors = [prior(f"normal({m0:g}, {s0:g})", "b"),
              prior(f"gamma_precision({a:g}, {b0:g})", "sigma")]
    priors += [prior(f"wishart_precision({nu:g}, {s_txt})", "cov", group=t.group)
               for t in md.terms]
    return BrmsFit(idata=idata, model=md, priors=priors, sampler="gibbs",
                   settings=dict(warmup=warmup, thin=thin, seed=seed, chains=chains),
                   seconds=seconds)


def equivalent_priors(fit: BrmsFit) -> list[Prior]:
    """The brm() priors equal to a Gibbs fit's (use with ``center=False``)."""
    return list(fit.priors)
