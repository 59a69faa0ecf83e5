"""Start-up settings: defaults, bad values named, production refusing unsafe ones."""

from __future__ import annotations

import pytest

from hub.settings import DEV_SECRET_KEY, Settings, SettingsError, load_settings
from tests.conftest import run_hub

PROD_OK = {
    "HUB_ENV": "production",
    "HUB_SECRET_KEY": "x" * 48,
    "HUB_SMS_SINK": "http",
    "HUB_SMS_GATEWAY_URL": "https://sms.example.gov.in/send",
    "HUB_EMAIL_SINK": "smtp",
    "HUB_DATABASE_URL": "postgres://hub@db:5432/hub",
}


def test_defaults_are_the_embedded_dev_setup() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.env == "dev"
    assert settings.database_url == "sqlite://var/hub.sqlite3"
    assert settings.redis_url is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.dev_auth_enabled and settings.graphiql_enabled
    # the shipped seed examples (for the CPGRAMS taxonomy's departments); 'none' turns them off
    assert settings.routing_examples is not None and settings.routing_examples.is_file()
    assert load_settings({"HUB_ROUTING_EXAMPLES": "none"}).routing_examples is None
    assert load_settings({"HUB_ROUTING_EXAMPLES": ""}).routing_examples == settings.routing_examples


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HUB_ENV": "staging"}, "Config 'HUB_ENV' has value 'staging'"),
        ({"HUB_PORT": "eighty"}, "Config 'HUB_PORT' has value 'eighty'. Not a valid integer."),
        ({"HUB_PORT": "70000"}, "Config 'HUB_PORT' has value '70000'. Must be between"),
        ({"HUB_DATABASE_URL": "mysql://x"}, "Config 'HUB_DATABASE_URL' has value 'mysql://x'"),
        ({"HUB_REDIS_URL": "http://r"}, "Config 'HUB_REDIS_URL' has value 'http://r'"),
        ({"HUB_ALLOW_SQLITE_IN_PRODUCTION": "maybe"}, "Not a valid bool."),
        ({"HUB_SECRET_KEY": "short"}, "Config 'HUB_SECRET_KEY' is 5 bytes long"),
        ({"HUB_STATE_CODE": "karnataka"}, "Config 'HUB_STATE_CODE' has value 'karnataka'"),
        ({"HUB_REGISTRATION_FORMAT": "{state}-{nope}"}, "Config 'HUB_REGISTRATION_FORMAT'"),
        ({"HUB_REGISTRATION_FORMAT": "{state}-{year}"}, "Must contain {seq}"),
        ({"HUB_LEXICON_DIR": "/no/such/folder"}, "'/no/such/folder'. Must be an existing folder."),
        ({"HUB_ROUTING_EXAMPLES": "/no/such.yaml"}, "Must be an existing file, or 'none'."),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert expected in str(caught.value)


def test_passwords_in_urls_are_not_echoed() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"HUB_DATABASE_URL": "mysql://hub:s3cret@db/hub"})
    assert "s3cret" not in str(caught.value)


def test_production_accepts_a_safe_configuration() -> None:
    settings = load_settings(PROD_OK)
    assert settings.is_production
    assert not settings.dev_auth_enabled and not settings.graphiql_enabled


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"HUB_SECRET_KEY": DEV_SECRET_KEY}, "is the dev default"),
        ({"HUB_SECRET_KEY": "y" * 20}, "Must be at least 32 bytes"),
        ({"HUB_SMS_SINK": "console"}, "Config 'HUB_SMS_SINK' has value 'console'"),
        ({"HUB_EMAIL_SINK": "console"}, "Config 'HUB_EMAIL_SINK' has value 'console'"),
        ({"HUB_SMS_GATEWAY_URL": ""}, "Config 'HUB_SMS_GATEWAY_URL' is unset"),
        ({"HUB_STORAGE": "s3"}, "Config 'HUB_S3_ENDPOINT' and 'HUB_S3_BUCKET' must be set"),
        ({"HUB_DATABASE_URL": "sqlite://var/hub.sqlite3"}, "Production runs on PostgreSQL"),
    ],
)
def test_production_refuses_unsafe_defaults(change: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({**PROD_OK, **change})
    assert expected in str(caught.value)


def test_production_on_sqlite_when_explicitly_allowed() -> None:
    env = {
        **PROD_OK,
        "HUB_DATABASE_URL": "sqlite://hub.db",
        "HUB_ALLOW_SQLITE_IN_PRODUCTION": "true",
    }
    assert load_settings(env).is_sqlite


def test_the_command_stops_at_start_up_with_the_message() -> None:
    result = run_hub("migrate", env={"HUB_PORT": "abc", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "Config 'HUB_PORT' has value 'abc'. Not a valid integer." in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HUB_CORS_ORIGINS": "https://app.example.in/path"}, "'HUB_CORS_ORIGINS'"),
        ({"HUB_WS_ORIGINS": "app.example.in"}, "'HUB_WS_ORIGINS'"),
        ({"HUB_SECRET_KEY": "s" * 31}, "'HUB_SECRET_KEY' is 31 bytes long"),
        ({"HUB_ACCESS_TOKEN_SECONDS": "3600"}, "'HUB_ACCESS_TOKEN_SECONDS'"),
        ({"HUB_OTP_SECONDS": "600"}, "'HUB_OTP_SECONDS'"),
        ({"HUB_OTP_MAX_ATTEMPTS": "6"}, "'HUB_OTP_MAX_ATTEMPTS'"),
        ({"HUB_TOKEN_ALGORITHM": "none"}, "'HUB_TOKEN_ALGORITHM'"),
        ({"HUB_TOKEN_ALGORITHM": "RS256"}, "HUB_TOKEN_PRIVATE_KEY_FILE"),
    ],
)
def test_sign_in_and_origin_settings_are_checked_at_start_up(
    env: dict[str, str], expected: str
) -> None:
    with pytest.raises(SettingsError, match=expected):
        load_settings(env)


def test_origins_as_browsers_send_them_are_accepted() -> None:
    settings = load_settings({"HUB_CORS_ORIGINS": "https://app.example.in, http://localhost:3000"})
    assert settings.cors_origins == ("https://app.example.in", "http://localhost:3000")
