"""IMAP sync against a real dovecot: incremental by UID, read-only, UIDVALIDITY, dedupe, recovery."""

from __future__ import annotations

import pytest

from inbox.models import ChannelAccount, Message
from integrations.models import EmailSource
from integrations.services import channel_account_sync

from .mails import mail, new_id


def sync(account: ChannelAccount):
    run = channel_account_sync(account.pk)
    account.refresh_from_db()
    return run


def test_it_syncs_incrementally_by_uid(mailbox, imap_user):
    imap_user.append(mail(subject="Pierwsza"))
    imap_user.append(mail(subject="Druga"))
    run = sync(mailbox)
    assert run.ok, run.error
    assert run.new_messages == 2
    assert mailbox.health == ChannelAccount.Health.OK
    uidvalidity = imap_user.uidvalidity()
    assert mailbox.sync_cursor == {"INBOX": {"uidvalidity": uidvalidity, "last_uid": 2}}

    imap_user.append(mail(subject="Trzecia"))
    run = sync(mailbox)
    assert (run.seen_messages, run.new_messages) == (1, 1)  # only the new UID was read
    assert mailbox.sync_cursor["INBOX"]["last_uid"] == 3
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Druga", "Pierwsza", "Trzecia"]

    run = sync(mailbox)
    assert (run.seen_messages, run.new_messages) == (0, 0)


def test_a_mail_that_cannot_be_stored_does_not_stop_the_others(mailbox, imap_user, monkeypatch):
    """The mails of a FETCH are stored in one transaction; one that trips a bug sends the batch
    back to mail-by-mail storing: the others are stored, its raw bytes are kept, the seller sees
    the problem and the next sync, the bug fixed, stores it."""
    from inbox import services as inbox_services
    from integrations.models import SyncProblem

    for subject in ("Pierwsza", "Zepsuta", "Trzecia"):
        imap_user.append(mail(subject=subject))
    real = inbox_services.message_receive

    def receive(account, item, **kwargs):
        if item.subject == "Zepsuta":
            raise ValueError("boom")
        return real(account, item, **kwargs)

    monkeypatch.setattr(inbox_services, "message_receive", receive)
    run = sync(mailbox)
    assert run.ok, run.error
    assert (run.seen_messages, run.new_messages) == (2, 2)
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Pierwsza", "Trzecia"]
    assert EmailSource.objects.filter(account=mailbox).count() == 3  # the bad mail's bytes too
    problem = SyncProblem.objects.get(account=mailbox, code="store_failed")
    assert "ValueError: boom" in problem.detail
    assert mailbox.sync_cursor in ({}, None)  # read again next time

    monkeypatch.setattr(inbox_services, "message_receive", real)
    run = sync(mailbox)
    assert run.ok and run.new_messages == 1
    assert Message.objects.filter(account=mailbox).count() == 3
    assert Message.objects.values("external_id").distinct().count() == 3


def test_a_synced_mail_becomes_a_waiting_buyer_message_with_its_raw_bytes(mailbox, imap_user):
    raw = mail(sender="Anna Nowak <Anna.Nowak@example.pl>", subject="Pytanie o zamówienie 123")
    imap_user.append(raw)
    sync(mailbox)
    message = Message.objects.get()
    assert message.direction == Message.Direction.INBOUND
    assert message.author_type == Message.AuthorType.BUYER
    assert message.classification == Message.Classification.HUMAN
    assert message.text.startswith("Dzień dobry, kiedy wyślecie paczkę?")
    assert message.author_name == "Anna Nowak"
    conversation = message.conversation
    assert conversation.kind == "email"
    assert conversation.subject == "Pytanie o zamówienie 123"
    assert conversation.awaiting_reply_since is not None
    assert conversation.contact.identities.get().value == "anna.nowak@example.pl"
    source = EmailSource.objects.get()
    assert bytes(source.raw) == raw
    assert source.external_id == message.external_id
    assert (source.folder, source.uid) == ("INBOX", 1)


def test_sync_never_changes_the_sellers_flags(mailbox, imap_user):
    imap_user.append(mail(subject="Nieprzeczytana"))
    imap_user.append(mail(subject="Oznaczona"), flags=[rb"\Flagged"])
    before = imap_user.flags()
    assert all(rb"\Seen" not in flags for flags in before.values())
    sync(mailbox)
    assert Message.objects.count() == 2
    after = imap_user.flags()
    assert all(rb"\Seen" not in flags for flags in after.values())
    assert rb"\Flagged" in after[2]
    assert {uid: set(f) - {rb"\Recent"} for uid, f in after.items()} == {
        uid: set(f) - {rb"\Recent"} for uid, f in before.items()
    }


def test_a_uidvalidity_change_reads_the_folder_again_without_duplicates(org, imap_user, smtp_server):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    imap_user.create_folder("Zamowienia")
    account = mailbox_create(
        organization=org,
        name="S",
        mailbox=mailbox_settings(imap_user, smtp_server, folders=("INBOX", "Zamowienia")),
    )
    first, second = mail(subject="Zamówienie A"), mail(subject="Zamówienie B")
    imap_user.append(first, folder="Zamowienia")
    imap_user.append(second, folder="Zamowienia")
    sync(account)
    old_validity = account.sync_cursor["Zamowienia"]["uidvalidity"]
    assert Message.objects.count() == 2

    # The folder is deleted and created again (new UIDVALIDITY, UIDs from 1): the same two mails
    # come back with new UIDs, plus a new one.
    imap_user.delete_folder("Zamowienia")
    imap_user.create_folder("Zamowienia")
    imap_user.append(second, folder="Zamowienia")
    imap_user.append(first, folder="Zamowienia")
    imap_user.append(mail(subject="Zamówienie C"), folder="Zamowienia")
    assert imap_user.uidvalidity("Zamowienia") != old_validity
    run = sync(account)
    assert run.ok, run.error
    assert run.new_messages == 1
    assert sorted(Message.objects.values_list("subject", flat=True)) == [
        "Zamówienie A",
        "Zamówienie B",
        "Zamówienie C",
    ]
    assert account.sync_cursor["Zamowienia"] == {
        "uidvalidity": imap_user.uidvalidity("Zamowienia"),
        "last_uid": 3,
    }
    assert run.seen_messages == 1  # the two known mails were skipped before their bodies were downloaded


def test_the_same_mail_in_two_folders_is_stored_once(org, imap_user, smtp_server):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    imap_user.create_folder("Allegro")
    account = mailbox_create(
        organization=org,
        name="S",
        mailbox=mailbox_settings(imap_user, smtp_server, folders=("INBOX", "Allegro")),
    )
    raw = mail(subject="Jedna wiadomość")
    imap_user.append(raw)
    imap_user.append(
        b"Received: from relay2.example.pl by mx.example.com; Mon, 2 Mar 2026 10:00:00 +0100\r\n" + raw,
        folder="Allegro",
    )  # the same mail by another route: trace headers differ
    run = sync(account)
    assert run.new_messages == 1
    assert Message.objects.count() == 1
    assert EmailSource.objects.count() == 1


def test_same_message_id_with_different_content_is_kept_apart(mailbox, imap_user):
    shared = new_id("broken-mailer.example")
    imap_user.append(mail(message_id=shared, subject="Powiadomienie 1", body="Treść pierwsza"))
    imap_user.append(mail(message_id=shared, subject="Powiadomienie 2", body="Treść druga"))
    sync(mailbox)
    messages = list(Message.objects.order_by("id").values_list("external_id", "subject"))
    assert len(messages) == 2
    assert messages[0] == (shared, "Powiadomienie 1")
    assert messages[1][0].startswith(shared + "#")


def test_a_mail_without_message_id_gets_a_synthetic_one_and_is_deduped(mailbox, imap_user):
    raw = mail(message_id=None, subject="Bez identyfikatora")
    imap_user.append(raw)
    imap_user.append(raw)
    sync(mailbox)
    message = Message.objects.get()
    assert message.external_id.endswith("@replydesk.invalid")
    assert "missing Message-ID header" in message.problems
    assert EmailSource.objects.count() == 1


def test_unparseable_bytes_are_kept_raw_and_stored_with_the_problem(mailbox, imap_user):
    raw = b"\x00\xff\xfe to nie jest poczta \x80\x81\r\n\r\n\xc3\x28 \x00"
    imap_user.append(raw)
    run = sync(mailbox)
    assert run.ok, run.error
    source = EmailSource.objects.get()
    assert bytes(source.raw) == imap_user.messages("INBOX")[0]  # what the server serves (dovecot maps NUL)
    message = Message.objects.get()
    assert message.external_id == source.external_id
    assert message.problems  # what was wrong is noted for the agent


def test_a_connection_dropped_mid_fetch_loses_nothing(mailbox, imap_user, dovecot):
    """60 mails: the first FETCH of bodies brings 50 (stored in one transaction); the connection is
    cut while the sync goes through them, so the next FETCH fails. Nothing is lost and nothing
    doubles on the next sync."""
    from integrations.contracts import StoredItem, TransientChannelError
    from integrations.email.adapter import EmailAdapter

    with imap_user.client() as client:
        for n in range(60):
            client.append("INBOX", mail(subject=f"Wiadomość {n}"))
    adapter = EmailAdapter(mailbox)
    result = adapter.fetch(cursor={})
    seen = 0
    with pytest.raises(TransientChannelError):
        for entry in result.items:
            assert isinstance(entry, StoredItem) and entry.created
            seen += 1
            if seen == 10:
                dovecot.kick(imap_user.login)  # the provider cuts the connection
    stored = Message.objects.count()
    assert 10 <= stored < 60

    run = sync(mailbox)  # the cursor was never saved: the same UIDs again, the stored ones skipped
    assert run.ok, run.error
    assert Message.objects.count() == 60
    assert run.new_messages == 60 - stored
    assert Message.objects.values("external_id").distinct().count() == 60
    assert mailbox.sync_cursor["INBOX"]["last_uid"] == 60


def test_a_server_down_between_syncs_is_an_error_then_recovers(org, smtp_server):
    """A server of its own (stopping the shared one would disturb other tests)."""
    from integrations.email.services import mailbox_create

    from .conftest import add_imap_user, mail_server, mailbox_settings

    server = mail_server(users=1)
    try:
        user = add_imap_user(server)
        account = mailbox_create(organization=org, name="S", mailbox=mailbox_settings(user, smtp_server))
        user.append(mail(subject="Przed awarią"))
        assert sync(account).new_messages == 1
        user.append(mail(subject="W czasie awarii"))
        server.stop()
        run = sync(account)
        assert not run.ok
        assert account.health == ChannelAccount.Health.ERROR
        assert "127.0.0.1" in account.last_sync_error
        assert account.sync_cursor["INBOX"]["last_uid"] == 1  # unchanged
        server.start()
        run = sync(account)
        assert run.ok, run.error
        assert run.new_messages == 1
        assert account.health == ChannelAccount.Health.OK
        assert Message.objects.count() == 2
    finally:
        server.destroy()


def test_a_refused_login_marks_the_mailbox_and_keeps_the_password_out_of_the_error(
    org, imap_user, smtp_server
):
    from dataclasses import replace

    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    settings = mailbox_settings(imap_user, smtp_server)
    settings = replace(settings, imap=replace(settings.imap, password="zle-haslo-123"))
    account = mailbox_create(organization=org, name="S", mailbox=settings)
    run = sync(account)
    assert not run.ok
    assert account.health == ChannelAccount.Health.AUTH_FAILED
    assert "zle-haslo-123" not in account.last_sync_error
    assert "odrzucił logowanie" in account.last_sync_error or "refused the login" in account.last_sync_error


def test_a_missing_folder_is_reported_until_it_exists(org, imap_user, smtp_server):
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(
        organization=org,
        name="S",
        mailbox=mailbox_settings(imap_user, smtp_server, folders=("INBOX", "Nie-ma")),
    )
    imap_user.append(mail())
    run = sync(account)
    assert not run.ok
    assert account.health == ChannelAccount.Health.ERROR
    assert "Nie-ma" in account.last_sync_error
    imap_user.create_folder("Nie-ma")
    run = sync(account)
    assert run.ok, run.error
    assert Message.objects.count() == 1


def test_imap_idle_announces_new_mail(imap_user):
    from integrations.email.imap import ImapMailbox
    from integrations.email.mailbox import NONE, ServerSettings

    server = ServerSettings(
        host=imap_user.server.host,
        port=imap_user.server.port,
        security=NONE,
        username=imap_user.login,
        password=imap_user.password,
    )
    with ImapMailbox(server) as imap:
        imap.select("INBOX")
        assert imap.has_idle()
        assert imap.idle_wait(0.5) is False
        imap_user.append(mail(subject="Nowa w trakcie IDLE"))
        assert imap.idle_wait(5) is True


@pytest.mark.django_db(transaction=True)
def test_the_idle_watcher_syncs_when_mail_arrives(org, imap_user, smtp_server):
    import threading

    from integrations.email.idle import folder_watch
    from integrations.email.services import mailbox_create

    from .conftest import mailbox_settings

    account = mailbox_create(organization=org, name="S", mailbox=mailbox_settings(imap_user, smtp_server))
    stop = threading.Event()
    synced = threading.Event()
    calls = []

    caught_up = threading.Event()

    def on_news(account_id):
        channel_account_sync(account_id)
        calls.append(account_id)
        caught_up.set()
        if Message.objects.filter(subject="Przez IDLE").exists():
            synced.set()

    thread = threading.Thread(
        target=folder_watch,
        args=(account.pk, "INBOX"),
        kwargs={"stop": stop, "on_news": on_news, "idle_check_seconds": 1.0},
        daemon=True,
    )
    thread.start()
    try:
        assert caught_up.wait(10)  # the catch-up sync on connect
        imap_user.append(mail(subject="Przez IDLE"))
        assert synced.wait(15), calls
    finally:
        stop.set()
        thread.join(10)
    assert len(calls) >= 2
