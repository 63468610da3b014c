"""OpenID Provider: "Sign in with Veronica" for any site (docs/OIDC.md).

Authlib's OAuth 2.0 / OpenID Connect server core does the protocol (request
validation, PKCE, codes, tokens, ID tokens); this package is the glue: the
registered clients (``clients``), the signing keys and JWKS (``keys``), the
short-lived grants in the shared store (``grants``), the Authlib server wired to
our requests and users (``provider``) and the routes (``routes``).
"""
