"""Settings: secrets refused in production, defaults derived from data_dir, env overrides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from veronica.settings import DEVELOPMENT_TEMPLATE_KEY, Environment, Settings
from veronica.storage import TemplateCipher, generate_key


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No VERONICA_* from the shell; the working directory (and its .env) is a temp dir."""
    for name in list(os.environ):
        if name.upper().startswith("VERONICA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# Everything else production insists on, so a test can vary one thing.
PRODUCTION_REST: dict[str, Any] = {
    "signing_key_path": Path("/srv/veronica/signing_key.pem"),
    "public_url": "https://login.example.org",
}


# -- template key -----------------------------------------------------------------------


@pytest.mark.parametrize("key", [DEVELOPMENT_TEMPLATE_KEY, ""], ids=["default", "empty"])
def test_production_refuses_default_or_empty_key(key: str) -> None:
    with pytest.raises(ValidationError, match="VERONICA_TEMPLATE_KEY must be set"):
        Settings(environment=Environment.PRODUCTION, template_key=key)


def test_production_refuses_the_default_key_when_none_is_given() -> None:
    with pytest.raises(ValidationError, match="VERONICA_TEMPLATE_KEY"):
        Settings(environment="production")  # type: ignore[arg-type]


def test_production_accepts_a_generated_key() -> None:
    key = generate_key()
    settings = Settings(environment=Environment.PRODUCTION, template_key=key, **PRODUCTION_REST)
    assert settings.template_key == key
    TemplateCipher.from_setting(settings.template_key)


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_development_and_test_accept_the_default_key(environment: Environment) -> None:
    settings = Settings(environment=environment)
    assert settings.template_key == DEVELOPMENT_TEMPLATE_KEY
    TemplateCipher.from_setting(settings.template_key)  # and it is a valid key


def test_default_environment_is_development() -> None:
    assert Settings().environment is Environment.DEVELOPMENT


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="staging")  # type: ignore[arg-type]


# -- derived paths ----------------------------------------------------------------------


def test_defaults_live_under_var(tmp_path: Path) -> None:
    settings = Settings()
    assert settings.data_dir == Path("var")
    assert settings.database_url is None
    assert (
        settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'var' / 'veronica.db'}"
    )
    assert settings.resolved_models_dir == Path("var") / "models"


def test_resolved_paths_follow_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "store")
    assert (
        settings.resolved_database_url == f"sqlite:///{(tmp_path / 'store').resolve()}/veronica.db"
    )
    assert settings.resolved_models_dir == tmp_path / "store" / "models"


def test_relative_data_dir_resolves_against_the_working_directory(tmp_path: Path) -> None:
    url = Settings(data_dir=Path("rel")).resolved_database_url
    assert url == f"sqlite:///{tmp_path.resolve() / 'rel' / 'veronica.db'}"


def test_explicit_database_url_and_models_dir_win(tmp_path: Path) -> None:
    url = "postgresql+psycopg://veronica@db.example:5432/veronica"
    settings = Settings(data_dir=tmp_path, database_url=url, models_dir=tmp_path / "m")
    assert settings.resolved_database_url == url
    assert settings.resolved_models_dir == tmp_path / "m"


def test_empty_database_url_falls_back_to_sqlite(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve()}/veronica.db"


def test_other_defaults() -> None:
    settings = Settings()
    assert settings.embedder == "mobilefacenet"
    assert settings.match_threshold is None
    assert settings.keep_enrollment_images is False
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_faces == 4 and settings.inference_threads == 1


# -- environment variables --------------------------------------------------------------


def test_env_vars_override_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    env = {
        "VERONICA_ENVIRONMENT": "production",
        "VERONICA_TEMPLATE_KEY": key,
        "VERONICA_DATA_DIR": str(tmp_path / "d"),
        "VERONICA_MODELS_DIR": str(tmp_path / "models"),
        "VERONICA_DATABASE_URL": "sqlite:////srv/veronica.db",
        "VERONICA_EMBEDDER": "fusion",
        "VERONICA_MATCH_THRESHOLD": "0.45",
        "VERONICA_KEEP_ENROLLMENT_IMAGES": "true",
        "VERONICA_HOST": "0.0.0.0",
        "VERONICA_PORT": "9001",
        "VERONICA_INFERENCE_THREADS": "2",
        "VERONICA_CAMERA_HFOV_DEG": "70",
        "VERONICA_MAX_FACES": "2",
        "VERONICA_SIGNING_KEY_PATH": "/srv/signing_key.pem",
        "VERONICA_PUBLIC_URL": "https://login.example.org",
        "VERONICA_ALLOWED_ORIGINS": '["https://shop.example.org"]',
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.template_key == key
    assert settings.data_dir == tmp_path / "d"
    assert settings.resolved_models_dir == tmp_path / "models"
    assert settings.resolved_database_url == "sqlite:////srv/veronica.db"
    assert settings.embedder == "fusion"
    assert settings.match_threshold == 0.45
    assert settings.keep_enrollment_images is True
    assert (settings.host, settings.port) == ("0.0.0.0", 9001)
    assert settings.inference_threads == 2
    assert settings.allowed_origins == ["https://shop.example.org"]
    assert settings.camera_hfov_deg == 70.0
    assert settings.max_faces == 2


def test_env_var_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("veronica_port", "8123")
    assert Settings().port == 8123


def test_data_dir_env_moves_the_derived_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERONICA_DATA_DIR", str(tmp_path / "elsewhere"))
    settings = Settings()
    assert settings.resolved_database_url.endswith(f"{tmp_path.resolve()}/elsewhere/veronica.db")
    assert settings.resolved_models_dir == tmp_path / "elsewhere" / "models"


def test_production_from_env_with_default_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERONICA_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="VERONICA_TEMPLATE_KEY must be set"):
        Settings()
    monkeypatch.setenv("VERONICA_TEMPLATE_KEY", "")
    with pytest.raises(ValidationError, match="VERONICA_TEMPLATE_KEY must be set"):
        Settings()


def test_init_arguments_beat_env_vars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERONICA_DATA_DIR", str(tmp_path / "from-env"))
    assert Settings(data_dir=tmp_path / "explicit").data_dir == tmp_path / "explicit"


def test_dotenv_file_is_read_and_env_vars_beat_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("VERONICA_PORT=9100\nVERONICA_HOST=10.0.0.1\n")
    settings = Settings()
    assert (settings.host, settings.port) == ("10.0.0.1", 9100)
    monkeypatch.setenv("VERONICA_PORT", "9200")
    assert Settings().port == 9200


def test_unrelated_env_vars_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERONICA_NO_SUCH_SETTING", "whatever")
    assert Settings().port == 8000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VERONICA_PORT", "0"),
        ("VERONICA_PORT", "http"),
        ("VERONICA_MATCH_THRESHOLD", "1.5"),
        ("VERONICA_EMBEDDER", "arcface"),
        ("VERONICA_ENVIRONMENT", "staging"),
        ("VERONICA_KEEP_ENROLLMENT_IMAGES", "maybe"),
        ("VERONICA_MAX_FACES", "0"),
        ("VERONICA_INFERENCE_THREADS", "65"),
        ("VERONICA_CAMERA_HFOV_DEG", "180"),
    ],
)
def test_invalid_env_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert name.removeprefix("VERONICA_").lower() in str(caught.value)


# -- web-session secrets and test-only settings -------------------------------------------


def _production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"template_key": generate_key(), **PRODUCTION_REST, **overrides}
    return Settings(environment=Environment.PRODUCTION, **values)


def test_production_accepts_its_full_configuration() -> None:
    settings = _production()
    assert settings.is_production and settings.admin_key is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"signing_key_path": None}, "VERONICA_SIGNING_KEY_PATH"),
        ({"public_url": "http://login.example.org"}, "https://"),
        ({"admin_key": "secret-admin"}, "VERONICA_ADMIN_KEY"),
        ({"challenge_seed": 7}, "VERONICA_CHALLENGE_SEED"),
    ],
    ids=["no-signing-key", "plain-http", "env-admin-key", "fixed-challenge-seed"],
)
def test_production_refuses_development_shortcuts(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _production(**overrides)


def test_challenge_seed_is_refused_in_development_and_allowed_in_test() -> None:
    with pytest.raises(ValidationError, match="only allowed when VERONICA_ENVIRONMENT=test"):
        Settings(environment=Environment.DEVELOPMENT, challenge_seed=7)
    assert Settings(environment=Environment.TEST, challenge_seed=7).challenge_seed == 7


def test_tls_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="VERONICA_TLS_CERT_FILE"):
        Settings(tls_cert_file=tmp_path / "cert.pem")
    settings = Settings(tls_cert_file=tmp_path / "c.pem", tls_key_file=tmp_path / "k.pem")
    assert settings.tls_key_file == tmp_path / "k.pem"


def test_signing_key_defaults_to_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_signing_key_path == tmp_path / "signing_key.pem"


def test_active_sessions_default_to_four_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert Settings().resolved_max_active_sessions == 8
    assert Settings(max_active_sessions=3).resolved_max_active_sessions == 3
