"""``veronica admin …`` and ``veronica keygen --signing``, end to end on a fresh database."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner, Result

from veronica.cli import EXIT_BAD_INPUT, app
from veronica.security.apikeys import AdminKeys, hash_admin_key
from veronica.security.tokens import ResultSigner
from veronica.settings import Settings
from veronica.storage import make_engine

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Cli:
    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: object) -> Result:
        result = self.runner.invoke(app, [str(a) for a in args], env=self.env)
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
        VERONICA_ENVIRONMENT="development", VERONICA_DATA_DIR=str(tmp_path / "data"), COLUMNS="120"
    )
    return Cli(env)


def _keys(tmp_path: Path) -> AdminKeys:
    """The same database the CLI wrote, seen through the service's AdminKeys."""
    url = Settings(data_dir=tmp_path / "data").resolved_database_url
    return AdminKeys(make_engine(url), dev_key=None)


def _plain(text_: str) -> str:
    return _ANSI.sub("", text_)


def test_create_key_prints_it_once_and_it_verifies(cli: Cli, tmp_path: Path) -> None:
    result = cli("admin", "create-key", "--label", "ops")
    assert result.exit_code == 0, result.output
    key = _plain(result.stdout).strip()
    assert re.fullmatch(r"vra_[A-Za-z0-9_-]{43}", key), result.stdout
    assert "not shown again" in result.stderr
    keys = _keys(tmp_path)
    assert keys.verify(key)
    assert not keys.verify(key[:-1])
    db = tmp_path / "data" / "veronica.db"
    with make_engine(f"sqlite:///{db}").connect() as connection:
        stored = connection.execute(text("SELECT key_hash FROM admin_keys")).scalar_one()
    assert stored == hash_admin_key(key)
    assert key.encode() not in db.read_bytes()


def test_list_and_revoke(cli: Cli, tmp_path: Path) -> None:
    ops = _plain(cli("admin", "create-key", "--label", "ops").stdout).strip()
    ci = _plain(cli("admin", "create-key", "--label", "ci").stdout).strip()
    listing = _plain(cli("admin", "list-keys").stdout)
    assert "ops" in listing and "ci" in listing
    assert ops not in listing and ci not in listing

    result = cli("admin", "revoke-key", "ops")
    assert result.exit_code == 0 and "revoked admin key 'ops'" in _plain(result.stdout)
    keys = _keys(tmp_path)
    assert not keys.verify(ops)
    assert keys.verify(ci)
    rows = [line for line in _plain(cli("admin", "list-keys").stdout).splitlines() if "ops" in line]
    assert len(rows) == 1 and rows[0].count("20") >= 2, "revoked time is listed"


def test_default_label_is_generated(cli: Cli, tmp_path: Path) -> None:
    assert cli("admin", "create-key").exit_code == 0
    (record,) = _keys(tmp_path).list()
    assert re.fullmatch(r"key-[0-9a-f]{6}", record.label)


def test_duplicate_label_is_one_error_line(cli: Cli) -> None:
    cli("admin", "create-key", "--label", "ops")
    result = cli("admin", "create-key", "--label", "ops")
    assert result.exit_code == 2
    assert "admin_key_exists" in result.stderr
    assert result.stdout == "", "no key printed for a refused label"


def test_revoking_an_unknown_label_fails(cli: Cli) -> None:
    result = cli("admin", "revoke-key", "nobody")
    assert result.exit_code == 2
    assert "admin_key_not_found" in result.stderr


def test_keygen_signing_writes_a_private_p256_key(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    result = cli("keygen", "--signing", "--out", path)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signer = ResultSigner.load(Settings(signing_key_path=path))
    assert signer.kid in _plain(result.stdout)


def test_keygen_signing_refuses_to_overwrite(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    assert cli("keygen", "--signing", "--out", path).exit_code == 0
    before = path.read_bytes()
    result = cli("keygen", "--signing", "--out", path)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "refusing to overwrite" in " ".join(result.stderr.split())
    assert path.read_bytes() == before


def test_keygen_signing_defaults_to_the_settings_path(cli: Cli, tmp_path: Path) -> None:
    assert cli("keygen", "--signing").exit_code == 0
    assert (tmp_path / "data" / "signing_key.pem").is_file()


def test_keygen_out_needs_signing(cli: Cli, tmp_path: Path) -> None:
    result = cli("keygen", "--out", tmp_path / "x.pem")
    assert result.exit_code == EXIT_BAD_INPUT
    assert not (tmp_path / "x.pem").exists()
