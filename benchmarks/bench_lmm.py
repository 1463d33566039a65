"""Linear mixed models: spatialgamm.lmer against lme4::lmer (REML), same CSV, same run.

    python benchmarks/bench_lmm.py [--repeats N] [--no-r] [--quick] [--no-record]

Cases: sleepstudy ``Reaction ~ Days + (Days|Subject)`` (180 rows); crossed
``y ~ x + (1|g1) + (1|g2)`` on 100,000 rows with 2,000 x 200 levels (skipped by --quick).
"""

import sys

from _common import Case, main

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
]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
