"""spde() fields sampled centred: NUTS moves the node values themselves.

The non-centred form (``x = tau^-1 K^-1 Ct^1/2 z``, :class:`~spatialgamm.mcmc.fields.SPDEField`)
suits fields the data inform weakly; when they inform it strongly (Rongelap: Poisson counts in
the thousands at 157 sites) the posterior of ``z`` is a narrow ridge whose orientation turns
with ``(range, sigma)`` and NUTS crawls along it. Centred, ``x ~ N(0, Q^-1)`` with
``Q = tau^2 K Ct^-1 K`` (:meth:`SPDEField.latent_prior`: ``log|Q|`` from the same CHOLMOD
factor, its derivative from the factor's selected inverse), the likelihood fixes ``x`` and
the hyperparameters only see ``x`` through the prior. After sampling each draw's ``x`` is
mapped to ``z = tau Ct^-1/2 K x`` (exact), so the InferenceData and maps are those of the
non-centred density the fit keeps.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from .fields import SPDEField
from .spatial_density import FieldDensity


@dataclass
class CentredSPDEDensity(FieldDensity):
    """:class:`FieldDensity` whose spde() fields are centred (module doc)."""

    #: the intercept and the centred field's level form a linear ridge (the data fix their
    #: sum): nutpie's low-rank mass matrix correction learns that direction
    low_rank_mass_matrix = True

    def start(self, init: np.ndarray, jitter: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The full layout's start with each centred field at 0 (jitter 0.1: a small field)."""
        init, jitter = init.copy(), jitter.copy()
        for f in self.fields:
            if getattr(f, "centred", False):
                init[f.z], jitter[f.z] = 0.0, 0.1
        return init, jitter

    def complete(self, chains_out: list[dict[str, np.ndarray]],
                 seed: int) -> list[dict[str, np.ndarray]]:
        """The draws with each centred field's node values replaced by its standard normals."""
        del seed
        out = []
        for ch in chains_out:
            x = ch["x"].copy()
            for f in self.fields:
                if getattr(f, "centred", False):
                    for s in range(len(x)):
                        x[s, f.z] = f.to_standard(x[s, f.hyper], x[s, f.z])
            out.append({**ch, "x": x})
        return out


def centred_spde_density(full: FieldDensity) -> CentredSPDEDensity | None:
    """The model with its spde() fields centred (None without one)."""
    if not any(isinstance(f, SPDEField) for f in full.fields):
        return None
    fields: list[Any] = [dataclasses.replace(f, centred=True) if isinstance(f, SPDEField)
                         else f for f in full.fields]
    for new, old in zip(fields, full.fields):
        new.hyper, new.z = old.hyper, old.z
    kw = {fl.name: getattr(full, fl.name) for fl in dataclasses.fields(FieldDensity)
          if fl.init}
    return CentredSPDEDensity(**{**kw, "fields": fields})
