"""The hyperparameters of a model on INLA's internal scale, and their map to the engine's.

Each latent block and the family's free parameter become one :class:`HyperSlot`: a group of
entries of ``theta`` (INLA's internal scale), the engine parameters ``phi`` they set, and the
Jacobian ``d phi / d theta`` that carries the engine's gradient over. The kinds:

============ ====================================== ========================================
kind         theta (INLA's internal scale)          engine phi (u ~ N(0, I), b = Lambda u)
============ ====================================== ========================================
precision    ``log tau`` of ``(1 | g)``             ``sd = exp(-theta / 2)`` (Lambda = sd I)
iid          ``(log tau_1..p, rho~_12, ...)`` of    the lower triangle of ``chol(Sigma)``,
             ``(1 + x | g)`` (INLA's ``iid2d``..)   column by column (lme4's theta)
smooth       ``log tau_j`` of each penalty of a     ``log sd_j = -theta_j / 2`` (``s()``:
             ``s()`` / ``te()``: ``tau_j b'S_j b``   Lambda = sd I; ``te()``: P = sum tau_j S_j)
matern       ``(log range, log sigma)`` of spde()   the same
gp           ``(log range, log sigma)`` of gp(),    ``(log range, sigma)``
             hsgp()
noise        ``log`` precision of Gaussian          the engine's scale ``1 / tau``
             observations
size         ``log size`` (negative binomial)       the family's theta
precision_y  ``log`` precision ``1 / dispersion``   the engine's scale
             (Gamma, inverse Gaussian)
============ ====================================== ========================================

Independent bars ``(1 | g) + (0 + x | g)`` are two ``precision`` slots, as INLA's two
``iid`` models. The engine's parameters are absolute here (the adapter keeps the Gaussian
noise variance in the engine's ``scale``, outside ``Lambda``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ModelError
from ..model import ModelSpec
from ..terms.base import Ability
from .priors import correlation_pairs, iid_covariance

#: the largest correlated bar INLA has a Wishart model for (iid5d)
MAX_IID_DIM = 5

#: parameter names of the GP terms inla() integrates over (range and SD both free)
GP_PHI = ["log_range", "sigma"]


@dataclass(frozen=True)
class HyperSlot:
    """One group of hyperparameters: where it sits in ``theta`` and what it means.

    Attributes
    ----------
    term : str
        The key of its prior (the block's name; ``'gaussian'``-like names for families).
    kind : str
        See the module table.
    index : slice
        Its entries of ``theta``.
    block : int or None
        The latent block it parameterises (None for the family's parameter).
    internal : tuple of str
        INLA-style names of its internal hyperparameters.
    phi : slice or None
        The engine parameters it sets.
    labels : tuple of str
        Covariate names (``iid``) or penalty labels (``smooth``).
    space_dim : int
        Dimension of a field's domain (the PC prior of its range).
    """

    term: str
    kind: str
    index: slice
    block: int | None
    internal: tuple[str, ...]
    phi: slice | None = None
    labels: tuple[str, ...] = ()
    space_dim: int = 2

    @property
    def size(self) -> int:
        return self.index.stop - self.index.start


def family_kind(family) -> str | None:
    """The family's free hyperparameter: 'noise', 'size', 'precision_y' or None."""
    if family.name == "gaussian":
        return "noise"
    if hasattr(family, "with_theta"):
        return "size" if getattr(family, "estimate", False) else None
    if not family.scale_known:
        return "precision_y"
    return None


def build_slots(spec: ModelSpec) -> list[HyperSlot]:
    """The slots of a model, block by block, then the family's; refuses what it cannot map."""
    slots: list[HyperSlot] = []
    k = 0
    pk = 0
    for j, blk in enumerate(spec.blocks):
        term, m = blk.term, blk.n_phi
        ph = slice(pk, pk + m)
        pk += m
        if m == 0:  # an unpenalised smooth (fx=TRUE): fixed effects only
            continue
        name = blk.name
        if term.has(Ability.GROUPING_FACTOR):
            p = term.nc
            if p == 1:
                slots.append(HyperSlot(name, "precision", slice(k, k + 1), j,
                                       (f"log precision for {name}",), ph))
                k += 1
                continue
            if p > MAX_IID_DIM:
                raise ModelError(f"inla(): the bar {term.label} has {p} correlated terms; "
                                 f"INLA's Wishart models go to {MAX_IID_DIM} (iid5d): split "
                                 "it into independent bars or fewer terms")
            cov = tuple(term.cov_names)
            names = tuple(f"log precision for {name} ({c})" for c in cov) + tuple(
                f"logit correlation for {name} ({cov[a]}, {cov[b]})"
                for a, b in correlation_pairs(p))
            slots.append(HyperSlot(name, "iid", slice(k, k + len(names)), j, names, ph, cov))
            k += len(names)
        elif term.has(Ability.SMOOTH):
            labels = tuple(getattr(term, "sp_labels", None) or (name,))
            names = tuple(f"log precision for {lab}" for lab in labels)
            slots.append(HyperSlot(name, "smooth", slice(k, k + m), j, names, ph, labels))
            k += m
        elif blk.pencil is not None:
            slots.append(HyperSlot(name, "matern", slice(k, k + 2), j,
                                   (f"log range for {name}", f"log sigma for {name}"), ph))
            k += 2
        elif list(term.phi_names) == GP_PHI:
            coords = term.spatial_coords
            slots.append(HyperSlot(name, "gp", slice(k, k + 2), j,
                                   (f"log range for {name}", f"log sigma for {name}"), ph,
                                   space_dim=len(coords) if coords else 1))
            k += 2
        else:
            raise ModelError(
                f"inla(): the term {name!r} (parameters {list(term.phi_names)}) is not "
                "supported; inla() takes lme4 bars, s()/te() smooths, spde() fields and "
                "gp()/hsgp() terms with a free range and SD (no nugget, no estimated nu, "
                "nothing fixed)")
    kind = family_kind(spec.family)
    if kind == "noise":
        slots.append(HyperSlot("Gaussian observations", kind, slice(k, k + 1), None,
                               ("log precision for the Gaussian observations",)))
    elif kind == "size":
        slots.append(HyperSlot("size", kind, slice(k, k + 1), None,
                               ("log size for the nbinomial observations (1/overdispersion)",)))
    elif kind == "precision_y":
        fam = spec.family.name
        slots.append(HyperSlot(fam, kind, slice(k, k + 1), None,
                               (f"Intern precision-parameter for the {fam} observations",)))
    return slots


def _chol_vech(S: np.ndarray) -> np.ndarray:
    L = np.linalg.cholesky(S)
    p = S.shape[0]
    return np.array([L[r, c] for c in range(p) for r in range(c, p)])


def slot_phi(s: HyperSlot, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Engine parameters of slot ``s`` at its internal values ``t`` and ``d phi / d t``.

    Raises
    ------
    numpy.linalg.LinAlgError
        Correlations that make no covariance matrix (three or more dimensions).
    """
    t = np.asarray(t, dtype=float)
    if s.kind == "precision":
        v = np.exp(-0.5 * t)
        return v, np.diag(-0.5 * v)
    if s.kind == "smooth":
        return -0.5 * t, -0.5 * np.eye(len(t))
    if s.kind == "matern":
        return t.copy(), np.eye(2)
    if s.kind == "gp":
        sig = float(np.exp(t[1]))
        return np.array([t[0], sig]), np.diag([1.0, sig])
    if s.kind == "iid":
        p = len(s.labels)
        phi = _chol_vech(iid_covariance(t, p))
        J = np.empty((len(phi), len(t)))
        for k in range(len(t)):  # a few Cholesky factors of p x p: central differences
            e = np.zeros(len(t))
            h = 1e-6 * max(1.0, abs(float(t[k])))
            e[k] = h
            J[:, k] = (_chol_vech(iid_covariance(t + e, p))
                       - _chol_vech(iid_covariance(t - e, p))) / (2 * h)
        return phi, J
    raise ValueError(f"slot kind {s.kind!r} has no engine parameters")


def user_scale(s: HyperSlot, t: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """Draws of ``theta`` (rows) of slot ``s`` on the user's scale: ``(name, kind, values)``
    with kind 'prec', 'sd', 'rho', 'range', 'stdev', 'size' (INLA's ``summary.hyperpar``
    names; 'sd' rows go to ``summary_sd``)."""
    t = np.atleast_2d(t)
    out: list[tuple[str, str, np.ndarray]] = []
    if s.kind in ("matern", "gp"):
        out.append((f"Range for {s.term}", "range", np.exp(t[:, 0])))
        out.append((f"Stdev for {s.term}", "stdev", np.exp(t[:, 1])))
    elif s.kind == "iid":
        p = len(s.labels)
        for i, c in enumerate(s.labels):
            out.append((f"Precision for {s.term} ({c})", "prec", np.exp(t[:, i])))
        for k, (a, b) in enumerate(correlation_pairs(p)):
            out.append((f"Rho for {s.term} ({s.labels[a]}, {s.labels[b]})", "rho",
                        np.tanh(0.5 * t[:, p + k])))
        for i, c in enumerate(s.labels):
            out.append((f"SD for {s.term} ({c})", "sd", np.exp(-0.5 * t[:, i])))
    elif s.kind == "smooth":
        for i, lab in enumerate(s.labels):
            out.append((f"Precision for {lab}", "prec", np.exp(t[:, i])))
        for i, lab in enumerate(s.labels):
            out.append((f"SD for {lab}", "sd", np.exp(-0.5 * t[:, i])))
    elif s.kind == "size":
        out.append(("size for the nbinomial observations (1/overdispersion)", "size",
                    np.exp(t[:, 0])))
    elif s.kind == "precision_y":
        out.append((f"Precision-parameter for the {s.term} observations", "prec",
                    np.exp(t[:, 0])))
    else:
        label = "the Gaussian observations" if s.kind == "noise" else s.term
        out.append((f"Precision for {label}", "prec", np.exp(t[:, 0])))
        out.append((f"SD for {label}", "sd", np.exp(-0.5 * t[:, 0])))
    return out
