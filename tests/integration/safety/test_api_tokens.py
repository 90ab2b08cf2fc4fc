"""API tokens are stored hashed (shown once, named by a prefix), expire and can be revoked."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from telemetry.models import ApiToken


def get_racks(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client.get("/api/racks/")


def test_only_the_hash_is_stored_and_the_secret_works(world):
    token, secret = ApiToken.issue(user=world.a.users["viewer"], name="script")
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert secret not in {str(v) for v in stored.values()}
    assert secret.startswith(token.prefix) and len(token.prefix) < len(secret) // 3
    assert get_racks(secret).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None


def test_revoked_and_expired_tokens_answer_401(world):
    user = world.a.users["viewer"]
    revoked, revoked_secret = ApiToken.issue(user=user)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    _, expired_secret = ApiToken.issue(user=user, expires_at=timezone.now() - timedelta(seconds=1))
    for secret in (revoked_secret, expired_secret, "hr_never-issued"):
        response = get_racks(secret)
        assert response.status_code == 401 and "revoked or expired" in response.json()["detail"]


def test_the_command_prints_the_secret_once(world, capsys):
    call_command("issue_api_token", world.a.users["admin"].username, "--days", "30", "--name", "ci")
    secret = capsys.readouterr().out.strip()
    token = ApiToken.objects.get(name="ci")
    assert get_racks(secret).status_code == 200
    assert token.expires_at > timezone.now() + timedelta(days=29)
