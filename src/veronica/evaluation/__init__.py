"""Offline evaluation: verification metrics (LFW protocol), PAD metrics and plots.

Pure numpy functions over similarity scores; no face model is involved here.
"""
