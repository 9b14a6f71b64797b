"""The shared harness: timing loop, worker processes, results, charts and the CLI."""
