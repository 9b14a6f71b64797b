"""A run's charts (matplotlib): every chart from its run folder's files."""
