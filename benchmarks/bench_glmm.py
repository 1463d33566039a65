"""Generalised linear mixed models: spatialgamm.glmer against lme4::glmer (Laplace).

    python benchmarks/bench_glmm.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases: cbpp binomial ``cbind(incidence, size - incidence) ~ period + (1|herd)`` (56 rows);
Poisson ``y ~ x + (1|g1)`` on 100,000 rows with 2,000 groups (skipped by --quick).
Issue 11 (timed against peers_extra.R, each fit's -2 log-likelihood checked against lme4's):
lme4's VerbAgg ``r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)``, binomial, 7,584
rows, 316 x 24 crossed levels; cbpp by adaptive quadrature, nAGQ = 25; a binary
``y ~ x + (1|g)`` with 500 groups of 10 rows, nAGQ = 10.
"""

import sys

import numpy as np
from _common import PEERS_EXTRA_R, Case, main


def _minus2ll(fit) -> float:
    return -2.0 * float(fit.loglik)


def _agq_minus2ll(fit) -> float:
    """-2 log L on lme4's nAGQ > 1 scale, which leaves out the saturated log-likelihood."""
    spec = fit.spec
    sat = float(np.sum(spec.family.loglik_obs(spec.y, np.clip(spec.y, 1e-300, None),
                                              spec.weights)))
    return float(fit.state.criterion) + 2.0 * sat


CASES = [
    Case(
        name="cbpp_glmer", csv="cbpp.csv", r_name="cbpp.csv", r_key="cbpp_glmer",
        factors=("herd", "period"),
        repeats=lambda r: max(r, 10),  # as peers.R
        fit=lambda sg, d: sg.glmer("cbind(incidence, size - incidence) ~ period + (1|herd)",
                                   d, family="binomial"),
    ),
    Case(
        name="glmm_pois_glmer", csv="glmm_pois.csv", r_name="glmm_pois.csv",
        r_key="glmm_pois_glmer", factors=("g1",), large=True,
        fit=lambda sg, d: sg.glmer("y ~ x + (1|g1)", d, family="poisson"),
    ),
    Case(
        name="verbagg_glmer", csv="verbagg.csv", r_name="verbagg.csv", r_key="verbagg_glmer",
        factors=("Gender", "btype", "situ", "id", "item"), r_script=PEERS_EXTRA_R,
        criterion=_minus2ll,
        fit=lambda sg, d: sg.glmer("r2 ~ Anger + Gender + btype + situ + (1|id) + (1|item)",
                                   d, family="binomial"),
    ),
    Case(
        name="cbpp_agq25_glmer", csv="cbpp.csv", r_name="cbpp.csv", r_key="cbpp_agq25_glmer",
        factors=("herd", "period"), r_script=PEERS_EXTRA_R, criterion=_agq_minus2ll,
        repeats=lambda r: max(r, 10),  # as peers_extra.R
        fit=lambda sg, d: sg.glmer("cbind(incidence, size - incidence) ~ period + (1|herd)",
                                   d, family="binomial", nAGQ=25),
    ),
    Case(
        name="glmm_bin_agq10_glmer", csv="glmm_bin_500.csv", r_name="glmm_bin_500.csv",
        r_key="glmm_bin_agq10_glmer", factors=("g",), r_script=PEERS_EXTRA_R,
        criterion=_agq_minus2ll,
        fit=lambda sg, d: sg.glmer("y ~ x + (1|g)", d, family="binomial", nAGQ=10),
    ),
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
