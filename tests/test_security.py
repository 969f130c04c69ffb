"""Security: brute force on the admin login, and the OWASP API Top 10 items that apply."""

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}, REMOTE_ADDR="203.0.113.9"
    )


def test_admin_login_locks_out_after_repeated_failures(settings):
    UserFactory(username="curator", password="right-password-123", is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "curator", "wrong").status_code == 200  # the form again, with an error
    assert login(client, "curator", "wrong").status_code == 429
    # Locked out: even the right password is refused now, and nothing is logged in.
    response = login(client, "curator", "right-password-123")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address, or another username, is not affected.
    other = Client()
    response = other.post(
        "/admin/login/?next=/admin/",
        {"username": "curator", "password": "right-password-123"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert response.status_code == 302


def test_a_successful_login_resets_the_count(settings):
    UserFactory(username="curator", password="right-password-123", is_staff=True)
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "curator", "wrong")
    assert login(client, "curator", "right-password-123").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "curator", "wrong").status_code == 200
