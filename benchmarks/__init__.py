"""Benchmarks: requests, wall time and memory of the tap against its physical limits.

Run with ``make bench`` (``python -m benchmarks.run``); see ``benchmarks/run.py``.
"""
