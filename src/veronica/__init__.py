"""Veronica: self-hosted face login with liveness."""

__version__ = "0.1.0"
