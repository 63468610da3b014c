"""``veronica clients …`` and ``veronica keygen --rsa``, end to end on a fresh database."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from joserfc.jwk import RSAKey
from typer.testing import CliRunner, Result

from veronica.cli import EXIT_BAD_INPUT, EXIT_SETUP, app
from veronica.oidc.clients import ClientRegistry
from veronica.oidc.keys import load_or_create_rsa
from veronica.settings import Environment, Settings
from veronica.storage import make_engine

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CALLBACK = "https://shop.example/auth/callback"
OTHER_CALLBACK = "http://127.0.0.1:8080/cb"


class Cli:
    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: object, **env: str | None) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args], env={**self.env, **env})
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"veronica {args} crashed") from result.exception
        assert "Traceback" not in result.output, result.output
        return result


@pytest.fixture
def cli(tmp_path: Path, isolated_env: None) -> Cli:
    """No VERONICA_* from the shell, in the CLI or in the test's own Settings."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.upper().startswith("VERONICA_")}
    # Development: the production default refuses the public template key.
    env.update(
        VERONICA_ENVIRONMENT="development", VERONICA_DATA_DIR=str(tmp_path / "data"), COLUMNS="200"
    )
    return Cli(env)


def _registry(tmp_path: Path) -> ClientRegistry:
    """The same database the CLI wrote, seen through the provider's ClientRegistry."""
    url = Settings(data_dir=tmp_path / "data").resolved_database_url
    return ClientRegistry(make_engine(url))


def _plain(text_: str) -> str:
    return _ANSI.sub("", text_)


def _one_line(text_: str) -> str:
    return " ".join(_plain(text_).split())


def _field(stdout: str, name: str) -> str:
    """``name: value`` from the command's output."""
    values = [
        line.split(":", 1)[1].strip()
        for line in _plain(stdout).splitlines()
        if line.startswith(f"{name}:")
    ]
    assert len(values) == 1, stdout
    return values[0]


def test_add_list_remove_round_trip(cli: Cli, tmp_path: Path) -> None:
    shop = cli(
        "clients", "add", "--name", "Shop", "--redirect-uri", CALLBACK,
        "--redirect-uri", OTHER_CALLBACK,
    )  # fmt: skip
    assert shop.exit_code == 0, shop.output
    shop_id = _field(shop.stdout, "client_id")
    spa = cli(
        "clients", "add", "--name", "Shop SPA", "--redirect-uri", CALLBACK, "--public",
        "--id-token-alg", "ES256", "--client-id", "shop-spa",
    )  # fmt: skip
    assert spa.exit_code == 0, spa.output
    assert _field(spa.stdout, "client_id") == "shop-spa"

    stored = {c.client_id: c for c in _registry(tmp_path).list()}
    assert set(stored) == {shop_id, "shop-spa"}
    assert stored[shop_id].redirect_uris == (CALLBACK, OTHER_CALLBACK)
    assert stored[shop_id].confidential and stored[shop_id].id_token_alg == "RS256"
    assert not stored["shop-spa"].confidential and stored["shop-spa"].id_token_alg == "ES256"

    listed = cli("clients", "list")
    assert listed.exit_code == 0, listed.output
    rows = _plain(listed.stdout).splitlines()
    shop_row = next(line for line in rows if shop_id in line)
    assert "Shop" in shop_row and "confidential" in shop_row and "RS256" in shop_row
    spa_row = next(line for line in rows if "shop-spa" in line)
    assert "Shop SPA" in spa_row and "public" in spa_row and "ES256" in spa_row
    uris = [line.strip() for line in rows if line.startswith(" ")]
    assert uris == [CALLBACK, OTHER_CALLBACK, CALLBACK], "every URI whole, on its own line"

    removed = cli("clients", "remove", shop_id)
    assert removed.exit_code == 0, removed.output
    assert shop_id in _plain(removed.stdout)
    assert [c.client_id for c in _registry(tmp_path).list()] == ["shop-spa"]
    assert shop_id not in _plain(cli("clients", "list").stdout)


def test_a_confidential_client_secret_is_shown_once_and_never_listed(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli("clients", "add", "--name", "Shop", "--redirect-uri", CALLBACK)
    assert result.exit_code == 0, result.output
    client_id = _field(result.stdout, "client_id")
    secret = _field(result.stdout, "client_secret")
    assert len(secret) >= 40
    assert "not shown again" in _one_line(result.stderr)
    registry = _registry(tmp_path)
    assert registry.check_secret(client_id, secret)
    assert not registry.check_secret(client_id, secret[:-1])

    listing = cli("clients", "list")
    assert listing.exit_code == 0 and client_id in _plain(listing.stdout)
    assert secret not in listing.output
    db = tmp_path / "data" / "veronica.db"
    assert secret.encode() not in db.read_bytes(), "only the secret's hash is stored"


def test_a_public_client_has_no_secret(cli: Cli) -> None:
    result = cli("clients", "add", "--name", "SPA", "--redirect-uri", CALLBACK, "--public")
    assert result.exit_code == 0, result.output
    assert "client_secret" not in result.stdout
    assert "public" in _one_line(result.stderr)


@pytest.mark.parametrize(
    "uri",
    ["http://shop.example/cb", f"{CALLBACK}#frag", "https://user:pw@shop.example/cb", "/cb"],
    ids=["plain-http", "fragment", "credentials", "relative"],
)
def test_a_bad_redirect_uri_is_one_clear_error(cli: Cli, tmp_path: Path, uri: str) -> None:
    result = cli("clients", "add", "--name", "Shop", "--redirect-uri", uri)
    assert result.exit_code == EXIT_BAD_INPUT
    message = _one_line(result.stderr)
    assert "redirect_uri_invalid" in message and "redirect URI" in message
    assert result.stdout == "", "no client id or secret printed for a refused client"
    assert _registry(tmp_path).list() == []


def test_add_refuses_bad_input(cli: Cli) -> None:
    alg = cli(
        "clients", "add", "--name", "Shop", "--redirect-uri", CALLBACK, "--id-token-alg", "HS256"
    )
    assert alg.exit_code == EXIT_BAD_INPUT and "id_token_alg" in _one_line(alg.stderr)
    missing = cli("clients", "add", "--name", "Shop")
    assert missing.exit_code != 0 and "--redirect-uri" in _one_line(missing.output)
    first = cli("clients", "add", "--name", "A", "--redirect-uri", CALLBACK, "--client-id", "shop")
    assert first.exit_code == 0
    again = cli("clients", "add", "--name", "B", "--redirect-uri", CALLBACK, "--client-id", "shop")
    assert again.exit_code == EXIT_BAD_INPUT
    assert "client_exists" in _one_line(again.stderr) and again.stdout == ""
    bad_id = cli("clients", "add", "--name", "C", "--redirect-uri", CALLBACK, "--client-id", "a b")
    assert bad_id.exit_code == EXIT_BAD_INPUT and "client id" in _one_line(bad_id.stderr)


def test_an_empty_list_says_so(cli: Cli) -> None:
    result = cli("clients", "list")
    assert result.exit_code == 0 and result.stdout == ""
    assert "no clients" in _one_line(result.stderr)


def test_removing_an_unknown_client_fails(cli: Cli) -> None:
    result = cli("clients", "remove", "nobody")
    assert result.exit_code == EXIT_BAD_INPUT
    assert "client_not_found" in _one_line(result.stderr)


def test_a_client_name_is_never_read_as_markup(cli: Cli) -> None:
    assert (
        cli("clients", "add", "--name", "[bold]Shop[/]", "--redirect-uri", CALLBACK).exit_code == 0
    )
    assert "[bold]Shop[/]" in _plain(cli("clients", "list").stdout)


def test_clients_refuse_the_development_key_on_the_production_default(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli(
        "clients", "add", "--name", "Shop", "--redirect-uri", CALLBACK, VERONICA_ENVIRONMENT=None
    )
    assert result.exit_code == EXIT_SETUP
    assert "VERONICA_TEMPLATE_KEY must be set" in _one_line(result.stderr)
    assert not (tmp_path / "data" / "veronica.db").exists()


# -- keygen --rsa ------------------------------------------------------------------------


def test_keygen_rsa_writes_a_loadable_private_key(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "rsa.pem"
    result = cli("keygen", "--rsa", "--out", path)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_or_create_rsa(
        Settings(environment=Environment.PRODUCTION, rsa_signing_key_path=path)
    )
    assert key.is_private and key.raw_value.key_size == 2048
    output = _plain(result.stdout)
    assert key.thumbprint() in output, "the key id printed is the JWKS kid"
    assert f"VERONICA_RSA_SIGNING_KEY_PATH={path.resolve()}" in output.splitlines()


def test_keygen_rsa_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "rsa.pem"
    assert cli("keygen", "--rsa", "--out", path).exit_code == 0
    before = path.read_bytes()
    result = cli("keygen", "--rsa", "--out", path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "refusing to overwrite" in _one_line(result.stderr)
    assert path.read_bytes() == before
    assert RSAKey.import_key(before).is_private


def test_keygen_rsa_defaults_to_the_settings_path(cli: Cli, tmp_path: Path) -> None:
    result = cli("keygen", "--rsa")
    assert result.exit_code == 0, result.output
    path = tmp_path / "data" / "rsa_signing_key.pem"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / "signing_key.pem").exists()


def test_keygen_signing_and_rsa_are_mutually_exclusive(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    result = cli("keygen", "--signing", "--rsa", "--out", path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "mutually exclusive" in _one_line(result.stderr)
    assert not path.exists()
