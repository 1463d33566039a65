"""Generalised linear mixed models: spatialgamm.glmer against lme4::glmer (Laplace).

    python benchmarks/bench_glmm.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases: cbpp binomial ``cbind(incidence, size - incidence) ~ period + (1|herd)`` (56 rows);
Poisson ``y ~ x + (1|g1)`` on 100,000 rows with 2,000 groups (skipped by --quick).
"""

import sys

from _common import Case, main

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
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
