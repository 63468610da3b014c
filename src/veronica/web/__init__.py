"""The browser pages: sign in, enroll through a link, and the result page.

Plain HTML files and ES modules under ``static/``, no build step. The pages take
their parameters from the URL (the scripts read them), so the server only hands
out files; ``create_app`` includes ``router`` and calls ``mount_static``.
"""

from veronica.web.routes import STATIC_DIR, mount_static, router

__all__ = ["STATIC_DIR", "mount_static", "router"]
