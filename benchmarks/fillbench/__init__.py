"""Scoring a video fill on real footage: hole placement, baselines, metrics, contact sheets.

Shared by `benchmarks/real_footage.py` and the CI test on a synthetic-from-photo clip
(`tests/test_real_clip_fill.py`), so both score a fill the same way.
"""
