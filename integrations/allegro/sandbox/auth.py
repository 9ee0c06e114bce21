"""The sandbox's OAuth server: `/auth/oauth/device`, `/auth/oauth/token`, `/auth/oauth/authorize`
and the `/skojarz-aplikacje` page where a person approves a device-flow code (allegro-api.md §1).
"""

from __future__ import annotations

import hmac
from html import escape
from urllib.parse import urlencode

from .errors import ControlError, OAuthError
from .state import ALL_SCOPES
from .web import HTML, OAUTH_JSON, Ctx, Reply

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
UNAUTHORIZED = "Full authentication is required to access this resource"


def _client(ctx: Ctx, *, allow_public: bool = False) -> tuple[str, bool]:
    """(client_id, authenticated): Basic auth, or a bare client_id where PKCE allows it."""
    auth = ctx.request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        client_id = ctx.params().get("client_id")
        if allow_public and client_id and ctx.state.client_secret(client_id) is not None:
            return client_id, False
        raise OAuthError(
            401, "unauthorized", UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="oauth2/client"'}
        )
    expected = ctx.state.client_secret(auth.username)
    if expected is None or not hmac.compare_digest(expected.encode(), (auth.password or "").encode()):
        raise OAuthError(
            401,
            "invalid_client",
            "Bad client credentials",
            {"WWW-Authenticate": 'Basic realm="oauth2/client"'},
        )
    return auth.username, True


def _scopes(ctx: Ctx) -> tuple[str, ...]:
    raw = ctx.params().get("scope")
    if not raw:
        return ALL_SCOPES
    scopes = tuple(s for s in raw.replace(",", " ").split() if s)
    unknown = [s for s in scopes if s not in ALL_SCOPES and s != "allegro_api"]
    if unknown:
        raise OAuthError(400, "invalid_scope", f"Invalid scope: {' '.join(unknown)}")
    return tuple(s for s in scopes if s != "allegro_api") or ALL_SCOPES


def device(ctx: Ctx) -> Reply:
    client_id, _ = _client(ctx)
    claimed = ctx.params().get("client_id")
    if claimed and claimed != client_id:
        raise OAuthError(400, "invalid_request", "client_id does not match the authenticated client")
    dc = ctx.state.create_device_code(client_id, _scopes(ctx))
    uri = f"{ctx.base_url}/skojarz-aplikacje"
    body = {
        "user_code": dc.user_code,
        "device_code": dc.device_code,
        "expires_in": str(ctx.state.config.device_code_ttl),
        "interval": str(ctx.state.config.device_interval),
        "verification_uri": uri,
        "verification_uri_complete": f"{uri}?code={dc.user_code}",
    }
    return Reply(200, body, OAUTH_JSON, dict(NO_STORE))


def token(ctx: Ctx) -> Reply:
    params = ctx.params()
    grant = params.get("grant_type")
    if not grant:
        raise OAuthError(400, "invalid_request", "Missing grant type")
    client_id, authenticated = _client(ctx, allow_public=grant == "authorization_code")
    state = ctx.state
    if grant == DEVICE_GRANT:
        body = state.poll_device(client_id, params.get("device_code", ""))
    elif grant == "refresh_token":
        body = state.refresh(client_id, params.get("refresh_token", ""))
    elif grant == "authorization_code":
        body = state.exchange_auth_code(
            client_id,
            params.get("code", ""),
            params.get("redirect_uri"),
            params.get("code_verifier"),
            client_authenticated=authenticated,
        )
    elif grant == "client_credentials":
        body = state.issue_tokens(
            client_id, None, _scopes(ctx) if params.get("scope") else ("allegro:api",), refresh=False
        )
    else:
        raise OAuthError(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    return Reply(200, body, OAUTH_JSON, dict(NO_STORE))


# --- HTML pages -----------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="pl"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .box{{border:1px solid #ddd;border-radius:8px;padding:1rem 1.25rem;background:#fafafa}}
label{{display:block;margin:.75rem 0 .25rem}}
input{{font-size:1rem;padding:.4rem;width:100%;box-sizing:border-box}}
button{{font-size:1rem;padding:.5rem 1rem;margin:.75rem .5rem 0 0;border-radius:6px;border:1px solid #999;
cursor:pointer}}
.ok{{background:#ff5a00;color:#fff;border-color:#ff5a00}} .note{{color:#666;font-size:.85rem}}
code{{font-size:1.1rem;letter-spacing:.1rem}}
</style></head><body><h1>{title}</h1><div class="box">{content}</div>
<p class="note">Lokalny sandbox Allegro (Replydesk) – to nie jest prawdziwe Allegro.</p></body></html>"""


def page(title: str, content: str, status: int = 200) -> Reply:
    return Reply(status, PAGE.format(title=escape(title), content=content), HTML)


def link_page(ctx: Ctx) -> Reply:
    """`/skojarz-aplikacje`: where the seller approves (or denies) a device-flow code."""
    state = ctx.state
    title = "Powiąż aplikację z kontem Allegro"
    if ctx.request.method == "POST":
        form = ctx.request.form
        code = form.get("code", "").strip()
        seller = form.get("seller", "").strip() or None
        approve = form.get("action") != "deny"
        try:
            dc = state.decide_device(code, approve=approve, seller=seller)
        except ControlError as exc:
            return page(
                title,
                f"<p>Nie udało się: {escape(exc.message)}</p>"
                f'<p><a href="{ctx.base_url}/skojarz-aplikacje">Spróbuj ponownie</a></p>',
                exc.status,
            )
        if approve:
            return page(
                title,
                f"<p>Aplikacja <b>{escape(dc.client_id)}</b> została powiązana z kontem "
                f"<b>{escape(dc.seller or '')}</b>. Możesz wrócić do aplikacji.</p>",
            )
        return page(title, "<p>Odmówiono dostępu. Aplikacja nie otrzyma tokenu.</p>")
    code = ctx.request.args.get("code", "")
    info = ""
    dc = state.device_by_user_code(code) if code else None
    if dc is not None:
        scopes = ", ".join(dc.scopes)
        info = (
            f"<p>Aplikacja <b>{escape(dc.client_id)}</b> prosi o dostęp do konta "
            f"({escape(scopes)}). Status kodu: <b>{escape(dc.status)}</b>.</p>"
        )
    elif code:
        info = "<p>Nie znamy tego kodu albo już wygasł.</p>"
    content = f"""{info}
<form method="post" action="{ctx.base_url}/skojarz-aplikacje">
<label for="code">Kod z aplikacji</label><input id="code" name="code" value="{escape(code)}" required>
<label for="seller">Login sprzedawcy</label>
<input id="seller" name="seller" value="{escape(state.config.default_seller)}">
<button class="ok" name="action" value="approve" type="submit">Zezwól</button>
<button name="action" value="deny" type="submit">Odrzuć</button>
</form>"""
    return page(title, content)


def authorize(ctx: Ctx) -> Reply:
    """`/auth/oauth/authorize` of the authorization-code flow (with optional PKCE)."""
    state = ctx.state
    args = ctx.request.args
    title = "Zezwól aplikacji na dostęp do konta"
    client_id = args.get("client_id", "")
    redirect_uri = args.get("redirect_uri", "")
    if args.get("response_type") != "code" or state.client_secret(client_id) is None or not redirect_uri:
        return page(
            title, "<p>Niepoprawne żądanie autoryzacji (response_type, client_id, redirect_uri).</p>", 400
        )
    try:
        scopes = _scopes(ctx)
    except OAuthError as exc:
        return page(title, f"<p>{escape(exc.description or exc.error)}</p>", 400)

    def redirect(params: dict[str, str]) -> Reply:
        if args.get("state"):
            params["state"] = args["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return Reply(302, b"", "text/plain", {"Location": f"{redirect_uri}{sep}{urlencode(params)}"})

    def grant(seller: str | None) -> Reply:
        ac = state.create_auth_code(
            client_id,
            redirect_uri,
            seller or state.config.default_seller,
            scopes,
            args.get("code_challenge"),
            args.get("code_challenge_method"),
        )
        return redirect({"code": ac.code})

    if ctx.request.method == "POST":
        if ctx.request.form.get("action") == "deny":
            return redirect({"error": "access_denied"})
        return grant(ctx.request.form.get("seller", "").strip() or None)
    if state.config.auto_approve:
        return grant(None)
    query = escape(ctx.request.query_string.decode())
    content = f"""<p>Aplikacja <b>{escape(client_id)}</b> prosi o dostęp: {escape(", ".join(scopes))}.</p>
<form method="post" action="{ctx.base_url}/auth/oauth/authorize?{query}">
<label for="seller">Login sprzedawcy</label>
<input id="seller" name="seller" value="{escape(state.config.default_seller)}">
<button class="ok" name="action" value="approve" type="submit">Zezwól</button>
<button name="action" value="deny" type="submit">Odrzuć</button>
</form>"""
    return page(title, content)
