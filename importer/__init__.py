"""The plausible-logs application: the command line, event mapping, sinks and reports."""

import os

from importer.allocators import keep_batch_memory

keep_batch_memory()

# Nothing here calls BLAS; numpy's OpenBLAS would otherwise keep a spinning thread per core (~1% of a run).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
