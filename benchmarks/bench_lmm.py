"""Linear mixed models: spatialgamm.lmer against lme4::lmer (REML), same CSV, same run.

    python benchmarks/bench_lmm.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases: sleepstudy ``Reaction ~ Days + (Days|Subject)`` (180 rows); crossed
``y ~ x + (1|g1) + (1|g2)`` on 100,000 rows with 2,000 x 200 levels (skipped by --quick).
Issue 11 (timed against peers_extra.R, each fit's REML criterion checked against lme4's): two
terms on one grouping factor, sleepstudy ``Reaction ~ Days + (1|Subject) + (0 + Days|Subject)``
and simulated ``y ~ x + (1|g) + (0 + x|g)`` with 100 and 1,000 groups of 10 rows.
"""

import sys

from _common import PEERS_EXTRA_R, Case, main


def _minus2ll(fit) -> float:
    return -2.0 * float(fit.loglik)


CASES = [
    Case(
        name="sleepstudy_lmer", csv="sleepstudy.csv", r_name="sleepstudy.csv",
        r_key="sleepstudy_lmer", factors=("Subject",),
        repeats=lambda r: max(r, 20),  # as peers.R
        fit=lambda sg, d: sg.lmer("Reaction ~ Days + (Days|Subject)", d),
    ),
    Case(
        name="lmm_crossed_lmer", csv="lmm_crossed.csv", r_name="lmm_crossed.csv",
        r_key="lmm_crossed_lmer", factors=("g1", "g2"), large=True,
        fit=lambda sg, d: sg.lmer("y ~ x + (1|g1) + (1|g2)", d),
    ),
    Case(
        name="sleepstudy_2terms_lmer", csv="sleepstudy.csv", r_name="sleepstudy.csv",
        r_key="sleepstudy_2terms_lmer", factors=("Subject",), r_script=PEERS_EXTRA_R,
        criterion=_minus2ll, repeats=lambda r: max(r, 20),  # as peers_extra.R
        fit=lambda sg, d: sg.lmer("Reaction ~ Days + (1|Subject) + (0 + Days|Subject)", d),
    ),
    Case(
        name="lmm_2terms_100_lmer", csv="lmm_2terms_100.csv", r_name="lmm_2terms_100.csv",
        r_key="lmm_2terms_100_lmer", factors=("g",), r_script=PEERS_EXTRA_R,
        criterion=_minus2ll, repeats=lambda r: max(r, 20),  # as peers_extra.R
        fit=lambda sg, d: sg.lmer("y ~ x + (1|g) + (0 + x|g)", d),
    ),
    Case(
        name="lmm_2terms_1000_lmer", csv="lmm_2terms_1000.csv", r_name="lmm_2terms_1000.csv",
        r_key="lmm_2terms_1000_lmer", factors=("g",), r_script=PEERS_EXTRA_R,
        criterion=_minus2ll,
        fit=lambda sg, d: sg.lmer("y ~ x + (1|g) + (0 + x|g)", d),
    ),
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
