"""Every benchmark (bench_lmm, bench_glmm, bench_gam) in one run and one record.

    python benchmarks/run_all.py [--repeats N] [--no-r] [--quick] [--no-record]
"""

import sys

import bench_gam
import bench_glmm
import bench_lmm
from _common import main

if __name__ == "__main__":
    sys.exit(main([*bench_lmm.CASES, *bench_glmm.CASES, *bench_gam.CASES],
                  __doc__.splitlines()[0]))
