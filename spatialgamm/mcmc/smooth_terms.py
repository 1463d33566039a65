"""brms's smooth terms ``s()`` / ``t2()`` in :func:`spatialgamm.brm`: the mixed-model form.

brms (through mgcv's ``smooth2random``; Wood 2017, sec. 5.8 and 7.7) writes a smooth as

    f(x) = Xs bs + sum_j Zs_j s_j,      s_j = sds_j zs_j,   zs_j ~ N(0, I)

with ``Xs`` the penalty's null space (unpenalised, flat prior, named ``bs_<label>_<i>``) and
``Zs_j`` the penalised directions scaled to an identity penalty, one standard deviation each
(``sds_<label>_<j>``, prior class ``sds``). The package's smooth blocks are that form already
(:mod:`spatialgamm.terms.smooth`: a single-penalty smooth is ``Z`` with an identity penalty and
its null space as fixed columns; a ``t2`` block has diagonal penalties on disjoint columns, one
per penalised part), so this module only splits and names them: each penalised part becomes a
one-SD term of the samplers (``nc = 1``, one "level" per column), which the Gaussian path
integrates out exactly and the GLMM path samples non-centred, as any lme4 bar.

``te()`` / ``ti()`` smooths have penalties that overlap (no split into independent parts):
brms refuses them and so does ``brm()`` (``t2()`` is the tensor product for this form).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: characters brms's ``rename()`` drops from a smooth's label in parameter names
_DROP = re.compile(r"[ ()\[\],\"'?]")


def brms_label(mgcv_label: str, colon: bool = False) -> str:
    """brms's name of a smooth from mgcv's label: ``s(x):faca`` -> ``sxfaca`` in its SDs and
    parts (``sds_sxfaca_1``), ``sx:faca`` with ``colon=True`` in its unpenalised columns
    (``bs_sx:faca_1``, brms's ``rename`` of mgcv's label).

    Examples
    --------
    >>> brms_label("s(x)"), brms_label("s(x):faca"), brms_label("t2(x,z)")
    ('sx', 'sxfaca', 't2xz')
    >>> brms_label("s(x):faca", colon=True)
    'sx:faca'
    """
    out = _DROP.sub("", mgcv_label)
    return out if colon else out.replace(":", "")


@dataclass
class SmoothPart:
    """One penalised part of one smooth (one level of a factor ``by``), as brms names it.

    ``cols`` are the block's columns it takes and ``scale`` the per-column factor that makes
    its penalty the identity. (A ``t2`` block is built in mgcv's fitting basis,
    ``X U + 1 shift'``, which is what ``smooth2random`` gives brms too: kept as it is.)
    """

    label: str
    term_text: str
    index: int
    cols: np.ndarray
    scale: np.ndarray
    rows_for: Callable[[pd.DataFrame], Any]  # newdata -> the block's (Z, null columns)
    block: int = -1  # the smooth's block in the model's blocks

    @property
    def name(self) -> str:
        """brms's suffix of the part's parameters: ``sds_<name>``, ``s_<name>``."""
        return f"{self.label}_{self.index}"

    def columns(self, Zblock: Any) -> sp.csc_matrix:
        """This part's columns (identity penalty) of the block's design rows ``Zblock``."""
        Zd = Zblock.toarray() if sp.issparse(Zblock) else np.asarray(Zblock, dtype=float)
        return sp.csc_matrix(Zd[:, self.cols] * self.scale[None, :])

    def design_for(self, newdata: pd.DataFrame) -> sp.csc_matrix:
        """The part's design rows at new data."""
        Z, _ = self.rows_for(newdata)
        return self.columns(Z)


def split_penalty(term: Any, n_cols: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(cols, scale)`` of each penalised part of a smooth block's term.

    A single-penalty smooth (``S_range`` absent) is one part with an identity penalty; a
    multi-penalty block splits when every penalty is diagonal and their supports are disjoint
    (``t2``); anything else raises ``NotImplementedError`` naming the term.
    """
    S_range = getattr(term, "S_range", None)
    if S_range is None:
        return [(np.arange(n_cols), np.ones(n_cols))]
    dense = [Sj.toarray() if sp.issparse(Sj) else np.asarray(Sj, dtype=float)
             for Sj in S_range]
    # entries at rounding level of the largest are zeros of the t2 construction
    tol = 1e-9 * max(float(np.abs(Sj).max()) for Sj in dense)
    diags = [np.where(np.abs(np.diag(Sj)) > tol, np.diag(Sj), 0.0) for Sj in dense]
    offdiag = any(np.abs(Sj - np.diag(np.diag(Sj))).max() > tol for Sj in dense)
    cover = np.sum([d > 0 for d in diags], axis=0)
    if offdiag or np.any(cover != 1):
        raise NotImplementedError(
            f"brm(): smooth {term.name!r} has penalties that overlap (te(), ti(), "
            "s(bs='fs')), so it has no split into independent random parts; brms supports "
            "s() and t2() smooths only: write the tensor product as t2()")
    out = []
    for d in diags:
        cols = np.flatnonzero(d > 0)
        out.append((cols, 1.0 / np.sqrt(d[cols])))
    return out


def smooth_parts(term: Any, Zblock: Any, term_text: str) -> list[SmoothPart]:
    """The penalised parts of one smooth block (``term``: the block's term object, which
    knows its mgcv label, penalties and design rows at new data)."""
    label = brms_label(term.spec.label)
    return [SmoothPart(label=label, term_text=term_text, index=j + 1, cols=cols, scale=scale,
                       rows_for=term.design_for)
            for j, (cols, scale) in enumerate(split_penalty(term, Zblock.shape[1]))]


def fixed_var(name: str, smooth_fixed: Any) -> str:
    """The posterior variable of a population-level coefficient: ``bs_sx_1`` for a smooth's
    unpenalised column (in ``smooth_fixed``), ``b_<name>`` otherwise (brms's names).

    Examples
    --------
    >>> fixed_var("sx_1", ["sx_1"]), fixed_var("(Intercept)", ["sx_1"])
    ('bs_sx_1', 'b_Intercept')
    """
    label = "Intercept" if name == "(Intercept)" else name
    return f"{'bs' if name in smooth_fixed else 'b'}_{label}"


def null_names(label: str, n_null: int) -> list[str]:
    """brms's names of a smooth's unpenalised columns: ``sx_1``, ``sx_2``, ..."""
    return [f"{label}_{i + 1}" for i in range(n_null)]


def smooth_texts(md: Any) -> list[str]:
    """The model's smooth terms as R deparses them (brms's ``sds`` coefficients), in order."""
    out: list[str] = []
    for t in md.terms:
        if t.smooth is not None and t.smooth.term_text not in out:
            out.append(t.smooth.term_text)
    return out


def smooth_linpred(md: Any, idata: Any, newdata: pd.DataFrame) -> np.ndarray:
    """Draws (S x rows) of the population-level linear predictor at ``newdata`` (offset
    left out): the fixed effects (with the smooths' unpenalised parts ``bs_``) and each
    smooth's penalised parts ``s_`` (brms's ``re_formula = NA`` keeps smooths)."""
    post = idata.posterior

    def stacked(var: str) -> np.ndarray:
        v = post[var].values
        return v.reshape(-1, *v.shape[2:])

    X = md.fixed_for(newdata)
    beta = np.column_stack([stacked(fixed_var(n, md.smooth_fixed)) for n in md.x_names])
    out = beta @ X.T
    for t, Zn in zip(md.smooth_terms, md.smooth_rows(newdata)):
        out = out + np.asarray(Zn @ stacked(t.name).T).T
    return out


def null_scale(Z: Any, F: np.ndarray) -> np.ndarray:
    """Factors that make a single-penalty smooth's unpenalised columns ``F`` brms's.

    brms builds smooths with mgcv's ``diagonal.penalty = TRUE``, mgcv's "natural"
    parameterisation (``nat.param`` type 2), in which each null-space column is scaled to the
    average sum of squares of the penalised columns ``Z`` (identity penalty). The posterior
    of the smooth does not depend on this (the unpenalised part has a flat prior); the
    coefficients ``bs_`` do, and are then brms's (up to the sign of a null-space basis
    vector, which LAPACK leaves arbitrary). A factor ``by`` uses its first level's ``Z`` for
    every level, as brms (mgcv reuses that level's re-parameterisation).
    """
    Zd = Z.toarray() if sp.issparse(Z) else np.asarray(Z, dtype=float)
    target = float(np.mean(np.sum(Zd ** 2, axis=0)))
    return np.sqrt(target / np.sum(np.asarray(F, dtype=float) ** 2, axis=0))


def check_no_fields(md: Any, has_fields: bool) -> None:
    """Refuse smooths together with gp() / hsgp() / spde() fields (the field path samples
    its own latent vector and does not carry smooth parts yet)."""
    if has_fields and md.smooth_terms:
        raise NotImplementedError(f"brm(): formula {md.formula!r} has s()/t2() smooths and "
                                  "gp()/hsgp()/spde() fields; the two are not sampled together "
                                  "yet (fit the smooth as a gp() term, or the field alone)")
