"""Refits: a fitted model's structure fitted again, taking the fit as input.

A fit object never refits itself (its module would then import the assemblers, which import
it): every refit lives here or in the bootstrap's refitters (:mod:`.bootstrap_refit`), and
takes the fit.

* :func:`refit` - the same model by ML instead of REML, or to a new response, warm-started
  at the fit's parameters (the blocks and the design are reused);
* :func:`refit_ml` - the ML refit likelihood-ratio tests need (``anova``, as lme4's
  ``refit = TRUE``);
* :func:`bootstrap` - parametric or case bootstrap (:mod:`.bootstrap`).

``MixedFit.refit_ml()`` and ``MixedFit.bootstrap()`` are kept for users: they hand the fit
to the functions here through :data:`~.mixed.REFITS`, filled when this module is imported
(``import spatialgamm`` does).

Examples
--------
>>> import spatialgamm as sg
>>> m = sg.lmer("Reaction ~ Days + (Days | Subject)", sg.datasets.load_sleepstudy())
>>> round(refit_ml(m).loglik, 3)  # lme4: logLik(refitML(m)) = -875.970
-875.97
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .assemble import gaussian_state
from .assemble_glmm import laplace_state
from .bootstrap import BootstrapResult
from .bootstrap import bootstrap as _bootstrap
from .mixed import REFITS, MixedFit

__all__ = ["bootstrap", "refit", "refit_ml"]


def refit(fit: MixedFit, reml: bool | None = None, y: np.ndarray | None = None) -> MixedFit:
    """The model refitted with the same structure: by ML instead of REML (``reml=False``) or
    to a new response ``y``, starting from the fit's parameters."""
    spec = fit.spec if y is None else replace(fit.spec, y=np.asarray(y, dtype=float))
    reml = fit.REML if reml is None else reml
    if fit.is_gaussian:
        state = gaussian_state(spec, reml, phi0=fit.state.phi)
    else:
        state = laplace_state(spec, reml=reml, nAGQ=fit.state.nAGQ, phi0=fit.state.phi)
    return MixedFit(spec, state, data_name=fit.data_name)


def refit_ml(fit: MixedFit) -> MixedFit:
    """The fit itself when it is an ML fit, else the model refitted by ML (for
    likelihood-ratio tests: REML likelihoods of different fixed effects do not compare)."""
    return refit(fit, reml=False) if fit.REML else fit


def bootstrap(fit: MixedFit, n: int = 1000, kind: str = "parametric", **kwargs: Any
              ) -> BootstrapResult:
    """Parametric (bootMer's) or case (cluster) bootstrap of ``fit``; see
    :func:`spatialgamm.results.bootstrap.bootstrap`."""
    return _bootstrap(fit, n=n, kind=kind, **kwargs)


REFITS.update(refit_ml=refit_ml, bootstrap=bootstrap)
