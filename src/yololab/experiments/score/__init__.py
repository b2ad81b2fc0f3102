"""Scoring a trained cell: its accuracy and cost (metrics.json) and its batch-1 latency (bench.json)."""
