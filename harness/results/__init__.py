"""Results: the run folder's schema (versioned), writing it case by case, reading it back, statistics, and
the environment a run records. Above measuring; uses pandas."""
