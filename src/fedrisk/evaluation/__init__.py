"""Evaluation: metrics, bootstrap intervals, early warning."""
