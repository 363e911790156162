"""The plausible-logs application: the command line, event mapping, sinks and reports."""

import os

# Nothing here calls BLAS; numpy's OpenBLAS would otherwise keep a spinning thread per core (~1% of a run).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
