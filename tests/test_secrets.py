"""The one secret detector (mpc.lang.secrets): names it must catch and leave alone, values it must catch."""

from __future__ import annotations

import pytest

from mpc.lang.secrets import secret_name, secret_value


@pytest.mark.parametrize(
    "name",
    [
        # the names issue 17 found missed
        "DB_PASS",
        "DB_PWD",
        "STRIPE_KEY",
        "GITHUB_PAT",
        "AUTHORIZATION",
        # and their kin
        "DB_PASSWORD",
        "SMTP_PASSWD",
        "API_KEY",
        "STRIPE_API_KEY",
        "SECRET_KEY_BASE",
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_TOKEN",
        "GOOGLE_CREDENTIALS",
        "ssh-key",
        "password",
        "stripeKey",
        "apiKey",
        "clientSecret",
        "privateKey",
        "KEY",
        "SIGNING_KEYS",
    ],
)
def test_names_of_secrets(name: str) -> None:
    assert secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["LOG_LEVEL", "PATH", "PASSAGE", "COMPASS_URL", "KEYCLOAK_URL", "PUBLIC_KEY", "CACHE_KEY", "modelUri"],
)
def test_names_that_are_not_secrets(name: str) -> None:
    assert not secret_name(name)


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n", "a private key"),
        ("-----BEGIN PRIVATE KEY-----\nMIIB", "a private key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
        ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "a private key"),
        ("postgres://app:hunter2@db:5432/app", "a password in a URL"),
        ("https://user:pass@id.acme.dev/certs", "a password in a URL"),
        ("https://ghp_abc@github.com/acme/gitops.git", "credentials in a URL"),
        ("Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "an authorization header"),
        ("ghp_" + "a" * 36, "a GitHub token"),
        ("github_pat_" + "A1_" * 10, "a GitHub token"),
        ("glpat-" + "x" * 20, "a GitLab token"),
        ("xoxb-1234567890-abc", "a Slack token"),
        ("sk_live_" + "4" * 24, "a Stripe key"),
        ("AKIA" + "ABCDEFGHIJKLMNOP", "an AWS access key"),
        ("AIza" + "x" * 35, "a Google API key"),
        ("sk-proj-" + "x" * 40, "an OpenAI key"),
    ],
)
def test_secret_values(value: str, what: str) -> None:
    assert secret_value(value) == what


@pytest.mark.parametrize(
    "value",
    [
        "https://id.acme.dev/realms/acme/protocol/openid-connect/certs",
        "ssh://git@github.com/acme/gitops.git",
        "git@github.com:acme/gitops.git",
        "postgres://db:5432/app",
        "mailto:ops@acme.dev",
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----",
        "info",
        "Basic",
    ],
)
def test_values_that_are_not_secrets(value: str) -> None:
    assert secret_value(value) is None
