"""Measuring: the timing loop, worker processes and their jobs, process launch, thread pinning, the peak,
per-layer and A/B timing. Imports no pandas, SciPy or matplotlib (a worker loads only this layer)."""
