"""Sign-in at a city's OpenID Connect provider (a fake one, in process): the authorization code flow with
PKCE, the state bound to the browser, the provider's access token as the session only when every service
would accept it."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.workbench.app import create_app
from shared.auth import Role
from workbench_fakes import FakeStaffApi, a_case, demo

IDP = "http://idp.test/realms/city"


class FakeProvider:
    """Discovery and a token endpoint; `codes[code] = (code_challenge, access_token)` are the sign-ins the
    user completed at the provider."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[str, str]] = {}
        self.exchanges: list[dict[str, Any]] = []

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/realms/city/.well-known/openid-configuration")
        async def discovery() -> Any:
            return {"issuer": IDP, "authorization_endpoint": f"{IDP}/protocol/openid-connect/auth",
                    "token_endpoint": f"{IDP}/protocol/openid-connect/token",
                    "jwks_uri": f"{IDP}/protocol/openid-connect/certs"}

        @app.post("/realms/city/protocol/openid-connect/token")
        async def token(request: Request) -> Any:
            form = dict((await request.form()).items())
            self.exchanges.append({**form, "authorization": request.headers.get("authorization")})
            challenge, access = self.codes.get(str(form.get("code")), ("", ""))
            verifier = str(form.get("code_verifier", ""))
            computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not access or computed != challenge:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return {"access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": "x.y.z"}

        return app


def workbench(issuer: Any, provider: FakeProvider, *, dev_keys: bool = False) -> httpx.AsyncClient:
    app = create_app(issuer.settings(jurisdiction="demo", workbench_oidc_issuer=IDP, workbench_oidc_client_id="workbench",
                                     workbench_oidc_client_secret="s3cret",
                                     auth_dev_issuer_dir=issuer.dir if dev_keys else issuer.dir / "none"),
                     jurisdiction=demo(), case_transport=httpx.ASGITransport(app=FakeStaffApi(
                         cases={"D-1": a_case("D-1")}).app()),
                     oidc_transport=httpx.ASGITransport(app=provider.app()))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8088")


async def start(client: httpx.AsyncClient, next_path: str = "/cases/D-1") -> dict[str, str]:
    """Follow the sign-in button to the provider; the authorization request's parameters."""
    page = await client.get("/sign-in")
    assert 'id="sign-in-oidc"' in page.text and 'id="dev-users"' not in page.text
    sent = await client.get("/sign-in/oidc", params={"next": next_path})
    assert sent.status_code == 303
    target = urlsplit(sent.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{IDP}/protocol/openid-connect/auth"
    cookie = sent.headers["set-cookie"].lower()
    assert "wb_oidc=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    return {k: v[0] for k, v in parse_qs(target.query).items()}


async def test_a_city_account_signs_in_with_the_code_flow_and_pkce(test_issuer) -> None:
    provider = FakeProvider()
    async with workbench(test_issuer, provider) as client:
        asked = await start(client)
        assert asked["response_type"] == "code" and asked["client_id"] == "workbench"
        assert asked["redirect_uri"] == "http://127.0.0.1:8088/sign-in/callback"
        assert asked["code_challenge_method"] == "S256" and "openid" in asked["scope"]
        access = test_issuer.token(Role.SUPERVISOR, subject="kc-7f3a", name="Dana Roy")
        provider.codes["code-1"] = (asked["code_challenge"], access)
        back = await client.get("/sign-in/callback", params={"code": "code-1", "state": asked["state"]})
        assert back.status_code == 303 and back.headers["location"] == "/cases/D-1"
        page = await client.get("/cases/D-1")
    assert page.status_code == 200 and "Dana Roy" in page.text
    exchange = provider.exchanges[0]
    assert exchange["grant_type"] == "authorization_code" and exchange["authorization"].startswith("Basic ")


async def test_a_callback_this_browser_did_not_start_is_refused(test_issuer) -> None:
    provider = FakeProvider()
    async with workbench(test_issuer, provider) as client:
        asked = await start(client)
        provider.codes["code-1"] = (asked["code_challenge"], test_issuer.token(Role.SUPERVISOR))
        forged = await client.get("/sign-in/callback", params={"code": "code-1", "state": "attacker-state"})
        assert forged.status_code == 400
        assert (await client.get("/cases/D-1")).status_code == 303
    async with workbench(test_issuer, provider) as other_browser:
        replayed = await other_browser.get("/sign-in/callback", params={"code": "code-1", "state": asked["state"]})
        assert replayed.status_code == 400
    assert provider.exchanges == []


async def test_a_refusal_or_an_untrusted_token_of_the_provider_starts_no_session(test_issuer) -> None:
    provider = FakeProvider()
    async with workbench(test_issuer, provider) as client:
        asked = await start(client)
        denied = await client.get("/sign-in/callback", params={"error": "access_denied", "state": asked["state"],
                                                               "error_description": "User cancelled"})
        assert denied.status_code == 401 and "User cancelled" in denied.text
        asked = await start(client)
        provider.codes["code-2"] = (asked["code_challenge"], test_issuer.token(Role.SUPERVISOR, foreign=True))
        untrusted = await client.get("/sign-in/callback", params={"code": "code-2", "state": asked["state"]})
        assert untrusted.status_code == 403 and "not accepted" in untrusted.text
        asked = await start(client)
        bad_code = await client.get("/sign-in/callback", params={"code": "nope", "state": asked["state"]})
        assert bad_code.status_code == 502
        assert (await client.get("/cases/D-1")).status_code == 303


async def test_a_city_with_its_identity_provider_never_offers_the_development_users(test_issuer) -> None:
    # Development keys left on the machine (make venv made them) must not open a back door beside the IdP.
    async with workbench(test_issuer, FakeProvider(), dev_keys=True) as client:
        page = await client.get("/sign-in")
        assert 'id="dev-users"' not in page.text and 'id="sign-in-admin"' not in page.text
        assert (await client.get("/sign-in?user=admin")).status_code == 404


async def test_a_pending_sign_in_cookie_rewritten_to_another_site_still_lands_on_the_workbench(test_issuer) -> None:
    # The pending sign-in cookie is not signed: one tossed in by a sibling host must not make an open redirect.
    from services.workbench.adapters.oidc import decode_pending, encode_pending
    provider = FakeProvider()
    async with workbench(test_issuer, provider) as client:
        asked = await start(client)
        pending = decode_pending(client.cookies.get("wb_oidc"))
        assert pending is not None
        forged = encode_pending(type(pending)(state=pending.state, code_verifier=pending.code_verifier,
                                              next="https://evil.example/phish"))
        client.cookies.set("wb_oidc", forged, domain="127.0.0.1", path="/sign-in")
        provider.codes["code-1"] = (asked["code_challenge"], test_issuer.token(Role.SUPERVISOR))
        back = await client.get("/sign-in/callback", params={"code": "code-1", "state": asked["state"]})
    assert back.status_code == 303 and not back.headers["location"].startswith(("http", "//"))
