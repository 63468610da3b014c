"""A website with "Sign in with Veronica", as a site owner would write it.

Starlette and Authlib's OpenID Connect client: the authorization code flow with
PKCE (S256), the ID token verified against Veronica's JWKS (signature, issuer,
audience, expiry, nonce) by Authlib. The site keeps who signed in in its own
signed session cookie.

Register the site with Veronica first, as a confidential client whose redirect
URI is this site's URL + ``/callback`` (plain http only for 127.0.0.1 /
localhost)::

    curl -H 'Authorization: Bearer ADMIN_KEY' -H 'Content-Type: application/json' \\
         -d '{"name": "Example site", "confidential": true,
              "redirect_uris": ["http://127.0.0.1:5000/callback"]}' \\
         http://127.0.0.1:8000/api/v1/admin/clients

then run it with the ``client_id`` and ``client_secret`` of the answer::

    python examples/relying_party/app.py --issuer http://127.0.0.1:8000 \\
        --client-id CLIENT_ID --client-secret CLIENT_SECRET --port 5000

Every option can also come from the environment: ``OIDC_ISSUER``,
``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``, ``SITE_URL``, ``SITE_PORT``,
``SESSION_SECRET``.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

logger = logging.getLogger("relying_party")


@dataclass(frozen=True)
class Config:
    issuer: str
    """Veronica's URL (its ``VERONICA_PUBLIC_URL``), e.g. https://login.example.org."""
    client_id: str
    client_secret: str
    site_url: str
    """This site's own public URL; the redirect URI is ``site_url + "/callback"``."""
    session_secret: str
    """Signs this site's session cookie; keep it stable across restarts in production."""

    @property
    def redirect_uri(self) -> str:
        # Built from configuration, never from the request's Host header: it must be
        # exactly the URI registered with Veronica.
        return self.site_url + "/callback"


def create_app(config: Config) -> Starlette:
    oauth = OAuth()
    oauth.register(
        "veronica",
        server_metadata_url=config.issuer + "/.well-known/openid-configuration",
        client_id=config.client_id,
        client_secret=config.client_secret,  # sent as client_secret_basic
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )
    veronica: Any = oauth.veronica  # Authlib ships no type hints

    async def home(request: Request) -> Response:
        user = request.session.get("user")
        if user is None:
            return page(
                "signed_out",
                '<p><a data-testid="rp-sign-in" href="/login">Sign in with Veronica</a></p>',
            )
        return page(
            "signed_in",
            f'<p data-testid="rp-user">Signed in as <b data-testid="rp-name">'
            f"{html.escape(user['name'])}</b></p>"
            f'<p>Subject (<code>sub</code>): <code data-testid="rp-sub">'
            f"{html.escape(user['sub'])}</code></p>"
            '<form method="post" action="/logout"><button>Sign out</button></form>',
        )

    async def login(request: Request) -> Response:
        # Authlib makes the state, the nonce and the PKCE verifier, keeps them in
        # the session, and sends the browser to Veronica's authorization endpoint.
        response: Response = await veronica.authorize_redirect(request, config.redirect_uri)
        return response

    async def callback(request: Request) -> Response:
        # RFC 9207: the answer names the issuer that sent it (mix-up defence).
        metadata = await veronica.load_server_metadata()
        if request.query_params.get("iss") != metadata["issuer"]:
            return page("error", "<p>The sign-in answer came from an unexpected issuer.</p>", 400)
        try:
            # The code, the verifier and the client secret → tokens; the ID token is
            # verified (signature against the JWKS, iss, aud, exp, nonce).
            token = await veronica.authorize_access_token(request)
        except OAuthError as error:
            if error.error == "access_denied":  # refused, or the person cancelled
                return page(
                    "denied",
                    '<p data-testid="rp-denied">Veronica did not sign you in.</p>'
                    '<p><a data-testid="rp-sign-in" href="/login">Try again</a></p>',
                    403,
                )
            logger.warning("sign-in failed: %s %s", error.error, error.description)
            return page("error", f"<p>Sign-in failed: {html.escape(str(error.error))}</p>", 400)
        claims = token["userinfo"]
        request.session["user"] = {"sub": claims["sub"], "name": claims.get("name", "")}
        return RedirectResponse("/", status_code=303)

    async def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    return Starlette(
        routes=[
            Route("/", home),
            Route("/login", login),
            Route("/callback", callback),
            Route("/logout", logout, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=config.session_secret,
                session_cookie="rp_session",
                same_site="lax",  # sent on Veronica's top-level redirect back to us
                https_only=config.site_url.startswith("https://"),
            )
        ],
    )


def page(state: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example site</title></head>
<body data-rp-state="{state}"><h1>Example site</h1>{body}</body></html>""",
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def main(argv: Sequence[str] | None = None) -> None:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="An example site with Sign in with Veronica")
    parser.add_argument("--issuer", default=env("OIDC_ISSUER"), help="Veronica's public URL")
    parser.add_argument("--client-id", default=env("OIDC_CLIENT_ID"))
    parser.add_argument("--client-secret", default=env("OIDC_CLIENT_SECRET"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env("SITE_PORT", "5000")))
    parser.add_argument("--site-url", default=env("SITE_URL"), help="default http://HOST:PORT")
    parser.add_argument("--session-secret", default=env("SESSION_SECRET"))
    args = parser.parse_args(argv)
    for name in ("issuer", "client_id", "client_secret"):
        if not getattr(args, name):
            parser.error(f"--{name.replace('_', '-')} is required")
    config = Config(
        issuer=args.issuer.rstrip("/"),
        client_id=args.client_id,
        client_secret=args.client_secret,
        site_url=(args.site_url or f"http://{args.host}:{args.port}").rstrip("/"),
        # A random secret signs everyone out at each restart: fine for a demo.
        session_secret=args.session_secret or secrets.token_urlsafe(32),
    )
    import uvicorn

    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(config), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
