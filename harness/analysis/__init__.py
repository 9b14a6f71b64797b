"""Analysis: what a run's (or two runs') numbers say: comparisons and their significance, the performance
targets, the A/B verdict, parity against the float64 reference. Above results; draws nothing."""
