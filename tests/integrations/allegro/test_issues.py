"""Discussions and claims (/sale/issues) against the sandbox over HTTP."""

from __future__ import annotations

from inbox import services as inbox_services
from inbox.models import Conversation, Message
from integrations import services
from integrations.allegro.adapter import AllegroAdapter


def sync(account):
    run = services.channel_account_sync(account.pk)
    assert run.ok, run.error
    return run


def test_a_discussion_becomes_a_conversation_with_its_chat(connected_account, allegro_sandbox):
    issue = allegro_sandbox.issue_open(
        "kupujacy_adam", "DISPUTE", text="Paczka nie dotarła, minął tydzień.", reason="NO_PRODUCT_RECEIVED"
    )
    sync(connected_account)
    conv = Conversation.objects.get(external_id=issue["id"])
    assert conv.kind == "discussion"
    assert conv.marketplace_state == "DISPUTE_ONGOING"
    assert conv.order_id == issue["checkoutForm"]["id"]
    assert conv.details["source"] == "sale_issues"
    assert conv.details["issue"]["type"] == "DISPUTE"
    first = conv.messages.get()
    assert first.text == "Paczka nie dotarła, minął tydzień." and first.author_type == "buyer"
    assert conv.awaiting_reply_since == first.source_created_at

    allegro_sandbox.issue_chat(issue["id"], "Halo, czekam na odpowiedź.")
    allegro_sandbox.issue_chat(
        issue["id"], "Doradca Allegro: prosimy o kontakt z kupującym.", author="ALLEGRO_ADVISOR"
    )
    sync(connected_account)
    conv.refresh_from_db()
    texts = list(conv.messages.order_by("source_created_at").values_list("author_type", "classification"))
    assert texts == [("buyer", "human"), ("buyer", "human"), ("marketplace", "system")]


def test_an_unchanged_issue_chat_is_not_read_again(connected_account, allegro_sandbox):
    allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Uszkodzony towar")
    sync(connected_account)
    allegro_sandbox.reset_request_counts()
    sync(connected_account)
    assert allegro_sandbox.count("GET", "/sale/issues/{issueId}/chat") == 0
    assert Message.objects.count() == 1


def test_state_changes_and_a_closed_chat_block_replies(connected_account, allegro_sandbox, alice):
    issue = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Gdzie zwrot pieniędzy?")
    sync(connected_account)
    allegro_sandbox.issue_state(issue["id"], status="DISPUTE_CLOSED", chatActive=False)
    sync(connected_account)
    conv = Conversation.objects.get()
    assert conv.marketplace_state == "DISPUTE_CLOSED"
    assert conv.reply_blocked_reason
    assert conv.events.filter(kind="state_changed").exists()


def test_an_issue_gone_from_allegro_does_not_stop_the_sync(connected_account, allegro_sandbox):
    """An issue that left the open list answers 404 when read (removed, or no longer this seller's):
    the rest is synced, the conversation keeps its last state, the seller sees why, and the issue
    is not asked for again."""
    from integrations.models import SyncProblem

    gone = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Gdzie paczka?")
    sync(connected_account)
    allegro_sandbox.issue_state(gone["id"], status="DISPUTE_CLOSED")
    allegro_sandbox.inject_fault(404, path=f"/sale/issues/{gone['id']}", method="GET")
    other = allegro_sandbox.issue_open("jan.kowalski", "CLAIM", text="Towar uszkodzony.")

    run = sync(connected_account)
    assert run.new_messages == 1
    assert Conversation.objects.get(external_id=other["id"]).messages.count() == 1
    assert Conversation.objects.get(external_id=gone["id"]).marketplace_state == "DISPUTE_ONGOING"
    problem = SyncProblem.objects.get(account=connected_account, external_id=gone["id"])
    assert problem.code == "issue_unreadable" and "404" in problem.detail

    allegro_sandbox.reset_request_counts()
    sync(connected_account)
    assert allegro_sandbox.count("GET", "/sale/issues/{issueId}") == 0


def test_a_dispute_turned_claim_stays_one_conversation(connected_account, allegro_sandbox):
    issue = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Pralka cieknie")
    sync(connected_account)
    allegro_sandbox.issue_convert(
        issue["id"], reason="DEFECT_FOUND_DURING_USE", right="WARRANTY", expectations=[{"name": "REPAIR"}]
    )
    sync(connected_account)
    conv = Conversation.objects.get()
    assert conv.kind == "claim"
    assert conv.marketplace_state == "CLAIM_SUBMITTED"
    assert conv.details["issue"]["decisionDueDate"]
    assert conv.messages.count() >= 1


def test_reply_to_a_discussion_goes_to_the_issue_chat(connected_account, allegro_sandbox, alice):
    issue = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Brak przesyłki")
    sync(connected_account)
    conv = Conversation.objects.get()
    reply, _ = inbox_services.message_reply_create(
        conv, text="Przesyłka jest w drodze, numer XYZ.", acting_user=alice
    )
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    sent = allegro_sandbox.sent(kind="issueMessage")
    assert [(s["issueId"], s["text"]) for s in sent] == [(issue["id"], "Przesyłka jest w drodze, numer XYZ.")]
    conv.refresh_from_db()
    assert conv.awaiting_reply_since is None
    sync(connected_account)  # our chat message comes back from Allegro and is not stored twice
    assert conv.messages.filter(direction="out").count() == 1


def test_409_on_reply_is_shown_to_the_agent_not_retried(connected_account, allegro_sandbox, alice):
    issue = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Brak przesyłki")
    sync(connected_account)
    conv = Conversation.objects.get()
    reply, _ = inbox_services.message_reply_create(conv, text="Odpowiedź po czasie", acting_user=alice)
    allegro_sandbox.issue_state(issue["id"], chatActive=False)  # Allegro closed the chat meanwhile
    assert services.outbound_message_deliver(reply.pk) == "failed"
    reply.refresh_from_db()
    assert reply.delivery_status == "failed" and reply.failure_reason
    assert allegro_sandbox.count("POST", "/sale/issues/{issueId}/message") == 1


def test_claim_accepted_with_a_partial_refund(connected_account, allegro_sandbox):
    issue = allegro_sandbox.issue_open(
        "kupujaca_ola",
        "CLAIM",
        text="Rysa na obudowie",
        expectations=[{"name": "PARTIAL_REFUND", "refund": {"amount": "80.00", "currency": "PLN"}}],
    )
    sync(connected_account)
    AllegroAdapter(connected_account).claim_decide(
        issue["id"],
        status="ACCEPTED_PARTIAL_REFUND",
        message="Zwracamy 80 zł.",
        partial_refund=("80.00", "PLN"),
    )
    decision = allegro_sandbox.sent(kind="claimStatus")[0]
    assert decision["status"] == "ACCEPTED_PARTIAL_REFUND"
    sync(connected_account)
    assert Conversation.objects.get().marketplace_state == "CLAIM_ACCEPTED"


def test_reply_with_an_attachment_declares_and_uploads_it(
    connected_account, allegro_sandbox, alice, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    issue = allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="Proszę o fakturę")
    sync(connected_account)
    conv = Conversation.objects.get()
    pdf = SimpleUploadedFile("faktura.pdf", b"%PDF-1.4 faktura", content_type="application/pdf")
    reply, _ = inbox_services.message_reply_create(
        conv, text="W załączniku faktura.", acting_user=alice, attachments=[(pdf, "application/pdf")]
    )
    assert services.outbound_message_deliver(reply.pk) == "delivered"
    assert allegro_sandbox.count("POST", "/sale/issues/attachments") == 1
    assert allegro_sandbox.count("PUT", "/sale/issues/attachments/{attachmentId}") == 1
    sent = allegro_sandbox.sent(kind="issueMessage")[0]
    assert sent["issueId"] == issue["id"] and len(sent["attachments"]) == 1


def test_the_reply_form_refuses_files_that_are_not_pdf_or_images(
    client, alice, connected_account, allegro_sandbox
):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    allegro_sandbox.issue_open("kupujacy_adam", "DISPUTE", text="?")
    sync(connected_account)
    conv = Conversation.objects.get()
    client.force_login(alice)
    exe = SimpleUploadedFile("faktura.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    response = client.post(
        reverse("inbox:conversation-reply", args=[conv.pk]),
        {"text": "Proszę", "attachments": [exe]},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    assert "nie jest plikiem PDF" in response.content.decode() or "not a PDF" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()
