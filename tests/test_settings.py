"""Settings: production by default, what production lacks listed (never refused at
construction, so commands without secrets run unconfigured), defaults derived from
data_dir, env overrides, HTTP-layer settings."""

from __future__ import annotations

import os
import re
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


@pytest.fixture
def signing_key(tmp_path: Path) -> Path:
    """Production wants the signing key file to exist (its content is the signer's concern)."""
    path = tmp_path / "signing_key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\n")
    return path


def production_rest(signing_key: Path) -> dict[str, Any]:
    """Everything else production insists on, so a test can vary one thing."""
    rsa = signing_key.with_name("rsa_signing_key.pem")
    rsa.write_text("-----BEGIN PRIVATE KEY-----\n")
    return {
        "signing_key_path": signing_key,
        "rsa_signing_key_path": rsa,
        "public_url": "https://login.example.org",
    }


# -- template key -----------------------------------------------------------------------


@pytest.mark.parametrize("key", [DEVELOPMENT_TEMPLATE_KEY, ""], ids=["default", "empty"])
def test_production_lists_a_default_or_empty_key(key: str, signing_key: Path) -> None:
    settings = Settings(
        environment=Environment.PRODUCTION, template_key=key, **production_rest(signing_key)
    )
    [problem] = settings.production_problems()
    assert "VERONICA_TEMPLATE_KEY must be set" in problem and "veronica keygen" in problem


def test_production_lists_the_default_key_when_none_is_given() -> None:
    problems = Settings(environment="production").production_problems()  # type: ignore[arg-type]
    assert any("VERONICA_TEMPLATE_KEY" in p for p in problems)


def test_production_accepts_a_generated_key(signing_key: Path) -> None:
    key = generate_key()
    settings = Settings(
        environment=Environment.PRODUCTION, template_key=key, **production_rest(signing_key)
    )
    assert settings.template_key == key
    assert settings.production_problems() == []
    TemplateCipher.from_setting(settings.template_key)


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_development_and_test_accept_the_default_key(environment: Environment) -> None:
    settings = Settings(environment=environment)
    assert settings.template_key == DEVELOPMENT_TEMPLATE_KEY
    TemplateCipher.from_setting(settings.template_key)  # and it is a valid key


def test_default_environment_is_production() -> None:
    assert Settings().environment is Environment.PRODUCTION


def test_unconfigured_production_constructs_and_lists_every_problem_at_once() -> None:
    """Commands that need no secrets (models, eval, keygen) must run with no settings;
    a server lists everything it lacks in one go."""
    settings = Settings(admin_key="dev-admin")
    assert settings.is_production
    problems = settings.production_problems()
    assert len(problems) == 5, problems
    for name in (
        "VERONICA_TEMPLATE_KEY",
        "VERONICA_SIGNING_KEY_PATH",
        "VERONICA_RSA_SIGNING_KEY_PATH",
        "VERONICA_ADMIN_KEY",
        "VERONICA_PUBLIC_URL",
    ):
        assert sum(name in p for p in problems) == 1, (name, problems)


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


def test_production_from_env_with_default_key_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VERONICA_ENVIRONMENT", "production")
    assert any("VERONICA_TEMPLATE_KEY must be set" in p for p in Settings().production_problems())
    monkeypatch.setenv("VERONICA_TEMPLATE_KEY", "")
    assert any("VERONICA_TEMPLATE_KEY must be set" in p for p in Settings().production_problems())


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


def _production(signing_key: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "template_key": generate_key(),
        **production_rest(signing_key),
        **overrides,
    }
    return Settings(environment=Environment.PRODUCTION, **values)


def test_production_accepts_its_full_configuration(signing_key: Path) -> None:
    settings = _production(signing_key)
    assert settings.is_production and settings.admin_key is None
    assert settings.production_problems() == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"signing_key_path": None}, "VERONICA_SIGNING_KEY_PATH must name"),
        ({"signing_key_path": Path("/nonexistent/signing.pem")}, "does not exist"),
        ({"rsa_signing_key_path": None}, "VERONICA_RSA_SIGNING_KEY_PATH must name"),
        ({"public_url": "http://login.example.org"}, "https://"),
        ({"admin_key": "secret-admin"}, "VERONICA_ADMIN_KEY"),
    ],
    ids=["no-signing-key", "missing-signing-key-file", "no-rsa-key", "plain-http", "env-admin-key"],
)
def test_production_lists_development_shortcuts(
    signing_key: Path, overrides: dict[str, Any], message: str
) -> None:
    [problem] = _production(signing_key, **overrides).production_problems()
    assert message in problem


@pytest.mark.parametrize("environment", [Environment.DEVELOPMENT, Environment.TEST])
def test_development_shortcuts_are_fine_outside_production(environment: Environment) -> None:
    settings = Settings(environment=environment, admin_key="dev-admin")
    assert not settings.is_production  # production_problems is production's checklist only


def test_a_fixed_challenge_seed_is_refused_at_construction_in_production(
    signing_key: Path,
) -> None:
    with pytest.raises(ValidationError, match="VERONICA_CHALLENGE_SEED"):
        _production(signing_key, challenge_seed=7)
    with pytest.raises(ValidationError, match="VERONICA_CHALLENGE_SEED"):
        Settings(challenge_seed=7)  # the default environment is production


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


# -- HTTP layer ---------------------------------------------------------------------------


def test_http_layer_defaults() -> None:
    settings = Settings()
    assert settings.max_json_bytes == 16_384
    assert settings.metrics_port is None and settings.metrics_host == "127.0.0.1"
    assert settings.proxy_headers is False and settings.forwarded_allow_ips == []


@pytest.mark.parametrize(
    ("environment", "explicit", "served"),
    [
        (Environment.PRODUCTION, None, False),
        (Environment.DEVELOPMENT, None, True),
        (Environment.TEST, None, True),
        (Environment.PRODUCTION, True, True),
        (Environment.DEVELOPMENT, False, False),
    ],
)
def test_api_docs_follow_the_environment_unless_set(
    environment: Environment, explicit: bool | None, served: bool
) -> None:
    assert Settings(environment=environment, api_docs=explicit).resolved_api_docs is served


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.5", ["10.0.0.5"]),
        (" 10.0.0.5 , 10.1.0.0/16,2001:db8::1 ", ["10.0.0.5", "10.1.0.0/16", "2001:db8::1"]),
        ('["10.0.0.5", "fd00::/8"]', ["10.0.0.5", "fd00::/8"]),
        ("", []),
    ],
    ids=["one", "comma-separated", "json", "empty"],
)
def test_forwarded_allow_ips_from_env(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("VERONICA_FORWARDED_ALLOW_IPS", value)
    assert Settings().forwarded_allow_ips == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*", "would trust X-Forwarded-For from anyone"),
        ("10.0.0.5,proxy.local", "'proxy.local' is not an IP address or network"),
        ("10.0.0.5/8", "'10.0.0.5/8' is not an IP address or network"),  # host bits set
        ("[not json", "forwarded_allow_ips"),
    ],
    ids=["wildcard", "host-name", "host-bits-set", "bad-json"],
)
def test_forwarded_allow_ips_refuses_what_uvicorn_would_misread(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("VERONICA_FORWARDED_ALLOW_IPS", value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings()


def test_proxy_headers_need_a_proxy_address() -> None:
    with pytest.raises(ValidationError, match="needs VERONICA_FORWARDED_ALLOW_IPS"):
        Settings(proxy_headers=True)
    settings = Settings(proxy_headers=True, forwarded_allow_ips=["10.0.0.5"])
    assert settings.proxy_headers and settings.forwarded_allow_ips == ["10.0.0.5"]


def test_metrics_port_must_differ_from_the_service_port() -> None:
    with pytest.raises(ValidationError, match="VERONICA_METRICS_PORT must differ"):
        Settings(port=8000, metrics_port=8000)
    assert Settings(port=8000, metrics_port=9100).metrics_port == 9100


@pytest.mark.parametrize("value", ["100", "2000000"])
def test_max_json_bytes_bounds(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("VERONICA_MAX_JSON_BYTES", value)
    with pytest.raises(ValidationError, match="max_json_bytes"):
        Settings()
