"""Out-of-core fits: data given as a dask DataFrame or a Parquet dataset, passes over its
partitions on dask's workers accumulate the sufficient statistics (mgcv's ``bam`` way).

The front doors (:func:`spatialgamm.gam`, :func:`spatialgamm.fit`, :func:`spatialgamm.glmer`)
send such data here; :func:`fit_chunked` is the same path called directly.
"""

from .fit import ChunkedFit, fit_chunked
from .source import is_chunked

__all__ = ["ChunkedFit", "fit_chunked", "is_chunked"]
