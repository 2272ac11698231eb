"""Speed measurements side by side with their reference: ``python -m benchmarks`` (docs/benchmarks.md)."""
