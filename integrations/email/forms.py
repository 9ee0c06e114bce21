"""The mailbox form. Passwords are write-only: never rendered back, empty means "keep"."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .mailbox import DEFAULT_PORTS, NONE, SSL, STARTTLS, MailboxSettings, ServerSettings

SECURITY = [
    (SSL, _("SSL/TLS")),
    (STARTTLS, "STARTTLS"),
    (NONE, _("None (unencrypted)")),
]
STORED_SECRET = "••••"


class MailboxForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    from_email = forms.EmailField(label=_("From address"))
    from_name = forms.CharField(label=_("From name"), max_length=200, required=False)

    imap_host = forms.CharField(label=_("IMAP server"), max_length=255)
    imap_port = forms.IntegerField(label=_("IMAP port"), min_value=1, max_value=65535, required=False)
    imap_security = forms.ChoiceField(label=_("IMAP encryption"), choices=SECURITY, initial=SSL)
    imap_username = forms.CharField(label=_("IMAP login"), max_length=320)
    imap_password = forms.CharField(
        label=_("IMAP password or app password"),
        max_length=1000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    folders = forms.CharField(
        label=_("Folders to watch"),
        initial="INBOX",
        max_length=2000,
        help_text=_("One per line (or separated by commas)."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    smtp_host = forms.CharField(label=_("SMTP server"), max_length=255)
    smtp_port = forms.IntegerField(label=_("SMTP port"), min_value=1, max_value=65535, required=False)
    smtp_security = forms.ChoiceField(label=_("SMTP encryption"), choices=SECURITY, initial=SSL)
    smtp_username = forms.CharField(
        label=_("SMTP login"), max_length=320, required=False, help_text=_("Empty: the IMAP login.")
    )
    smtp_password = forms.CharField(
        label=_("SMTP password"),
        max_length=1000,
        required=False,
        strip=False,
        help_text=_("Empty: the IMAP password."),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    sent_folder = forms.CharField(
        label=_("Sent folder"),
        max_length=500,
        required=False,
        help_text=_("Optional, e.g. Sent. Used to check whether an interrupted send went out."),
    )
    append_to_sent = forms.BooleanField(
        label=_("Save a copy of each reply in the Sent folder"),
        required=False,
        help_text=_("Leave off for Gmail, which saves sent mail by itself."),
    )

    def __init__(self, *args, stored: MailboxSettings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored = stored
        if stored is not None:
            # Show that a secret is stored, never the secret itself.
            for name, secret in (
                ("imap_password", stored.imap.password),
                ("smtp_password", stored.smtp.password),
            ):
                if secret:
                    self.fields[name].widget.attrs["placeholder"] = STORED_SECRET
                    self.fields[name].help_text = _("Stored. Leave empty to keep it.")
        else:
            self.fields["imap_password"].required = True

    @classmethod
    def initial_from(cls, account_name: str, mailbox: MailboxSettings) -> dict:
        return {
            "name": account_name,
            "from_email": mailbox.from_email,
            "from_name": mailbox.from_name,
            "imap_host": mailbox.imap.host,
            "imap_port": mailbox.imap.port,
            "imap_security": mailbox.imap.security,
            "imap_username": mailbox.imap.username,
            "folders": "\n".join(mailbox.folders),
            "smtp_host": mailbox.smtp.host,
            "smtp_port": mailbox.smtp.port,
            "smtp_security": mailbox.smtp.security,
            "smtp_username": mailbox.smtp.username,
            "sent_folder": mailbox.sent_folder,
            "append_to_sent": mailbox.append_to_sent,
        }

    def clean_folders(self) -> list[str]:
        raw = self.cleaned_data.get("folders") or ""
        folders = [f.strip() for line in raw.splitlines() for f in line.split(",") if f.strip()]
        return list(dict.fromkeys(folders)) or ["INBOX"]

    def clean(self):
        data = super().clean()
        if data.get("append_to_sent") and not (data.get("sent_folder") or "").strip():
            self.add_error("sent_folder", _("Name the Sent folder to save copies in."))
        return data

    def mailbox(self) -> MailboxSettings:
        """The settings as entered; passwords left empty are taken from the stored settings."""
        data = self.cleaned_data
        imap_security = data["imap_security"]
        smtp_security = data["smtp_security"]
        imap_password = data.get("imap_password") or ""
        smtp_password = data.get("smtp_password") or ""
        stored = self.stored
        if not imap_password and stored is not None:
            imap_password = stored.imap.password
        if not smtp_password:
            smtp_password = (
                stored.smtp.password if stored is not None and stored.smtp.password else imap_password
            )
        return MailboxSettings(
            imap=ServerSettings(
                host=data["imap_host"].strip(),
                port=data.get("imap_port") or DEFAULT_PORTS[("imap", imap_security)],
                security=imap_security,
                username=data["imap_username"].strip(),
                password=imap_password,
            ),
            smtp=ServerSettings(
                host=data["smtp_host"].strip(),
                port=data.get("smtp_port") or DEFAULT_PORTS[("smtp", smtp_security)],
                security=smtp_security,
                username=(data.get("smtp_username") or "").strip() or data["imap_username"].strip(),
                password=smtp_password,
            ),
            from_email=data["from_email"].strip().lower(),
            from_name=(data.get("from_name") or "").strip(),
            folders=tuple(data["folders"]),
            sent_folder=(data.get("sent_folder") or "").strip(),
            append_to_sent=bool(data.get("append_to_sent")),
        )
