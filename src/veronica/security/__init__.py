"""Security primitives for the web service: signed result tokens, CSRF tokens, rate
limits, lockout, security headers and admin API keys.

Import from the submodules (``veronica.security.tokens`` …): this package imports
nothing itself, so loading one primitive never pulls in the database layer.
"""
