"""A fake of Meta's Graph API for `make run`: the Send API (Messenger, Instagram), WhatsApp Cloud messages
and WhatsApp media URL resolution.

Routes (Graph API, any version segment): ``POST /{version}/me/messages`` (Send API: 200 with
``recipient_id`` and ``message_id``; recorded as ``send_api``), ``POST /{version}/{phone-number-id}/messages``
(WhatsApp Cloud: 200 with ``messages[0].id``; recorded as ``whatsapp``), ``GET /{version}/{media-id}`` (the
media's metadata with a ``url`` on this fake, ``/fake/media/{media-id}``, as WhatsApp Cloud answers). Every
Graph route wants ``Authorization: Bearer <the development access token>``, else 400 with Graph's
OAuthException, as Meta answers.
"""

from __future__ import annotations

import hashlib
import uuid

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tools.fakes.recording import Recorder, media_response, mount_common


def _oauth_error() -> Response:
    return JSONResponse({"error": {"message": "An active access token must be used to query information about "
                                              "the current user.", "type": "OAuthException", "code": 2500}},
                        status_code=400)


def create_app(access_token: str, base_url: str) -> FastAPI:
    """The fake for one page/WhatsApp app (`access_token`: what the notifier and intake_social send);
    `base_url` is this fake's own address, for the media URLs it hands out."""
    app = FastAPI(title="fake Meta Graph API (development only)")
    rec = Recorder("graph")
    app.state.recorder = rec
    mount_common(app, rec)

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {access_token}"

    @app.post("/{version}/{sender}/messages")
    async def send(version: str, sender: str, request: Request) -> Response:
        if not authorised(request):
            return _oauth_error()
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": {"message": "(#100) Invalid JSON", "type": "OAuthException",
                                           "code": 100}}, status_code=400)
        if sender == "me":
            recipient = (body.get("recipient") or {}).get("id")
            mid = "m_" + uuid.uuid4().hex
            rec.record("send_api", message_id=mid, recipient=recipient,
                       text=(body.get("message") or {}).get("text"), messaging_type=body.get("messaging_type"))
            return JSONResponse({"recipient_id": recipient, "message_id": mid})
        wamid = "wamid." + uuid.uuid4().hex
        rec.record("whatsapp", message_id=wamid, phone_number_id=sender, to=body.get("to"),
                   text=(body.get("text") or {}).get("body"))
        return JSONResponse({"messaging_product": "whatsapp",
                             "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                             "messages": [{"id": wamid}]})

    @app.get("/{version}/{media_id}")
    async def media_url(version: str, media_id: str, request: Request) -> Response:
        if not authorised(request):
            return _oauth_error()
        found = media_response(rec, media_id)
        rec.record("media_url", media_id=media_id)
        return JSONResponse({"messaging_product": "whatsapp", "url": f"{base_url}/fake/media/{media_id}",
                             "mime_type": found.media_type, "sha256": hashlib.sha256(found.body).hexdigest(),
                             "file_size": len(found.body), "id": media_id})

    return app
