"""mgcv's ``ginla()``: simplified INLA marginals for the coefficients of a fitted gam.

Wood (2020, "Simplified integrated nested Laplace approximation", Biometrika 107) and mgcv's
``?ginla``. For smoothing parameters ``rho`` held at a value, the marginal of one coefficient
``b_k`` (or of a linear functional ``a'b``, made a coefficient by a change of basis) is the
Laplace approximation

    log p(b_k | y, rho) = -f(b_k, b~_-k) - log|H_-k(b~)| / 2 + const,

``f = (deviance + b'S b) / (2 scale)`` minus the log joint density, ``b~_-k`` the conditional
mode given ``b_k``. It is evaluated at ``nk`` values ``b_k = b^_k + sd_k qnorm(p)``,
``p`` equally spaced in ``[1e-4, 1 - 1e-4]`` (mgcv's grid), then interpolated by a natural
cubic spline in ``b_k``, tabulated on ``nb`` points and normalised by the Riemann sum, the
range widened by one sd at an end while the density there exceeds 0.5% of its maximum.

The two parts of the Laplace approximation, as the paper simplifies them:

- ``b~_-k``: the exact conditional mode (``approx=0``; from the Gaussian conditional mean
  ``b^_-k + V_-k,k (b_k - b^_k) / V_kk``, steps ``-H_-k^-1 g`` with the mode's Hessian, exact
  Newton steps if those stall, to ``|g| < 1e-10 |f|``; mgcv stops at ``1e-4 |f|``, which
  makes the only differences beyond rounding between the two), or that Gaussian mean itself
  (``approx=1, 2``);
- ``log|H_-k(b~)|``: one BFGS update of the Hessian ``H = Vp^-1`` at the unconditional mode
  along the direction from ``b~`` towards ``b^`` (the ``k``-th component zeroed, length a
  twentieth of the mean distance of the conditional modes from ``b^``), with the gradient
  change taken by a central difference over that step; its log determinant by the matrix
  determinant lemma on ``H_-k`` (whose inverse is the Schur complement of ``Vp``), or not
  updated at all (``approx=2``).

``int=1`` integrates over ``(log sp, [log scale])`` with Rue, Martino & Chopin's (2009) central
composite design: the Sanchez & Sanchez (2005) resolution-V fractional factorial plus axial
points at ``+-sqrt(m)``, all scaled by ``f0 = 1.5``, mapped through the Cholesky factor of
the criterion's inverse Hessian (mgcv's ``sp.vcov(reg=0.01)``, which adds 0.01 to every
element of the Hessian when no edge correction applies), each point weighted by its REML
score (with a ``N(rho^, 100)`` prior) relative to the optimum, the modal point by
``1 - delta``. Each point's marginal is normalised on its own; the mixture is tabulated on
the union of their ranges (for every target: mgcv 1.8-41 tabulates row ``j`` of an index
subset ``A`` on the range of coefficient ``j``). ``Vp`` is ``scale (X'WX + S)^-1`` with the
expected information ``W``, as mgcv's, for every link; the conditional modes use the
observed one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
from scipy.interpolate import CubicSpline
from scipy.stats import norm

from .engine_adapter import gam_coefficients, gam_criterion
from .marginals import COLUMNS
from .observed import ObservedInformation

__all__ = ["GinlaFit", "ginla"]

#: the evaluation points are ``qnorm(seq(EPS, 1 - EPS, length = nk))`` sds from the mode
EPS = 1e-4
#: a tabulated marginal is widened while an end's density exceeds this fraction of its max
TAIL = 0.005
#: CCD scaling of the design (Rue et al. 2009, sec. 6.5); mgcv's default
CCD_F0 = 1.5
#: mgcv's ``sp.vcov(reg=)`` in ginla, and the variance of the prior on ``log sp``
SP_REG, SP_PRIOR_VAR, SP_CLIP = 0.01, 100.0, 10.0
#: Walsh indices of the Sanchez & Sanchez (2005) resolution-V fractional factorials
WALSH_INDEX = (1, 2, 4, 8, 15, 16, 32, 51, 64, 85, 106, 128, 150, 171, 219, 237, 247, 256,
               279, 297)


@dataclass(frozen=True)
class _Posterior:
    """The penalised fit at one ``(sp, scale)`` in (possibly transformed) coefficients."""

    X: np.ndarray
    y: np.ndarray
    offset: np.ndarray
    wt: np.ndarray
    family: Any
    S: np.ndarray  # sum_j sp_j S_j, p x p
    sig2: float
    beta: np.ndarray  # the mode
    Vp: np.ndarray  # sig2 (X'WX + S)^-1

    def f(self, b: np.ndarray) -> float:
        """Minus the log joint density (up to a constant): ``(dev + b'Sb) / (2 scale)``."""
        mu = self.family.link.linkinv(self.X @ b + self.offset)
        with np.errstate(all="ignore"):
            dev = float(np.sum(self.family.dev_resids(self.y, mu, self.wt)))
        return (dev + float(b @ self.S @ b)) / (2.0 * self.sig2)

    def working(self, b: np.ndarray, observed: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Score ``wt (y - mu) mu_eta / V`` per row and the Newton weights (observed
        information, or the expected one; equal for canonical links)."""
        eta = self.X @ b + self.offset
        fam = ObservedInformation(self.family) if observed and not self.family.canonical \
            else self.family
        with np.errstate(all="ignore"):
            z, w = fam.working(self.y, eta, self.wt)
        return w * (z - eta), w

    def grad(self, b: np.ndarray) -> np.ndarray:
        return self.f_grad(b)[1]

    def f_grad(self, b: np.ndarray) -> tuple[float, np.ndarray]:
        """``f`` and its gradient from one linear predictor (the inner loops' call)."""
        fam, link = self.family, self.family.link
        eta = self.X @ b + self.offset
        with np.errstate(all="ignore"):
            mu = link.linkinv(eta)
            dev = float(np.sum(fam.dev_resids(self.y, mu, self.wt)))
            score = self.wt * (self.y - mu) * link.mu_eta(eta) / fam.variance(mu)
        Sb = self.S @ b
        return (dev + float(b @ Sb)) / (2.0 * self.sig2), (Sb - self.X.T @ score) / self.sig2

    def hessian(self, b: np.ndarray, observed: bool = True) -> np.ndarray:
        _, w = self.working(b, observed)
        return (self.X.T @ (w[:, None] * self.X) + self.S) / self.sig2

    def transformed(self, B: np.ndarray) -> _Posterior:
        """The same posterior in coefficients ``g = B b``."""
        Bi = np.linalg.inv(B)
        return replace(self, X=self.X @ Bi, S=Bi.T @ self.S @ Bi, beta=B @ self.beta,
                       Vp=B @ self.Vp @ B.T)


def _newton(post: _Posterior, b: np.ndarray, free: np.ndarray, tol: float = 1e-10,
            maxit: int = 100) -> np.ndarray:
    """Minimise ``post.f`` over ``b[free]`` by Newton steps with step halving."""
    fb = post.f(b)
    for _ in range(maxit):
        g = post.grad(b)[free]
        if not np.isfinite(fb) or np.max(np.abs(g), initial=0.0) < tol * max(1.0, abs(fb)):
            return b
        H = post.hessian(b)[np.ix_(free, free)]
        step = np.zeros_like(b)
        step[free] = -sla.solve(H, g, assume_a="pos")
        for _ in range(40):
            fn = post.f(b + step)
            if np.isfinite(fn) and fn <= fb + 1e-12 * abs(fb):
                break
            step /= 2.0
        else:
            return b
        b, fb = b + step, fn
    return b


def _refit(base: _Posterior, rho: np.ndarray, penalties: list, sig2: float) -> _Posterior:
    """The penalised mode and ``Vp`` at smoothing parameters ``exp(rho)`` and ``sig2``
    (``Vp`` from the expected information at the mode, as mgcv's, for any link)."""
    p = base.X.shape[1]
    S = np.zeros((p, p))
    for (idx, Sj, _), r in zip(penalties, rho):
        S[np.ix_(idx, idx)] += np.exp(r) * Sj
    post = replace(base, S=S, sig2=sig2)
    beta = _newton(post, base.beta.copy(), np.ones(p, dtype=bool), tol=1e-12)
    H = post.hessian(beta, observed=False)  # mgcv's Vp: the expected information
    Vp = np.linalg.inv(0.5 * (H + H.T))
    return replace(post, beta=beta, Vp=0.5 * (Vp + Vp.T))


def _fixed_newton(post: _Posterior, b: np.ndarray, k: int, Hk_inv: np.ndarray,
                  tol: float = 1e-10, maxit: int = 60) -> np.ndarray | None:
    """Minimise ``post.f`` over ``b_-k`` by steps ``-H_-k^-1 g`` with the Hessian of the
    unconditional mode (no O(n p^2) Hessian per step), halving steps that do not descend;
    None when it has not converged (the caller takes exact Newton steps)."""
    keep = np.arange(b.size) != k
    fb, gb = post.f_grad(b)
    for _ in range(maxit):
        g = gb[keep]
        if not np.isfinite(fb):
            return None
        if np.max(np.abs(g), initial=0.0) < tol * max(1.0, abs(fb)):
            return b
        step = np.zeros_like(b)
        step[keep] = -Hk_inv @ g
        for _ in range(30):
            fn, gn = post.f_grad(b + step)
            if np.isfinite(fn) and fn <= fb + 1e-12 * abs(fb):
                break
            step /= 2.0
        else:
            return None
        b, fb, gb = b + step, fn, gn
    return None


def _conditional_modes(post: _Posterior, k: int, BM: np.ndarray) -> np.ndarray:
    """Exact conditional modes given ``b_k`` at each column of ``BM`` (Gaussian starts),
    from the middle of the grid outwards, each start shifted by its neighbour's correction."""
    nk = BM.shape[1]
    V = post.Vp
    keep = np.arange(BM.shape[0]) != k
    Hk_inv = V[np.ix_(keep, keep)] - np.outer(V[keep, k], V[k, keep]) / V[k, k]
    out = BM.copy()
    mid = nk // 2
    for order in (range(mid, -1, -1), range(mid, nk)):
        shift = np.zeros(BM.shape[0])
        for i in order:
            start = BM[:, i] + shift
            b = _fixed_newton(post, start, k, Hk_inv)
            if b is None:
                b = _newton(post, start, keep)
            shift = b - BM[:, i]
            out[:, i] = b
    return out


def _logdet_updates(post: _Posterior, k: int, BM: np.ndarray) -> np.ndarray:
    """``log|H~_-k| - log|H_-k|`` at each conditional mode: one BFGS update of ``H``."""
    V = post.Vp
    keep = np.arange(V.shape[0]) != k
    Hk_inv = V[np.ix_(keep, keep)] - np.outer(V[keep, k], V[k, keep]) / V[k, k]
    H = np.linalg.inv(V)
    dist = np.sqrt(np.sum((BM - post.beta[:, None]) ** 2, axis=0))
    length = float(np.mean(dist)) / 20.0
    out = np.zeros(BM.shape[1])
    for i in range(BM.shape[1]):
        s = post.beta - BM[:, i]
        s[k] = 0.0
        ns = float(np.linalg.norm(s))
        if ns == 0.0 or length == 0.0:
            continue
        s *= length / ns
        h = H @ s
        yv = post.grad(BM[:, i] + s / 2) - post.grad(BM[:, i] - s / 2)
        sh, sy = float(s @ h), float(s @ yv)
        if not (sh > 0 and sy > 0 and np.all(np.isfinite(yv))):
            continue  # no curvature information along s: keep H
        U = np.column_stack([h[keep] / np.sqrt(sh), yv[keep] / np.sqrt(sy)])
        M = np.eye(2) + U.T @ Hk_inv @ U @ np.diag([-1.0, 1.0])
        out[i] = float(np.linalg.slogdet(M)[1])
    return out


def _log_marginal(post: _Posterior, k: int, nk: int, approx: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The unnormalised log marginal of coefficient ``k`` at mgcv's ``nk`` points."""
    V, b = post.Vp, post.beta
    sd = np.sqrt(V[k, k])
    bg = b[k] + sd * norm.ppf(np.linspace(EPS, 1.0 - EPS, nk))
    BM = b[:, None] + np.outer(V[:, k], (bg - b[k]) / V[k, k])
    BM[k] = bg
    if approx == 0:
        BM = _conditional_modes(post, k, BM)
    logd = -np.array([post.f(BM[:, i]) for i in range(nk)])
    if approx < 2:
        logd -= 0.5 * _logdet_updates(post, k, BM)
    bad = ~np.isfinite(logd)
    if bad.all():
        raise FloatingPointError(f"the log posterior of coefficient {k} is not finite anywhere "
                                 "on its grid")
    logd[bad] = np.min(logd[~bad]) - 10.0
    return bg, logd - np.max(logd)


@dataclass(frozen=True)
class _LogSpline:
    """A natural cubic spline of the log density, continued linearly beyond its knots;
    optionally of its deviation from the Gaussian approximation's ``N(centre, sd^2)``."""

    spline: CubicSpline
    lo: float
    hi: float
    log_const: float = 0.0
    centre: float = 0.0
    curvature: float = 0.0  # 1 / sd^2 of the Gaussian the spline is a deviation from

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, centre: float = 0.0, sd: float | None = None
            ) -> _LogSpline:
        c = 0.0 if sd is None else 1.0 / sd ** 2
        dev = y + 0.5 * c * (x - centre) ** 2
        return cls(CubicSpline(x, dev, bc_type="natural"), float(x[0]), float(x[-1]),
                   centre=centre, curvature=c)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        s = self.spline
        out = s(np.clip(x, self.lo, self.hi))
        for end in (self.lo, self.hi):
            m = (x < end) if end == self.lo else (x > end)
            out[m] = s(end) + s(end, 1) * (x[m] - end)
        return out - 0.5 * self.curvature * (x - self.centre) ** 2 - self.log_const


def _tabulate(spl: _LogSpline, sd: float, nb: int) -> tuple[_LogSpline, float, float]:
    """Normalise by the Riemann sum on ``nb`` points, widening the range by ``sd`` while
    an end holds more than ``TAIL`` of the maximum density."""
    lo, hi = spl.lo, spl.hi
    for _ in range(1000):
        x = np.linspace(lo, hi, nb)
        d = np.exp(spl(x))
        c = float(np.sum(d)) * (x[1] - x[0])
        d /= c
        top = float(np.max(d))
        wide_lo, wide_hi = d[0] > TAIL * top, d[-1] > TAIL * top
        if not (wide_lo or wide_hi):
            break
        lo, hi = lo - sd * wide_lo, hi + sd * wide_hi
    return replace(spl, log_const=spl.log_const + np.log(c)), lo, hi


def ccd_design(m: int, f0: float = CCD_F0) -> tuple[np.ndarray, float, float]:
    """The central composite design in ``m`` standardised dimensions (without the centre)
    and the weights of the centre and of each other point (Rue et al. 2009, sec. 6.5).

    mgcv's ``ginla`` design (a Walsh-Hadamard fraction, ``f0 = 1.5``), deliberately not
    :func:`spatialgamm.bayes.hyper.ccd_design` (R-INLA's: 2^d or half-fraction corners,
    ``f0 = 1.1``, other weights): each reproduces its own R peer's points and weights.

    Examples
    --------
    >>> D, k0, k1 = ccd_design(2)
    >>> D.shape, round(k0 + len(D) * k1, 12), round(k0, 6)
    ((8, 2), 1.0, 0.27628)
    >>> (D[:4] / 1.5).tolist()  # the 2^2 factorial, then the axial points
    [[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]]
    """
    if not 1 <= m <= len(WALSH_INDEX):
        raise ValueError(f"int=1 integrates over 1 to {len(WALSH_INDEX)} smoothing parameters "
                         f"(and the scale); this model has {m}")
    if m == 1:
        D = np.array([[1.0], [-1.0]])
    else:
        idx = WALSH_INDEX[:m]
        n = 1 << int(np.ceil(np.log2(max(idx) + 1)))
        D = np.vstack([sla.hadamard(n)[:, idx], np.sqrt(m) * np.eye(m),
                       -np.sqrt(m) * np.eye(m)]).astype(float)
    D = D * f0
    delta = 1.0 / ((f0 ** 2 - 1.0) * (1.0 + float(np.exp(-m * f0 ** 2 / 2.0))))
    return D, 1.0 - delta, delta / len(D)


def _base_posterior(fit: Any) -> tuple[_Posterior, list, list[str]]:
    """The fit's penalised posterior in mgcv's coefficients (scalar lme4 bars as
    ``s(g, bs="re")``), its penalties and names; ``Vp`` from the expected information, as
    mgcv's (and ``_refit``'s)."""
    for blk in fit.spec.blocks:
        if getattr(blk.term, "intercept_shift", None) is not None:
            raise NotImplementedError(
                f"ginla: {blk.name} is a t2() term, whose coefficients the package reports "
                "in another basis than the one it is fitted in; use te()")
    cs = gam_coefficients(fit)
    spec = fit.spec
    post = _Posterior(X=cs.X, y=np.asarray(spec.y, dtype=float),
                      offset=np.asarray(spec.offset, dtype=float),
                      wt=np.asarray(spec.weights, dtype=float), family=fit.family,
                      S=cs.S_lambda(), sig2=float(fit.scale), beta=np.asarray(cs.coef),
                      Vp=np.zeros((cs.X.shape[1],) * 2))
    H = post.hessian(post.beta, observed=False)
    Vp = np.linalg.inv(0.5 * (H + H.T))
    return replace(post, Vp=0.5 * (Vp + Vp.T)), list(cs.penalties), list(cs.names)


def _targets(A: Any, names: list[str]) -> tuple[list[int], list[str], np.ndarray | None]:
    """Which coefficients (positions, labels) and, for linear functionals, the change of
    basis ``B`` whose first rows are ``A``."""
    p = len(names)
    if A is None:
        return list(range(p)), list(names), None
    if isinstance(A, (str, int, np.integer)):
        A = [A]
    if isinstance(A, pd.DataFrame) or (isinstance(A, np.ndarray) and A.ndim == 2):
        return _functionals(A, names)
    pos = []
    for a in A:
        if isinstance(a, str):
            if a not in names:
                raise KeyError(f"A: no coefficient named {a!r}; the fit's coefficients are "
                               f"{names}")
            pos.append(names.index(a))
        elif isinstance(a, (int, np.integer)) and not isinstance(a, bool) and 0 <= a < p:
            pos.append(int(a))
        else:
            raise ValueError(f"A: {a!r} is neither a coefficient name nor a position in "
                             f"0..{p - 1} (positions are 0-based)")
    if len(set(pos)) != len(pos):
        raise ValueError("A names a coefficient more than once")
    return pos, [names[i] for i in pos], None


def _functionals(A: Any, names: list[str]) -> tuple[list[int], list[str], np.ndarray]:
    p = len(names)
    if isinstance(A, pd.DataFrame):
        unknown = [c for c in A.columns if c not in names]
        if unknown:
            raise KeyError(f"A: columns {unknown} are not coefficients of the fit ({names})")
        labels = [str(i) for i in A.index]
        A = A.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    else:
        A = np.asarray(A, dtype=float)
        labels = [f"A[{i}]" for i in range(A.shape[0])]
        if A.shape[1] != p:
            raise ValueError(f"A: a matrix of linear functionals needs {p} columns (one per "
                             f"coefficient); it has {A.shape[1]}")
    if not np.all(np.isfinite(A)):
        raise ValueError("A: the linear functionals contain NaN or infinite values")
    if np.linalg.matrix_rank(A) < A.shape[0]:
        raise ValueError("A: the rows of linear functionals are linearly dependent")
    B = np.vstack([A, sla.null_space(A).T]) if A.shape[0] < p else A
    return list(range(A.shape[0])), labels, B


def _check_args(fit: Any, nk: Any, nb: Any, J: Any, integrate: Any, approx: Any) -> None:
    if type(fit).__name__ != "GamFit":
        raise TypeError(f"ginla needs a fitted gam (sg.gam(...)); got {type(fit).__name__}")
    if fit.state.method != "REML":
        raise ValueError(f"ginla, as mgcv's, uses REML smoothing parameters; this fit used "
                         f"method={fit.state.method!r} (refit with method='REML')")
    for name, v, least in (("nk", nk, 4), ("nb", nb, 10)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < least:
            raise ValueError(f"{name} must be an integer of at least {least}; got {v!r}")
    if J != 1:
        raise ValueError(f"J={J!r}: only one BFGS determinant update (J=1, mgcv's default, "
                         "which its documentation advises not to increase) is implemented")
    if integrate not in (0, 1) or isinstance(integrate, bool):
        raise ValueError(f"int must be 0 (plug-in smoothing parameters) or 1 (CCD "
                         f"integration); got {integrate!r}")
    if approx not in (0, 1, 2):
        raise ValueError(f"approx must be 0, 1 or 2; got {approx!r}")


def _design_points(fit: Any, base: _Posterior, penalties: list
                   ) -> tuple[list[_Posterior], np.ndarray]:
    """The CCD's posteriors (centre first) and their normalised weights."""
    if getattr(fit.family, "estimate", False):
        raise ValueError("int=1 is not available for a negative binomial whose theta was "
                         "estimated (mgcv integrates over theta too); use int=0, or give "
                         "theta (get_family('nb', theta=...))")
    f, xopt, scaled, hess = gam_criterion(fit)
    rho0 = np.log([lam for _, _, lam in penalties])
    # the centre is mgcv's (log sp, log sig2); the weights compare with the optimum's score
    x0 = np.append(rho0, np.log(base.sig2)) if scaled else rho0
    best = -f(xopt)
    R = sla.cholesky(np.linalg.inv(hess + SP_REG), lower=False)
    D, k0, k1 = ccd_design(x0.size)
    posts, w = [base], [k0]
    for d in D:
        x = np.clip(x0 + d @ R, x0 - SP_CLIP, x0 + SP_CLIP)
        reml = -f(x) - float(np.sum((x - x0) ** 2)) / (2.0 * SP_PRIOR_VAR)
        sig2 = float(np.exp(x[-1])) if scaled else base.sig2
        posts.append(_refit(base, x[:rho0.size], penalties, sig2))
        w.append(k1 * np.exp(reml - best))
    w = np.asarray(w)
    return posts, w / w.sum()


def ginla(fit: Any, A: Any = None, nk: int = 16, nb: int = 100, J: int = 1, int: int = 0,
          approx: int = 0, interpolation: str = "mgcv") -> GinlaFit:
    """Simplified INLA marginals of a fitted gam's coefficients (mgcv's ``ginla``).

    Parameters
    ----------
    fit : GamFit
        A gam fitted by REML (``sg.gam(..., method="REML")``).
    A : None, names, 0-based positions, or a matrix / DataFrame of linear functionals
        Which coefficients (default all), or rows ``a`` of functionals ``a'b`` (a DataFrame's
        columns name coefficients, its index the functionals).
    nk : int
        Values per coefficient at which the log marginal is computed (then splined).
    nb : int
        Points of each tabulated marginal.
    J : int
        BFGS updates of the Hessian's log determinant (only 1, mgcv's default).
    int : {0, 1}
        0: smoothing parameters at their REML estimates; 1: integrate over them (and the
        scale when estimated) with the central composite design.
    approx : {0, 1, 2}
        0: exact conditional modes; 1: Gaussian conditional modes; 2: as 1 and the Hessian
        held constant.
    interpolation : {"mgcv", "gaussian"}
        ``"mgcv"``: a natural cubic spline through the ``nk`` log densities, as mgcv (its
        zero end curvature bends a near-Gaussian log density between the sparse tail
        points: up to 0.2 in log density near 2.6 sd, about 1% of the peak density);
        ``"gaussian"``: the same spline through the deviation of the log density from the
        Gaussian approximation's, exact for a Gaussian marginal.

    Returns
    -------
    GinlaFit
        ``beta`` and ``density`` (mgcv's matrices, one row per target), ``reml`` (the CCD
        weights, centre first, for ``int=1``), ``marginal(name)``, ``summary()``.

    Examples
    --------
    >>> import numpy as np, pandas as pd, spatialgamm as sg
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"x": rng.uniform(size=200)})
    >>> d["y"] = rng.poisson(np.exp(1 + np.sin(2 * np.pi * d["x"])))
    >>> fit = sg.gam("y ~ s(x, k=8)", d, family="poisson", method="REML")
    >>> g = sg.ginla(fit, A=["(Intercept)"])
    >>> tab = g.marginal("(Intercept)")
    >>> round(float(np.sum(tab["y"]) * (tab["x"][1] - tab["x"][0])), 6)
    1.0
    """
    _check_args(fit, nk, nb, J, int, approx)
    if interpolation not in ("mgcv", "gaussian"):
        raise ValueError(f"interpolation must be 'mgcv' or 'gaussian'; got {interpolation!r}")
    base, penalties, names = _base_posterior(fit)
    pos, labels, B = _targets(A, names)
    posts, weights = _design_points(fit, base, penalties) if int else ([base], None)
    return _marginals(posts, weights, pos, labels, B, nk, nb, approx, interpolation)


def _marginals(posts: list[_Posterior], weights: np.ndarray | None, pos: list[int],
               labels: list[str], B: np.ndarray | None, nk: int, nb: int, approx: int,
               interpolation: str) -> GinlaFit:
    """Each target's marginal at each design point, mixed with the points' weights."""
    splines = []  # per design point, per target: the normalised log density and range
    for post in posts:
        tpost = post.transformed(B) if B is not None else post
        row = []
        for k in pos:
            bg, logd = _log_marginal(tpost, k, nk, approx)
            sd = float(np.sqrt(tpost.Vp[k, k]))
            spl = _LogSpline.fit(bg, logd, float(tpost.beta[k]),
                                 sd if interpolation == "gaussian" else None)
            row.append(_tabulate(spl, sd, nb))
        splines.append(row)
    return GinlaFit._mix(labels, splines, weights, nb)


class GinlaFit:
    """The marginals ``ginla`` computed: mgcv's ``beta`` / ``density`` tables and views.

    ``beta`` and ``density`` are DataFrames with one row per target (index: coefficient
    names or functional labels) and ``nb`` columns, as mgcv's matrices; ``reml`` the CCD
    weights (``int=1``) or None.
    """

    def __init__(self, labels: list[str], beta: np.ndarray, density: np.ndarray,
                 logdens: list, reml: np.ndarray | None):
        self.names = list(labels)
        self.beta = pd.DataFrame(beta, index=self.names)
        self.density = pd.DataFrame(density, index=self.names)
        self.reml = reml
        self._logdens = logdens  # per target: [(weight, _LogSpline), ...]

    @classmethod
    def _mix(cls, labels: list[str], splines: list, weights: np.ndarray | None,
             nb: int) -> GinlaFit:
        w = np.ones(1) if weights is None else np.asarray(weights, dtype=float)
        beta = np.zeros((len(labels), nb))
        dens = np.zeros_like(beta)
        logdens = []
        for j in range(len(labels)):
            lo = min(s[j][1] for s in splines)
            hi = max(s[j][2] for s in splines)
            x = np.linspace(lo, hi, nb)
            beta[j] = x
            dens[j] = sum(wq * np.exp(s[j][0](x)) for wq, s in zip(w, splines))
            logdens.append([(wq, s[j][0]) for wq, s in zip(w, splines)])
        return cls(labels, beta, dens, logdens, None if weights is None else w)

    def _check(self, name: str) -> int:
        if name not in self.names:
            raise KeyError(f"no marginal named {name!r}; computed: {self.names}")
        return self.names.index(name)

    def pdf(self, name: str, x: Any) -> np.ndarray:
        """The marginal density of ``name`` at ``x`` (the splines, mixed over the design)."""
        x = np.asarray(x, dtype=float)
        return sum(w * np.exp(s(x.ravel())) for w, s in self._logdens[self._check(name)]
                   ).reshape(x.shape)

    def marginal(self, name: str) -> pd.DataFrame:
        """The density table ``(x, y)`` of one target on mgcv's ``nb`` grid."""
        j = self._check(name)
        return pd.DataFrame({"x": self.beta.iloc[j].to_numpy(),
                             "y": self.density.iloc[j].to_numpy()})

    def summary(self, n: int = 4001) -> pd.DataFrame:
        """Mean, sd, 2.5/50/97.5% quantiles and mode of each marginal: the trapezoid rule on
        ``n`` points over the tabulated range widened by half its width at each end (the
        splines' continuation; the table stops where the density falls to ~0.1% of its peak,
        which would shrink a Gaussian's sd by 0.15%), the density renormalised there."""
        rows = []
        for j, name in enumerate(self.names):
            lo, hi = self.beta.iloc[j].iloc[0], self.beta.iloc[j].iloc[-1]
            x = np.linspace(lo - (hi - lo) / 2, hi + (hi - lo) / 2, n)
            d = self.pdf(name, x)
            cdf = np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]) * np.diff(x))])
            d, cdf = d / cdf[-1], cdf / cdf[-1]
            mean = float(np.trapezoid(x * d, x))
            sd = float(np.sqrt(max(np.trapezoid((x - mean) ** 2 * d, x), 0.0)))
            q = np.interp([0.025, 0.5, 0.975], cdf, x)
            rows.append([mean, sd, *q, float(x[np.argmax(d)])])
        return pd.DataFrame(rows, index=self.names, columns=COLUMNS)

    def __repr__(self) -> str:
        kind = "integrated over the smoothing parameters" if self.reml is not None else \
            "at the REML smoothing parameters"
        return f"<GinlaFit: {len(self.names)} marginals {kind}>"
