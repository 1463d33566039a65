"""Approximate significance of smooth terms, as mgcv's ``summary.gam`` (``p.type = 0``).

Ordinary smooths: Wood (2013a). With ``R'R = X_j'WX_j`` (the smooth's columns of the weighted
model matrix) and ``V_j`` its block of the Bayesian covariance ``Vp``, the statistic is
``T = f' (R V_j R')^{r-} f`` with ``f = R beta_j`` and a rank-``r`` pseudo-inverse, where
``r = min(k, edf1_j)`` (``edf1 = 2 tr(F) - tr(FF)`` summed over the smooth, ``F = Vp X'WX /
scale``). A non-integer ``r = k + nu`` keeps the ``k - 1`` leading eigen-directions whole and
blends the next two through the 2 x 2 matrix ``[[1, b], [b, nu]]``, ``b = sqrt(nu (1 - nu) / 2)``,
whose eigenvalues give the weights of the null distribution ``sum_i w_i chi2_1``; mgcv averages
the p-values of the two sign choices of ``b`` and reports the statistic of the first. With an
estimated scale the statistic is compared with ``F`` (integer ``r``) or with the ratio
``sum_i w_i chi2_1 / (chi2_k0 / k0)``, ``k0 = round(residual df)``; the table shows ``T / r``.

Random-effect smooths (``bs='re'``, or any penalised smooth without a null space): Wood (2013b).
``T = b' (R_m'R_m) b / scale`` with ``R_m'R_m`` the Schur complement, for the term's block, of
the penalised cross-product ``X_1'(I + X_2 Sigma_2 X_2')X_1 + S_1`` in which every *other*
random effect (``X_2``, prior covariance ``Sigma_2``) is integrated out. Under the null
``T ~ sum_i e_i chi2_1`` with ``e`` the eigenvalues of ``R_m Ve_m R_m' / scale`` and ``Ve``
the frequentist covariance under the same model; Ref.df is the numerical rank of ``e``.

Tail probabilities of the chi-square mixtures use mgcv's own evaluation (Davies' method at
accuracy 2e-5, :mod:`spatialgamm.results.chisq_mixture`).

References
----------
Wood, S. N. (2013a). On p-values for smooth components of an extended generalized additive
model. Biometrika 100, 221-228.
Wood, S. N. (2013b). A simple test for random effects in regression models. Biometrika 100,
1005-1010.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..engine.laplace import PIRLSError
from ..terms.base import Ability
from .chisq_mixture import chisq_mixture_sf
from .predict import joint_covariance

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class SmoothTest:
    """One smooth's test: statistic (chi-square scale), p-value and reference df."""

    stat: float
    p_value: float
    ref_df: float


# ---- Wood (2013a): ordinary smooths ---------------------------------------------------
def wood_test(coef: np.ndarray, V: np.ndarray, R: np.ndarray, rank: float,
              res_df: float | None = None) -> SmoothTest:
    """mgcv's ``testStat`` (type 0) for one smooth.

    Parameters
    ----------
    coef : (k,) array
        The smooth's coefficients.
    V : (k, k) array
        Their block of the Bayesian covariance ``Vp``.
    R : (k, k) array
        Upper-triangular root of ``X_j'WX_j`` (any row signs).
    rank : float
        ``min(k, edf1)``: the (possibly non-integer) rank of the pseudo-inverse.
    res_df : float, optional
        Residual df when the scale is estimated (F-type reference), else None.

    Examples
    --------
    >>> import numpy as np
    >>> t = wood_test(np.array([2.0, 0.0]), np.eye(2), np.eye(2), 2.0)
    >>> round(t.stat, 6), round(t.p_value, 6), t.ref_df
    (4.0, 0.135335, 2.0)
    """
    M = R @ V @ R.T
    M = 0.5 * (M + M.T)
    ev, U = np.linalg.eigh(M)
    ev, U = ev[::-1], U[:, ::-1]
    # mgcv fixes eigenvector signs by their first element; only the relative sign of the two
    # blended directions matters (it picks which of the two statistics is reported)
    sgn = np.sign(U[0])
    sgn[sgn == 0] = 1.0
    U = U * sgn
    k = max(0, int(np.floor(rank)))
    nu = abs(rank - k)
    k1 = k + 1 if nu > 0 else k
    r_est = int(np.sum(ev > ev[0] * _EPS ** 0.9)) if ev[0] > 0 else 0
    if r_est == 0 or rank <= 0:  # nothing left to test (a smooth penalised to zero)
        return SmoothTest(0.0, 1.0, 0.0)
    if r_est < k1:  # numerically rank deficient: integer rank r_est
        k = k1 = r_est
        nu = 0.0
        rank = float(r_est)
    z = U[:, :k1].T @ (R @ coef)
    if k == 0:  # rank below 1: the leading direction, whole
        d = d1 = float(z[0] ** 2 / ev[0])
    elif nu > 0:
        lead = float(np.sum(z[:k - 1] ** 2 / ev[:k - 1]))
        b12 = np.sqrt(max(0.5 * nu * (1.0 - nu), 0.0))
        zk, zk1 = z[k - 1] / np.sqrt(ev[k - 1]), z[k] / np.sqrt(ev[k])
        quad = zk ** 2 + nu * zk1 ** 2
        d = lead + quad + 2.0 * b12 * zk * zk1
        d1 = lead + quad - 2.0 * b12 * zk * zk1
    else:
        d = d1 = float(np.sum(z[:k] ** 2 / ev[:k]))
    d, d1 = float(d), float(d1)
    if nu > 0:
        # weights: 1 for the whole directions, the eigenvalues of [[1, b], [b, nu]] for the
        # blended pair (its trace 1 + nu and determinant nu (1 + nu) / 2)
        if k1 == 1:
            w = np.array([1.0])
        else:
            rp = nu + 1.0
            top = (rp + np.sqrt(rp * (2.0 - rp))) / 2.0
            w = np.ones(k1)
            w[k - 1], w[k] = top, rp - top
        pval = 0.5 * (_mixture_p(d, w, res_df) + _mixture_p(d1, w, res_df))
    else:
        if res_df is None:
            pval = 0.5 * (stats.chi2.sf(d, rank) + stats.chi2.sf(d1, rank))
        else:
            pval = 0.5 * (stats.f.sf(d / rank, rank, res_df) + stats.f.sf(d1 / rank, rank, res_df))
    return SmoothTest(d, float(min(1.0, max(0.0, pval))), float(rank))


def _mixture_p(stat: float, w: np.ndarray, res_df: float | None) -> float:
    """P(sum w_i chi2_1 > stat), or with an estimated scale
    P(sum w_i chi2_1 - stat chi2_k0 / k0 > 0)."""
    if res_df is None:
        return chisq_mixture_sf(stat, w)
    k0 = max(1, round(res_df))
    return chisq_mixture_sf(0.0, np.append(w, -stat / k0), np.append(np.ones(len(w)), k0))


# ---- Wood (2013b): random effects -----------------------------------------------------
def random_effect_test(b: np.ndarray, schur: np.ndarray, Ve: np.ndarray,
                       res_df: float | None = None) -> SmoothTest:
    """mgcv's ``reTest``: ``T = b' schur b``, null ``sum_i e_i chi2_1``.

    Parameters
    ----------
    b : (k,) array
        The term's coefficients.
    schur : (k, k) array
        The term's Schur complement of the penalised information (other random effects
        integrated out), already divided by the scale.
    Ve : (k, k) array
        The term's block of the frequentist covariance under the same model.
    res_df : float, optional
        Residual df when the scale is estimated, else None.

    Examples
    --------
    >>> import numpy as np
    >>> t = random_effect_test(np.array([1.0, 1.0]), np.eye(2), np.eye(2))
    >>> round(t.stat, 6), round(t.p_value, 4), t.ref_df
    (2.0, 0.3679, 2.0)
    """
    stat = float(b @ schur @ b)
    ev = np.linalg.eigvalsh(_sym_root(schur) @ Ve @ _sym_root(schur))[::-1]
    ev[ev < 0] = 0.0
    rank = int(np.sum(ev > ev[0] * _EPS ** 0.8)) if ev[0] > 0 else 0
    if ev[0] <= 0:
        return SmoothTest(stat, 1.0, 0.0)
    if res_df is None:
        p = chisq_mixture_sf(stat, ev)
    else:
        k = max(1, round(res_df))
        p = chisq_mixture_sf(0.0, np.append(ev, -stat / k), np.append(np.ones(len(ev)), k))
    return SmoothTest(stat, float(min(1.0, max(0.0, p))), float(rank))


def _sym_root(A: np.ndarray) -> np.ndarray:
    d, U = np.linalg.eigh(0.5 * (A + A.T))
    return (U * np.sqrt(np.clip(d, 0, None))) @ U.T


def _schur(A: np.ndarray, m: np.ndarray, o: np.ndarray) -> np.ndarray:
    """A_mm - A_mo A_oo^-1 A_om (a pseudo-inverse if A_oo is singular)."""
    Amm = A[np.ix_(m, m)]
    if len(o) == 0:
        return Amm
    Aoo, Aom = A[np.ix_(o, o)], A[np.ix_(o, m)]
    try:
        sol = sla.cho_solve(sla.cho_factor(Aoo), Aom)
    except (np.linalg.LinAlgError, ValueError):
        sol = np.linalg.lstsq(Aoo, Aom, rcond=None)[0]
    S = Amm - Aom.T @ sol
    return 0.5 * (S + S.T)


# ---- the table ------------------------------------------------------------------------
def _is_random(term) -> bool:
    """Terms integrated out of another random effect's test: mgcv's ``random`` smooths
    (``bs='re'``) and every non-smooth latent block (lme4 bars, GP and SPDE fields)."""
    if term.has(Ability.SMOOTH):
        return term.spec.bs == "re"
    return True


def _root_of_gram(X, w: np.ndarray) -> np.ndarray:
    """Upper-triangular R with R'R = X'WX (QR of sqrt(W) X, as mgcv's ``qr`` of its R)."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    if np.all(w >= 0):
        return np.linalg.qr(np.sqrt(w)[:, None] * X, mode="r")
    return sla.cholesky(X.T @ (X * w[:, None]), lower=False)  # Newton weights may be < 0


def smooth_table(fit) -> pd.DataFrame:
    """mgcv's smooth-term table for a fitted GAM: edf, Ref.df, Chi.sq or F, p-value.

    Parameters
    ----------
    fit : GamFit
        A fitted GAM (``sg.gam``).

    Returns
    -------
    DataFrame indexed by smooth label with columns ``edf``, ``Ref.df``, ``Chi.sq`` (known
    scale) or ``F`` (estimated scale) and ``p-value``.

    Examples
    --------
    >>> import spatialgamm as sg
    >>> m = sg.gam("counts ~ s(cX, cY, bs='gp', k=50) + offset(log(time))",
    ...            sg.datasets.load_rongelap(), family="poisson")
    >>> list(smooth_table(m).columns)
    ['edf', 'Ref.df', 'Chi.sq', 'p-value']
    """
    smooths = fit._smooths()
    if not smooths:
        return pd.DataFrame()
    st = fit.state
    spec = fit.spec
    sysl = st.system
    p = spec.p
    s = st.latent_scale
    w = np.asarray(st.irls_weights(spec.weights), dtype=float)
    C = joint_covariance(fit)  # Vp in (beta, b) coordinates
    D = fit._design_b()
    info = D.T @ (D * w[:, None]) / s  # X'WX / scale
    F = C @ info
    x = np.concatenate([st.beta, st.b])
    est_disp = not fit.family.scale_known
    res_df = fit.nobs - fit.edf_total if est_disp else None
    edf = fit.edf
    lam = sysl.Lambda(st.phi)
    lam = lam.toarray() if sp.issparse(lam) else np.asarray(lam)
    prec, _ = sysl.precision(st.phi)
    rows = []
    for k, term, null_idx in smooths:
        sl = sysl.col_slices[k]
        b_idx = np.arange(p + sl.start, p + sl.stop)
        idx = np.concatenate([b_idx, np.asarray(null_idx, dtype=int)])
        # edf1 = tr(2F - FF) over the smooth; invariant to its (block) reparameterisation
        edf1 = float(2.0 * np.trace(F[np.ix_(idx, idx)])
                     - np.einsum("ij,ji->", F[idx, :], F[:, idx]))
        if len(b_idx) and not null_idx:  # penalised, no null space: a random effect
            res = _re_test(k, b_idx, x, C, info, lam, prec, sysl, p, s, res_df, spec.blocks)
        else:
            if len(b_idx):  # coef = U_range b + U_null beta_null (mgcv's basis)
                kept = [j for j, nm in enumerate(spec.blocks[k].fixed_names)
                        if nm in spec.x_names]
                T = np.hstack([term.U_range, term.U_null[:, kept]])
            else:  # fx=TRUE: the basis columns are fixed effects as they stand
                T = np.eye(len(idx))
            coef = T @ x[idx]
            V = T @ C[np.ix_(idx, idx)] @ T.T
            R = _root_of_gram(term.spec.X, w)
            res = wood_test(coef, V, R, min(float(T.shape[0]), edf1), res_df)
        rows.append(_row(term.name, float(edf[term.name]), res, est_disp))
    # lme4 bars written in a gam formula are mgcv's s(fac, bs='re'): same test, own label
    eb = st.edf_blocks
    for k, blk in enumerate(spec.blocks):
        t = blk.term
        if not t.has(Ability.GROUPING_FACTOR):
            continue
        if t.nc != 1:  # correlated (x | g) has no s(., bs='re') equivalent to test against
            continue
        sl = sysl.col_slices[k]
        b_idx = np.arange(p + sl.start, p + sl.stop)
        moved = _off_boundary(fit, k)
        if moved is None:
            res = _re_test(k, b_idx, x, C, info, lam, prec, sysl, p, s, res_df, spec.blocks)
        else:
            res = _bar_test_at(moved, k, b_idx, res_df)
        rows.append(_row(t.label, float(eb[k]), res, est_disp))
    return pd.DataFrame(rows).set_index("term")


# a bar's relative sd at which its test is evaluated when the fit put it at zero
_BOUNDARY_SD = 1e-4


def _off_boundary(fit, k: int):
    """A copy of ``fit`` with bar ``k``'s zero sd moved to ``_BOUNDARY_SD`` (the rest of the
    fit re-solved there), or None when its sd is not zero or the re-solve fails.

    At a zero variance the coefficients, ``Ve`` and the statistic all vanish and the test
    is 0/0. mgcv never gets there (its sp stops at a bound); its p-value is the limit as
    the variance goes to 0, where statistic and null weights both scale with the variance:
    e.g. 0.56769 at relative sd 1e-3, 1e-4 and 1e-5 alike, mgcv's 0.56769 at its bound.
    """
    import copy
    st = fit.state
    sysl = st.system
    sl = sysl.layout.slices[k]
    if np.any(st.phi[sl] != 0):
        return None
    phi = st.phi.copy()
    phi[sl] = _BOUNDARY_SD
    obj = st.objective
    try:
        if hasattr(obj, "pirls"):
            mode = obj.pirls(phi)
            beta, u, w = mode.beta, mode.u, mode.weights
        elif hasattr(obj, "solve"):
            r = obj.solve(phi)
            beta, u, w = r.beta, r.u, fit.spec.weights
        else:
            return None
    except (PIRLSError, np.linalg.LinAlgError, ValueError):  # keep the zero-variance answer
        return None
    lam = sysl.Lambda(phi)
    new = copy.copy(fit)
    new.state = copy.copy(st)
    new.state.joint_cov, new.state.working_weights = None, w
    new.state.phi, new.state.beta, new.state.u = phi, beta, u
    new.state.b = np.asarray(lam @ u).ravel() if sysl.q else np.zeros(0)
    return new


def _bar_test_at(fit, k: int, b_idx: np.ndarray, res_df: float | None) -> SmoothTest:
    """Wood (2013b) for bar ``k`` of ``fit`` (a copy moved off the boundary)."""
    st, spec = fit.state, fit.spec
    sysl = st.system
    s = st.latent_scale
    w = np.asarray(st.working_weights, dtype=float)
    C = joint_covariance(fit)
    D = fit._design_b()
    info = D.T @ (D * w[:, None]) / s
    x = np.concatenate([st.beta, st.b])
    lam = sysl.Lambda(st.phi)
    lam = lam.toarray() if sp.issparse(lam) else np.asarray(lam)
    prec, _ = sysl.precision(st.phi)
    return _re_test(k, b_idx, x, C, info, lam, prec, sysl, spec.p, s, res_df, spec.blocks)


def _row(name: str, edf: float, res: SmoothTest, est_disp: bool) -> dict:
    row = {"term": name, "edf": edf, "Ref.df": res.ref_df}
    if est_disp:
        row["F"] = res.stat / res.ref_df if res.ref_df > 0 else np.nan
    else:
        row["Chi.sq"] = res.stat
    row["p-value"] = res.p_value
    return row


def _re_test(k, m, x, C, info, lam, prec, sysl, p, s, res_df, blocks) -> SmoothTest:
    """Wood (2013b) for block ``k`` (b-space columns ``m``), in (beta, b) coordinates."""
    n_all = C.shape[0]
    rand = []
    for j, blk in enumerate(blocks):
        if j != k and _is_random(blk.term):
            sl = sysl.col_slices[j]
            rand.extend(range(p + sl.start, p + sl.stop))
    rand = np.asarray(rand, dtype=int)
    keep = np.setdiff1d(np.arange(n_all), rand)
    # prior covariance of the other random effects, b = Lambda u, u ~ N(0, s P^-1)
    if len(rand):
        r_lat = rand - p
        L2 = lam[np.ix_(r_lat, r_lat)]
        if prec is None:
            Sig2 = s * L2 @ L2.T
        else:
            P2 = prec.toarray() if sp.issparse(prec) else np.asarray(prec)
            Sig2 = s * L2 @ np.linalg.solve(P2[np.ix_(r_lat, r_lat)], L2.T)
        extra = info[:, rand] @ Sig2 @ info[rand, :]  # X'W X_2 Sigma_2 X_2'W X / s^2
    else:
        extra = np.zeros_like(info)
    # penalised information of the kept coefficients: smooths' penalties sp S = I / (s l^2)
    A = (info + extra)[np.ix_(keep, keep)]
    pen = np.zeros(len(keep))
    lat = keep >= p
    diag_lam = np.diag(lam)[keep[lat] - p]
    with np.errstate(divide="ignore"):
        pen[lat] = np.where(diag_lam > 0, 1.0 / (s * diag_lam ** 2), np.inf)
    A = A + np.diag(np.where(np.isfinite(pen), pen, 1e300))
    if prec is not None:  # precision blocks (multi-penalty smooths): their penalty P_k / s
        P = prec.toarray() if sp.issparse(prec) else np.asarray(prec)
        for j, blk in enumerate(blocks):
            if blk.kind == "precision" and not _is_random(blk.term):
                sl = sysl.col_slices[j]
                cols = np.flatnonzero((keep >= p + sl.start) & (keep < p + sl.stop))
                lat_idx = keep[cols] - p
                A[np.ix_(cols, cols)] += P[np.ix_(lat_idx, lat_idx)] / s
                A[cols, cols] -= pen[cols]  # the identity-prior term added above
    pos = {c: i for i, c in enumerate(keep)}
    mi = np.array([pos[c] for c in m])
    oi = np.setdiff1d(np.arange(len(keep)), mi)
    schur = _schur(A, mi, oi)
    Cm = C[m, :]
    Ve = Cm @ (info + extra) @ Cm.T
    return random_effect_test(x[m], schur, 0.5 * (Ve + Ve.T), res_df)
