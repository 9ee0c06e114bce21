"""API tokens: hashed at rest, shown once, scoped, revocable, last-used time; session auth with CSRF;
the token page is for owners and leads only."""

from __future__ import annotations

import hashlib
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from inbox.authentication import api_token_create, api_token_revoke
from inbox.models import ApiToken, Membership

from .conftest import TokenClient

ME = "/api/v1/me/"


def test_without_credentials_the_api_answers_401_with_the_error_body(db):
    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/conversations/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {
        "status": 401,
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
    }


def test_a_token_acts_for_its_creator_in_its_organization(api, org, bob):
    body = api.get(ME).json()
    assert body["organization"] == {"id": org.pk, "name": org.name, "slug": org.slug}
    assert body["user"]["username"] == "bob"
    assert body["auth"] == "token" and body["scope"] == "write" and body["role"] == "lead"


def test_the_token_is_stored_only_as_a_hash(org, bob):
    token, raw = api_token_create(organization=org, name="ERP", scope="read", acting_user=bob)
    assert raw.startswith("rdk_") and len(raw) > 40
    token.refresh_from_db()
    assert token.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert raw not in str(stored)
    assert token.prefix == raw[:12]
    assert raw not in repr(token)


@pytest.mark.parametrize("header", ["Bearer rdk_nope", "Bearer", "Token rdk_a b", "Bearer żółć"])
def test_a_bad_token_is_refused(db, header):
    response = Client(HTTP_AUTHORIZATION=header).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_read_token_reads_but_cannot_write(read_api, conversation):
    assert read_api.get(f"/api/v1/conversations/{conversation.pk}/").status_code == 200
    response = read_api.post(f"/api/v1/conversations/{conversation.pk}/close/")
    assert response.status_code == 403
    assert response.json()["code"] == "read_only_token"
    conversation.refresh_from_db()
    assert conversation.status == "open"


def test_a_revoked_token_stops_working(org, bob):
    token, raw = api_token_create(organization=org, name="Old", scope="write", acting_user=bob)
    client = TokenClient(raw)
    assert client.get(ME).status_code == 200
    api_token_revoke(token, acting_user=bob)
    assert client.get(ME).status_code == 401


def test_a_token_stops_working_when_its_creator_leaves(org, bob):
    _token, raw = api_token_create(organization=org, name="ERP", scope="write", acting_user=bob)
    Membership.objects.filter(user=bob, organization=org).delete()
    assert TokenClient(raw).get(ME).status_code == 401


def test_only_owners_and_leads_create_tokens(org, alice):
    with pytest.raises(PermissionError):
        api_token_create(organization=org, name="x", scope="read", acting_user=alice)


def test_last_used_is_recorded_at_most_once_a_minute(org, bob):
    token, raw = api_token_create(organization=org, name="ERP", scope="read", acting_user=bob)
    client = TokenClient(raw)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get(ME)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timezone.timedelta(seconds=30), tick=False):
        client.get(ME)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timezone.timedelta(seconds=90), tick=False):
        client.get(ME)
    token.refresh_from_db()
    assert token.last_used_at == start + timezone.timedelta(seconds=90)


def test_the_browser_session_works_and_needs_csrf_for_writes(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(ME).json()["auth"] == "session"
    url = f"/api/v1/conversations/{conversation.pk}/close/"
    refused = client.post(url, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "permission_denied"
    client.get(reverse("inbox:conversation-list"))  # sets the CSRF cookie
    response = client.post(
        url, content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value
    )
    assert response.status_code == 200
    assert response.json()["status"] == "closed"


def test_a_signed_in_user_without_a_workspace_gets_404(db, django_user_model):
    user = django_user_model.objects.create_user("nobody", password="x")
    client = Client()
    client.force_login(user)
    assert client.get(ME).status_code == 404


# --- the token page ----------------------------------------------------------------------------


def test_a_lead_creates_a_token_and_sees_it_once(client, bob, org):
    client.force_login(bob)
    response = client.post(reverse("inbox:api-tokens"), {"name": "Hurtownia", "scope": "write"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    raw = re.search(r'id="new-token">(rdk_[^<]+)<', body).group(1)
    assert TokenClient(raw).get(ME).json()["scope"] == "write"
    again = client.get(reverse("inbox:api-tokens")).content.decode()
    assert "Hurtownia" in again and raw not in again and raw[:12] in again


def test_a_lead_revokes_a_token_from_the_page(client, bob, org):
    token, raw = api_token_create(organization=org, name="ERP", scope="read", acting_user=bob)
    client.force_login(bob)
    response = client.post(reverse("inbox:api-token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == bob
    assert TokenClient(raw).get(ME).status_code == 401


def test_agents_and_outsiders_get_404_on_the_token_page(client, alice, charlie, org, bob):
    token, _raw = api_token_create(organization=org, name="ERP", scope="read", acting_user=bob)
    client.force_login(alice)
    assert client.get(reverse("inbox:api-tokens")).status_code == 404
    assert client.post(reverse("inbox:api-token-revoke", args=[token.pk])).status_code == 404
    client.force_login(charlie)  # an owner, of another organization
    assert "ERP" not in client.get(reverse("inbox:api-tokens")).content.decode()
    assert client.post(reverse("inbox:api-token-revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_token_page_is_in_polish(client, bob):
    client.force_login(bob)
    body = client.get(reverse("inbox:api-tokens")).content.decode()
    assert "Tokeny API" in body
