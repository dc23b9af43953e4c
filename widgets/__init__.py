"""Reusable, presentational Textual widgets fed plain model data."""
