"""Helpers for tests/test_store.py: versioned test schedules and a reader process for the concurrency test."""
