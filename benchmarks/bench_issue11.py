"""The issue-11 speed cases only (crossed binary GLMM, adaptive quadrature, two terms on one
grouping factor), against lme4 in the same run.

    python benchmarks/bench_issue11.py [--repeats N] [--no-r] [--quick] [--no-record]
"""

import sys

import bench_glmm
import bench_lmm
from _common import PEERS_EXTRA_R, main

CASES = [c for c in [*bench_lmm.CASES, *bench_glmm.CASES] if c.r_script == PEERS_EXTRA_R]

if __name__ == "__main__":
    sys.exit(main(CASES, __doc__.splitlines()[0]))
