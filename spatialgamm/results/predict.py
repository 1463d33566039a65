"""Prediction from a fitted model at the data or at new data.

Conditional (``re_form=None``: fixed part plus every random / penalised term) or population
level (``re_form='~0'``: fixed part only, for lme4 bar terms; smooth and spatial terms are part
of the mean and are always included). Offsets in the formula are re-evaluated on new data; if
their variables are missing, ``offset=`` must be given (``offset=0.0`` predicts per unit
exposure). Standard errors combine the posterior covariance of fixed and latent coefficients.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from scipy import stats

from ..errors import DataWarning, PredictionError, check_dataframe
from ..formula.evaluate import add_expression_columns, evaluate
from ..terms.base import Ability
from ..validate import column_roles


def _population_only(re_form: str | None) -> bool:
    if re_form is None:
        return False
    t = str(re_form).replace(" ", "")
    if t in ("~0", "NA", "0", "~-1"):
        return True
    raise ValueError(f"re_form must be None (all random effects) or '~0' (none), got {re_form!r}")


def _offset_for(fit, newdata: pd.DataFrame, offset: Any) -> np.ndarray:
    n = len(newdata)
    if offset is not None:
        o = np.asarray(offset, dtype=float).ravel()
        if o.size not in (1, n):
            raise ValueError(f"offset has {o.size} values for {n} rows of newdata")
        return np.broadcast_to(o, (n,)).astype(float)
    off = np.zeros(n)
    spec = fit.spec
    for e in spec.offset_exprs:
        try:
            off += evaluate(e, newdata, spec.env)
        except ValueError as exc:
            raise ValueError(f"newdata lacks what offset({e}) needs ({exc}); pass offset= "
                             "(offset=0.0 predicts per unit exposure)") from exc
    if spec.offset_arg is not None:
        if isinstance(spec.offset_arg, str):
            off += evaluate(spec.offset_arg, newdata, spec.env)
        else:
            raise ValueError("the model was fitted with an offset= array: pass offset= for "
                             "newdata (offset=0.0 predicts per unit exposure)")
    return off


def design_rows(fit, newdata: pd.DataFrame, population: bool) -> tuple[np.ndarray, Any]:
    """Fixed and latent design rows ``(X_new, Z_new)`` for new data (Z in b-space)."""
    spec = fit.spec
    newdata = add_expression_columns(newdata, spec.formula.specials, spec.env)  # s(log(x))
    Xf = spec.fixed.for_newdata(newdata)
    cols = [Xf]
    zs = []
    for k, blk in enumerate(spec.blocks):
        term = blk.term
        # re_form='~0' drops group-level effects: lme4 bars and known-covariance (kinship)
        # effects; smooths and spatial fields are part of the mean and stay
        if population and term.population_level_drop:
            zs.append(sp.csc_matrix((len(newdata), blk.q)))
            continue
        # GP terms: kriging weights depend on the fitted kernel parameters
        phi = _block_phi(fit, k) if term.design_needs_phi else None
        z_new, fixed_new = term.design_for(newdata, phi)
        zs.append(sp.csc_matrix(z_new) if not sp.issparse(z_new) else z_new.tocsc())
        if fixed_new is not None and blk.fixed is not None:
            cols.append(fixed_new)
        elif blk.fixed is not None:
            cols.append(np.zeros((len(newdata), blk.fixed.shape[1])))
    X = np.column_stack(cols) if len(cols) > 1 else Xf
    if spec.dropped_columns:
        allnames = list(spec.fixed.names) + [n for b in spec.blocks for n in b.fixed_names]
        keep = [i for i, nm in enumerate(allnames) if nm not in spec.dropped_columns]
        X = X[:, keep]
    Z = sp.hstack(zs, format="csc") if zs else sp.csc_matrix((len(newdata), 0))
    return X, Z


def check_newdata(fit, newdata: pd.DataFrame, population: bool,
                  allow_new_levels: bool = False) -> np.ndarray:
    """Check ``newdata`` against the fit before predicting; return the rows to predict.

    Raises :class:`~spatialgamm.errors.PredictionError` for text in a column that was numeric
    in the fit, an unseen level of a fixed-effect factor (naming both), and an unseen level
    of a grouping factor unless ``allow_new_levels`` (as lme4's ``allow.new.levels``). Rows
    with missing values in the covariates warn (naming the columns and rows) and are
    predicted as NaN, as R's ``na.pass``; the returned mask marks the complete rows.
    """
    check_dataframe(newdata, "newdata")
    spec = fit.spec
    # smooths of expressions (s(log(x))) use derived columns: check x, through them
    newdata = add_expression_columns(newdata, spec.formula.specials, spec.env)
    roles = column_roles(spec.formula, spec.data.columns)
    used = roles.fixed | roles.slopes | roles.smooth | (set() if population else
                                                         roles.grouping)
    used |= {c for c in roles.other if c != spec.response_name
             and any(c == s.kwargs.get("by") for s in spec.formula.specials)}
    lacking = sorted(c for c in used if c not in newdata.columns)
    if lacking:
        raise PredictionError(f"newdata lacks column(s) {lacking} that the model uses "
                              f"(newdata has {list(newdata.columns)[:20]})")
    used = sorted(used)
    for c in used:
        old, new = spec.data[c], newdata[c]
        if pd.api.types.is_complex_dtype(new):
            raise PredictionError(f"newdata column {c!r} holds complex numbers (dtype "
                                  f"{new.dtype}); the model needs real numbers")
        if (pd.api.types.is_numeric_dtype(old) and not pd.api.types.is_bool_dtype(old)
                and (pd.api.types.is_datetime64_any_dtype(new)
                     or pd.api.types.is_timedelta64_dtype(new))):
            raise PredictionError(f"newdata column {c!r} was numeric in the fit but holds "
                                  f"dates/times (dtype {new.dtype}); convert them as the "
                                  "fitted data were")
        if (pd.api.types.is_numeric_dtype(old) and not pd.api.types.is_bool_dtype(old)
                and not pd.api.types.is_numeric_dtype(new)):
            num = pd.to_numeric(new, errors="coerce")
            bad = num.isna() & new.notna()
            where = (f": {new[bad].iloc[0]!r} at row {int(np.argmax(bad.to_numpy()))}"
                     if bad.any() else "")
            raise PredictionError(f"newdata column {c!r} was numeric in the fit but holds "
                                  f"text (dtype {new.dtype}){where}; convert it with "
                                  f"pd.to_numeric(newdata[{c!r}])")
        if c in roles.fixed and (not pd.api.types.is_numeric_dtype(old)
                                 or pd.api.types.is_bool_dtype(old)):
            seen = {str(v) for v in pd.unique(old.dropna())}
            unseen = [v for v in pd.unique(new.dropna()).tolist() if str(v) not in seen]
            if unseen:
                raise PredictionError(f"newdata has level(s) {unseen[:5]} of the fixed-effect "
                                      f"factor {c!r} that the fit never saw (levels: "
                                      f"{sorted(map(str, seen))[:20]}); there is no "
                                      "coefficient for them")
    ok = ~newdata[used].isna().any(axis=1).to_numpy() if used else np.ones(len(newdata), bool)
    if not ok.all():
        cols = [c for c in used if newdata[c].isna().any()]
        rows = np.flatnonzero(~ok)
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        warnings.warn(f"newdata has missing values in {cols} at {len(rows)} row(s) ({shown}): "
                      "their predictions are NaN (as R's na.pass)", DataWarning, stacklevel=4)
    if not population:
        for blk in spec.blocks:
            term = blk.term
            if not term.has(Ability.GROUPING_FACTOR):
                continue
            parts = [p.strip() for p in term.grouping_factor.split(":")]
            if any(p not in newdata.columns for p in parts):
                continue  # design_for names the missing column
            labels = newdata[parts[0]].astype(str).to_numpy()
            for p in parts[1:]:
                labels = np.char.add(np.char.add(labels.astype(str), ":"),
                                     newdata[p].astype(str).to_numpy().astype(str))
            new = ~np.isin(labels, np.asarray(term.levels, dtype=str)) & ok
            if new.any() and not allow_new_levels:
                levs = pd.unique(labels[new])[:5].tolist()
                raise PredictionError(f"new levels detected in newdata for grouping factor "
                                      f"{term.grouping_factor!r}: {levs}; pass "
                                      "allow_new_levels=True to predict them at the "
                                      "population level (as lme4's allow.new.levels)")
    return ok


def predict_frame(fit, newdata=None, re_form=None, type="link", se_fit=False, offset=None,
                  level=None, allow_new_levels: bool = False):
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', got {type!r}")
    population = _population_only(re_form)
    st = fit.state
    if newdata is None and not population and not se_fit:
        return st.eta.copy() if type == "link" else st.mu.copy()
    if newdata is not None:
        ok = check_newdata(fit, newdata, population, allow_new_levels)
        if not ok.all():
            # predict the complete rows; the others are NaN (R's na.pass)
            if offset is not None and np.size(offset) == len(newdata):
                offset = np.asarray(offset, dtype=float).ravel()[ok]
            part = predict_frame(fit, newdata.loc[ok], re_form, type, se_fit, offset, level,
                                 allow_new_levels=True)  # new levels were checked above
            full = pd.DataFrame(np.nan, index=newdata.index, columns=part.columns)
            full.iloc[np.flatnonzero(ok)] = part.to_numpy()  # by position: labels may repeat
            return full
    data = fit.spec.data if newdata is None else newdata
    X, Z = design_rows(fit, data, population)
    if newdata is None and offset is None:
        off = fit.spec.offset
    else:
        off = _offset_for(fit, data, offset)
    eta = off + X @ st.beta + np.asarray(Z @ st.b).ravel()
    out = pd.DataFrame({"fit": eta}, index=data.index)
    if se_fit:
        var = posterior_variance(fit, X, Z, population)
        if newdata is not None:
            var = var + extra_variance(fit, data)
        out["se_fit"] = np.sqrt(np.clip(var, 0, None))
    if level is not None and se_fit:
        zq = stats.norm.ppf(0.5 + level / 2)
        out["lower"] = out["fit"] - zq * out["se_fit"]
        out["upper"] = out["fit"] + zq * out["se_fit"]
    if type == "response":
        link = fit.family.link
        e = out["fit"].to_numpy()
        out["fit"] = link.linkinv(e)
        if se_fit:
            out["se_fit"] = np.abs(link.mu_eta(e)) * out["se_fit"]
        if level is not None and se_fit:
            lo, hi = link.linkinv(out["lower"].to_numpy()), link.linkinv(out["upper"].to_numpy())
            out["lower"], out["upper"] = np.minimum(lo, hi), np.maximum(lo, hi)
    return out


def _block_phi(fit, k: int) -> np.ndarray:
    return fit.state.system.block_phi(fit.state.phi, k)


def extra_variance(fit, newdata: pd.DataFrame) -> np.ndarray:
    """Variance at new data that the posterior of (beta, b) does not carry.

    A GP's field at a new site given the site effects still varies (the kriging variance
    ``K_nn - K_ns K^-1 K_sn``); terms that know such a variance expose
    ``extra_variance(newdata, phi, scale)`` and it is added here.
    """
    out = np.zeros(len(newdata))
    for k, blk in enumerate(fit.spec.blocks):
        if blk.term.has(Ability.KRIGING_VARIANCE):
            out += blk.term.extra_variance(newdata, _block_phi(fit, k), fit.state.latent_scale)
    return out


def posterior_variance(fit, X: np.ndarray, Z, population: bool) -> np.ndarray:
    """Var(x'beta + z'b) under the joint posterior of (beta, b) (Bayesian, as mgcv's Vp).

    For the Gaussian LMM this is lme4/merTools' conditional variance with beta uncertain.
    """
    post = fit.state.sparse_posterior
    if post is not None:  # issue 7: SPDE fits keep a selected inverse, no dense (p+q)^2
        return post.variance(X, Z, population)
    cov = fit.state.joint_cov
    if cov is None:
        cov = joint_covariance(fit)
        fit.state.joint_cov = cov
    M = np.column_stack([X, Z.toarray() if sp.issparse(Z) else Z]) if Z.shape[1] else X
    C = cov  # population level: Z's group-level columns are zero, smooths' columns stay
    # chunk rows so memory stays bounded on large grids
    out = np.empty(M.shape[0])
    step = 20000
    for i in range(0, M.shape[0], step):
        Mi = M[i:i + step]
        out[i:i + step] = np.einsum("ij,jk,ik->i", Mi, C, Mi)
    return out


def joint_covariance(fit) -> np.ndarray:
    """Posterior covariance of (beta, b): scale * [X Z]'W[X Z] + penalty, inverted (small q)."""
    st = fit.state
    spec = fit.spec
    sysl = st.system
    q = sysl.q
    w = spec.weights if st.working_weights is None else st.working_weights
    Lam = sysl.Lambda(st.phi)
    Zl = (sysl.Z @ Lam).toarray() if q else np.zeros((spec.n, 0))
    M = np.column_stack([spec.X, Zl])
    H = M.T @ (M * w[:, None])
    P, _ = sysl.precision(st.phi)
    p = spec.p
    if q:
        H[p:, p:] += np.eye(q) if P is None else P.toarray()
    # H is positive definite; a pseudo-inverse would drop its weakest directions (e.g. under
    # a huge smoothing parameter of a multi-penalty smooth) and understate the variance
    try:
        Hinv = sla.cho_solve(sla.cho_factor(0.5 * (H + H.T)), np.eye(H.shape[0]))
    except np.linalg.LinAlgError:
        Hinv = np.linalg.pinv(H)
    Hinv = Hinv * st.latent_scale
    T = np.zeros((p + q, p + q))
    T[:p, :p] = np.eye(p)
    if q:
        T[p:, p:] = Lam.toarray()
    return T @ Hinv @ T.T
