"""Serving over HTTP: the app, admission and memory limits, micro-batching and the load test."""
