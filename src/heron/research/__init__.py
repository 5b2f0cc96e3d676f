"""Research at scale: parameter optimisation, walk-forward analysis, Monte Carlo and the
vectorised fast path, run serially, on a local process pool or on a Ray cluster."""
