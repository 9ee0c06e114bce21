"""The mailbox pages: leads only, secrets never rendered, the htmx connection test, tenancy."""

from __future__ import annotations

import pytest
from django.urls import reverse

from inbox.models import ChannelAccount
from integrations.email.mailbox import MailboxSettings

from .conftest import IMAP_PASSWORD

SMTP_SECRET = "smtp-sekret-987"


def _form(imap_user, smtp_server, **overrides) -> dict:
    data = {
        "name": "Skrzynka sklepu",
        "from_email": imap_user.login,
        "from_name": "Sklep Alicji",
        "imap_host": imap_user.server.host,
        "imap_port": str(imap_user.server.port),
        "imap_security": "none",
        "imap_username": imap_user.login,
        "imap_password": IMAP_PASSWORD,
        "folders": "INBOX",
        "smtp_host": smtp_server.host,
        "smtp_port": str(smtp_server.port),
        "smtp_security": "none",
        "smtp_username": "",
        "smtp_password": SMTP_SECRET,
        "sent_folder": "Sent",
    }
    data.update(overrides)
    return data


def test_a_lead_adds_a_mailbox_and_the_secrets_are_stored_encrypted(client, bob, imap_user, smtp_server):
    client.force_login(bob)
    response = client.get(reverse("mailboxes:mailbox-create"))
    assert response.status_code == 200
    assert "Dodaj skrzynkę" in response.content.decode()  # Polish by default
    response = client.post(reverse("mailboxes:mailbox-create"), _form(imap_user, smtp_server))
    assert response.status_code == 302, response.content.decode()[:2000]
    account = ChannelAccount.objects.get(kind="email")
    assert (account.name, account.external_id, account.health) == ("Skrzynka sklepu", imap_user.login, "ok")
    settings = MailboxSettings.from_account(account)
    assert settings.imap.password == IMAP_PASSWORD
    assert settings.smtp.password == SMTP_SECRET
    assert settings.smtp.username == imap_user.login  # empty: the IMAP login
    assert IMAP_PASSWORD not in repr(account) and IMAP_PASSWORD not in repr(settings)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM inbox_channelaccount WHERE id = %s", [account.pk])
        assert IMAP_PASSWORD not in cursor.fetchone()[0]  # encrypted at rest


def test_the_edit_form_never_renders_the_secrets_and_keeps_them_when_left_empty(
    client, bob, mailbox, imap_user, smtp_server
):
    client.force_login(bob)
    url = reverse("mailboxes:mailbox-edit", args=[mailbox.pk])
    body = client.get(url).content.decode()
    assert IMAP_PASSWORD not in body
    assert "••••" in body
    assert imap_user.login in body  # the non-secret settings are shown
    data = _form(imap_user, smtp_server, imap_password="", smtp_password="", name="Nowa nazwa")
    response = client.post(url, data)
    assert response.status_code == 302
    mailbox.refresh_from_db()
    settings = MailboxSettings.from_account(mailbox)
    assert mailbox.name == "Nowa nazwa"
    assert settings.imap.password == IMAP_PASSWORD  # kept
    # A form with errors does not echo secrets either.
    response = client.post(
        url, _form(imap_user, smtp_server, imap_password="nowe-tajne-1", from_email="zly-adres")
    )
    assert response.status_code == 422
    assert "nowe-tajne-1" not in response.content.decode()


def test_test_connection_logs_in_to_imap_and_smtp(client, bob, imap_user, smtp_server):
    client.force_login(bob)
    response = client.post(
        reverse("mailboxes:mailbox-test"), _form(imap_user, smtp_server), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="connection-test"')
    assert 'data-protocol="IMAP" data-ok="1"' in body
    assert 'data-protocol="SMTP" data-ok="1"' in body
    assert "Zalogowano" in body
    assert IMAP_PASSWORD not in body
    assert not ChannelAccount.objects.exists()  # a test stores nothing


def test_test_connection_shows_why_it_failed_in_english_too(client, bob, imap_user, smtp_server):
    client.force_login(bob)
    client.cookies["django_language"] = "en"
    data = _form(imap_user, smtp_server, imap_password="zle-haslo", folders="INBOX\nNie-ma")
    body = client.post(reverse("mailboxes:mailbox-test"), data, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-protocol="IMAP" data-ok="0"' in body
    assert "refused the login" in body
    assert "zle-haslo" not in body
    good = _form(imap_user, smtp_server, folders="INBOX\nNie-ma")
    body = client.post(reverse("mailboxes:mailbox-test"), good, HTTP_HX_REQUEST="true").content.decode()
    assert "these folders do not exist: Nie-ma" in body


def test_test_connection_of_a_stored_mailbox_uses_the_stored_password(
    client, bob, mailbox, imap_user, smtp_server
):
    client.force_login(bob)
    data = _form(imap_user, smtp_server, imap_password="", smtp_password="")
    body = client.post(
        reverse("mailboxes:mailbox-test-existing", args=[mailbox.pk]), data, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'data-protocol="IMAP" data-ok="1"' in body


def test_the_accounts_page_links_to_the_mailboxes(client, bob, mailbox):
    client.force_login(bob)
    body = client.get(reverse("inbox:account-list")).content.decode()
    assert reverse("mailboxes:mailbox-list") in body
    body = client.get(reverse("mailboxes:mailbox-list")).content.decode()
    assert reverse("mailboxes:mailbox-edit", args=[mailbox.pk]) in body


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_agents_and_outsiders_get_404_on_every_mailbox_url(
    client, request, who, mailbox, imap_user, smtp_server
):
    client.force_login(request.getfixturevalue(who))
    urls = [
        reverse("mailboxes:mailbox-list"),
        reverse("mailboxes:mailbox-create"),
        reverse("mailboxes:mailbox-test"),
        reverse("mailboxes:mailbox-edit", args=[mailbox.pk]),
        reverse("mailboxes:mailbox-test-existing", args=[mailbox.pk]),
    ]
    if who == "charlie":  # an owner elsewhere: his own pages work, org's mailbox does not exist for him
        urls = urls[3:]
    for url in urls:
        assert client.get(url).status_code in (404, 405), url
        assert client.post(url, _form(imap_user, smtp_server)).status_code in (404, 405), url
    mailbox.refresh_from_db()
    assert mailbox.name == "Skrzynka sklepu"
