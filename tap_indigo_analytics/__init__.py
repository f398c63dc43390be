"""Singer tap for Indigo.ai daily Workspace analytics."""

import os

# The SDK imports joblib, which imports numpy where it is installed (a dev or analytics
# environment); numpy's OpenBLAS then starts a thread per core that polls while idle,
# about 1 % of the run's CPU. The tap does no linear algebra, so one thread is enough;
# a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
