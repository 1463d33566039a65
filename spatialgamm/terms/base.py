"""The term protocol: what every random / penalised term hands to the engine and the results.

Two objects per latent term:

* a :class:`Block` (below): the numbers the engine works with;
* its ``term``, a :class:`LatentTerm`: what the term *is* - its parameter names, how it
  reports them, how it rebuilds its design rows for new data - and a declared set of optional
  :class:`Ability` values (kriging variance, covariance form, lme4 grouping factor, ...).
  Code outside :mod:`spatialgamm.terms` asks ``term.has(Ability.X)`` and never probes a
  term's attributes or type.

A new term kind is one module in :mod:`spatialgamm.terms`: a :class:`LatentTerm` subclass and a
builder registered with :func:`register_term` (see ``docs/ARCHITECTURE.md``).

The engine sees only :class:`Block` objects. A block owns columns ``Z`` of the latent part of
the linear predictor and the prior of its coefficients, in one of two forms:

* ``kind="factor"``: ``b = Lambda(phi) u`` with ``u ~ N(0, s I)``. ``Lambda`` has a fixed
  sparsity pattern (``template``) whose stored values are refilled from ``phi`` by
  :meth:`Block.lambda_values`; it may be singular, so variances can reach zero (lme4's
  relative covariance factor, mgcv smooths after reparameterisation, dense GPs).
* ``kind="precision"``: ``b = u ~ N(0, s P(phi)^-1)`` with a sparse precision
  (SPDE fields), :meth:`Block.precision` returns ``(P, log|P|)``.

``s`` is the residual variance for the Gaussian family (so the block is *relative* to it, as in
lme4) and 1 for families with a known scale.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import FormulaError
from ..termsyntax import SpecialTerm


@dataclass(frozen=True)
class Block:
    """One latent term as the engine sees it.

    Attributes
    ----------
    name : str
        Label used in tables (``"Subject"``, ``"s(cX,cY)"``).
    Z : scipy.sparse.csc_matrix or ndarray, shape (n, q)
        Design of the term's coefficients.
    kind : {"factor", "precision"}
    phi_start, phi_lower, phi_upper : ndarray
        The block's parameters on the optimiser scale, their start and bounds.
    template : scipy.sparse.csc_matrix, shape (q, q)
        Sparsity pattern of ``Lambda`` (``kind="factor"``), with canonical (sorted) indices.
    fixed : ndarray, shape (n, m), optional
        Unpenalised columns the term adds to the fixed-effects matrix (a penalty null space).
    fixed_names : list of str
    term : LatentTerm
        The term object that built the block (used to report and to predict; see
        :class:`LatentTerm`).
    pencil : SPDEOperator, optional
        A precision given as an SPDE pencil (``kind="precision"``): the engine computes
        ``P``, ``log|P|`` and their derivatives from it (:mod:`spatialgamm.engine.prior`).
    """

    name: str
    Z: Any
    kind: str
    phi_start: np.ndarray
    phi_lower: np.ndarray
    phi_upper: np.ndarray
    template: sp.csc_matrix | None = None
    fixed: np.ndarray | None = None
    fixed_names: list[str] = field(default_factory=list)
    term: Any = None
    pencil: Any = None

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_phi(self) -> int:
        return len(self.phi_start)

    def lambda_values(self, phi: np.ndarray) -> np.ndarray:
        """Stored values of ``Lambda(phi)`` in the order of ``template.data``."""
        return self.term.lambda_values(phi)

    def precision(self, phi: np.ndarray) -> tuple[sp.csc_matrix, float]:
        """``(P(phi), log|P(phi)|)`` for ``kind="precision"``."""
        return self.term.precision(phi)

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        """Human-readable descriptions of parameters on their boundary (singular fit)."""
        return self.term.at_boundary(phi)



class CovariateDesign(Protocol):
    """Columns of a model matrix built on data that rebuild themselves for new data (what the
    formula layer's ``fixed_design`` returns; lme4 bars take their covariates as one)."""

    X: np.ndarray
    names: list[str]

    def for_newdata(self, newdata: pd.DataFrame) -> np.ndarray: ...


class Ability(str, enum.Enum):
    """Optional abilities a term may declare in :attr:`LatentTerm.abilities`.

    Each ability names the members the term then provides (:data:`ABILITY_MEMBERS`);
    callers ask ``term.has(Ability.X)`` before using them.
    """

    #: ``extra_variance(newdata, phi, scale) -> (m,)``: variance of the term's field at new
    #: rows given its coefficients (the kriging variance of a GP at a new site)
    KRIGING_VARIANCE = "kriging_variance"
    #: ``new_coords(newdata) -> (X, rows)`` and ``field_covariance(X, phi, scale)``: the
    #: joint covariance of the field at new points (for conditional simulation)
    FIELD_COVARIANCE = "field_covariance"
    #: ``report(phi, scale) -> dict``: the field's parameters on the user's scale (range,
    #: sigma, nu, ...), one row of ``gp_params`` / ``spde_params``
    FIELD_REPORT = "field_report"
    #: ``ranef_frame(b) -> DataFrame``: conditional modes, one row per level
    RANEF_FRAME = "ranef_frame"
    #: ``lambda_jacobian(phi) -> (nnz, n_phi)``: exact derivative of the stored values of
    #: Lambda (the engine uses central differences otherwise)
    LAMBDA_JACOBIAN = "lambda_jacobian"
    #: ``covariance_matrix(phi)`` and ``covariance_jacobian(phi)``: the covariance of the
    #: coefficients and its derivatives (the engine's covariance form)
    COVARIANCE_FORM = "covariance_form"
    #: ``precision_derivatives(phi) -> [(dP/dphi_j, dlog|P|/dphi_j)]`` (precision blocks)
    PRECISION_DERIVATIVES = "precision_derivatives"
    #: ``phi_scale()``, ``sign_free()``, ``canonical_phi(phi)``: the optimiser's units and
    #: sign symmetries of the parameters (``engine.optimize.ParameterSpace``)
    OPTIMISER_UNITS = "optimiser_units"
    #: an lme4 bar: ``grouping_factor`` (the group expression), ``label`` (``(x | g)``),
    #: ``cov_names`` (coefficients per level, ``nc`` of them), ``T(phi)`` (the relative
    #: covariance factor of one level)
    GROUPING_FACTOR = "grouping_factor"
    #: an mgcv smooth in mixed-model form: ``spec`` (the basis, :class:`~.smooths.SmoothSpec`),
    #: ``U_range`` / ``U_null`` (its penalty's range and null space), ``sp(phi)`` and
    #: ``sp_labels`` (smoothing parameters, labelled as mgcv's when there are several) and
    #: ``coef_from(b, beta_null)`` (coefficients on mgcv's basis)
    SMOOTH = "smooth"
    #: a known relationship matrix (kinship): ``variance(phi, scale)`` is the genetic
    #: variance whose share of the total is the heritability
    HERITABLE = "heritable"


#: the members each ability brings (checked when a term class is defined)
ABILITY_MEMBERS: dict[Ability, tuple[str, ...]] = {
    Ability.KRIGING_VARIANCE: ("extra_variance",),
    Ability.FIELD_COVARIANCE: ("new_coords", "field_covariance"),
    Ability.FIELD_REPORT: ("report",),
    Ability.RANEF_FRAME: ("ranef_frame",),
    Ability.LAMBDA_JACOBIAN: ("lambda_jacobian",),
    Ability.COVARIANCE_FORM: ("covariance_matrix", "covariance_jacobian"),
    Ability.PRECISION_DERIVATIVES: ("precision_derivatives",),
    Ability.OPTIMISER_UNITS: ("phi_scale", "sign_free", "canonical_phi"),
    Ability.GROUPING_FACTOR: ("grouping_factor", "label", "cov_names", "nc", "T"),
    Ability.SMOOTH: ("spec", "U_range", "U_null", "sp", "sp_labels", "coef_from"),
    Ability.HERITABLE: ("variance",),
}


class LatentTerm:
    """Base class of every term that builds a :class:`Block`: the protocol the engine and
    the results rely on.

    Required (a subclass defines them):

    * ``name`` (str) and ``phi_names`` (one name per parameter of the block, on the
      optimiser's scale: ``log_range``, ``Subject.(Intercept)`` ...);
    * ``lambda_values(phi)`` for ``kind="factor"`` blocks or ``precision(phi)`` for
      ``kind="precision"`` ones (see :class:`Block`);
    * ``design_for(newdata, phi=None) -> (Z_new, fixed_new)``: the term's design rows (and
      the rows of the fixed columns it added, or None) for new data, at the fitted ``phi``;
    * ``varcorr_rows(phi, scale) -> list[dict]``: its rows of ``VarCorr`` (keys ``grp``,
      ``var1``, ``var2``, ``vcov``, ``sdcor``; may be empty).

    Optional, with the defaults here:

    * ``at_boundary(phi)``: descriptions of parameters on a boundary (none);
    * ``spatial_coords`` (coordinate column names of a spatial term) and ``crs``: None;
    * ``n_levels``: the number of levels of the term's grouping (None: not grouped);
    * ``population_level_drop``: the term is left out of population-level predictions
      (``re_form=~0``): lme4 bars and kinship effects, not smooths or fields (False);
    * ``design_needs_phi``: ``design_for`` depends on ``phi`` (kriging weights) (False);
    * ``lambda_is_linear``: Lambda is linear in ``phi`` (its Jacobian is constant) (False);
    * ``log_scale_start``: the single parameter is a log SD whose start the engine may
      balance against the data (smooths) (False);

    and the abilities a class declares in ``abilities`` (:class:`Ability`), each with its
    members (:data:`ABILITY_MEMBERS`). Declaring an ability without its members, or defining
    an ability's members without declaring it, is refused when the class is defined.
    """

    #: the optional abilities this term kind has
    abilities: ClassVar[frozenset[Ability]] = frozenset()

    name: str
    phi_names: Sequence[str]
    spatial_coords: tuple[str, ...] | None = None
    crs: Any = None
    population_level_drop: bool = False
    design_needs_phi: bool = False
    lambda_is_linear: bool = False
    log_scale_start: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.abilities = frozenset(Ability(a) for a in cls.abilities)
        # dataclass fields without a default are only annotations when this runs
        fields = {f for k in cls.__mro__ for f in vars(k).get("__annotations__", {})}
        for ab, members in ABILITY_MEMBERS.items():
            present = [m for m in members if hasattr(cls, m) or m in fields]
            if ab in cls.abilities and len(present) < len(members):
                missing = sorted(set(members) - set(present))
                raise TypeError(f"{cls.__name__} declares {ab.name} but lacks {missing}")
            if ab not in cls.abilities and present:
                raise TypeError(f"{cls.__name__} defines {present} but does not declare "
                                f"Ability.{ab.name} in its abilities")

    @classmethod
    def has(cls, ability: Ability) -> bool:
        """Whether the term kind has ``ability`` (and so its members).

        Examples
        --------
        >>> from spatialgamm.terms.ranef import RandomEffectTerm
        >>> RandomEffectTerm.has(Ability.GROUPING_FACTOR), RandomEffectTerm.has(Ability.SMOOTH)
        (True, False)
        """
        return ability in cls.abilities

    def design_for(self, newdata: pd.DataFrame, phi: np.ndarray | None = None
                   ) -> tuple[Any, np.ndarray | None]:
        raise NotImplementedError(f"{type(self).__name__} does not rebuild its design for "
                                  "new data")

    def varcorr_rows(self, phi: np.ndarray, scale: float) -> list[dict]:
        raise NotImplementedError(f"{type(self).__name__} does not report variance "
                                  "components")

    def at_boundary(self, phi: np.ndarray) -> list[str]:
        return []

    @property
    def n_levels(self) -> int | None:
        return None


#: a builder turns one parsed call of the formula into blocks
TermBuilder = Callable[[SpecialTerm, pd.DataFrame, dict, Any], list[Block]]

#: formula call name -> builder (filled by :func:`register_term`)
TERM_KINDS: dict[str, TermBuilder] = {}


def register_term(*calls: str, replace: bool = False) -> Callable[[TermBuilder], TermBuilder]:
    """Register a term builder for the formula calls ``calls`` (a decorator).

    ``builder(special, data, env, family) -> list[Block]`` receives the parsed call
    (:class:`~spatialgamm.termsyntax.SpecialTerm`), the model's data, the caller's namespace
    and the family. A module of :mod:`spatialgamm.terms` registers its builders when the
    package looks its calls up; other code registers before fitting.

    Examples
    --------
    >>> @register_term("_doc_example")
    ... def build_example(special, data, env, family):
    ...     return []
    >>> "_doc_example" in TERM_KINDS
    True
    >>> del TERM_KINDS["_doc_example"]
    """
    for c in calls:
        if not c.isidentifier() or c == "offset":
            raise ValueError(f"term call name {c!r} must be an identifier other than 'offset'")

    def deco(builder: TermBuilder) -> TermBuilder:
        for c in calls:
            if c in TERM_KINDS and TERM_KINDS[c] is not builder and not replace:
                raise ValueError(f"term call {c}() is already registered (to "
                                 f"{TERM_KINDS[c].__module__}); pass replace=True")
            TERM_KINDS[c] = builder
        return builder
    return deco

def check_arguments(special: SpecialTerm, allowed, where: str | None = None) -> dict[str, Any]:
    """The term's keyword arguments, refusing unknown ones with the list of known ones."""
    where = where or special.text or f"{special.func}()"
    kw = dict(special.kwargs)
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise FormulaError(f"{where}: unknown argument(s) {unknown}; {special.func}() takes "
                           f"{sorted(allowed)}")
    return kw


def coordinate_matrix(data: pd.DataFrame, variables: tuple[str, ...], where: str) -> np.ndarray:
    """The n x D matrix of coordinate columns, checked numeric and finite.

    Examples
    --------
    >>> coordinate_matrix(pd.DataFrame({"x": [0, 1], "y": [2, 3]}), ("x", "y"), "gp(x, y)")
    array([[0., 2.],
           [1., 3.]])
    """
    if not variables:
        raise FormulaError(f"{where}: give at least one coordinate column, e.g. gp(x, y)")
    cols = []
    for v in variables:
        if v not in data.columns:
            raise FormulaError(f"{where}: coordinate {v!r} is not a column of the data "
                               f"(columns: {list(data.columns)})")
        col = data[v]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise FormulaError(f"{where}: coordinate column {v!r} is not numeric "
                               f"(dtype {col.dtype})")
        x = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(x)):
            i = int(np.argmax(~np.isfinite(x)))
            raise FormulaError(f"{where}: coordinate {v!r} is not finite at row {i} ({x[i]})")
        cols.append(x)
    return np.column_stack(cols)


def column_rms(X: np.ndarray) -> np.ndarray:
    """Root mean square of each column (1 for an all-zero or empty column): the natural
    units of a coefficient of that column, used to make optimisers unit-invariant.

    Examples
    --------
    >>> column_rms(np.array([[1.0, 3e6], [1.0, -4e6]]))
    array([1.00000000e+00, 3.53553391e+06])
    """
    X = np.asarray(X, dtype=float)
    if X.shape[0] == 0:
        return np.ones(X.shape[1])
    rms = np.sqrt(np.mean(X ** 2, axis=0))
    return np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
