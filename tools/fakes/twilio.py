"""A fake of Twilio's REST API for `make run`: the messages the notifier sends, the MMS media and call
recordings intake_sms_voice downloads, and the status callback Twilio posts once a message is delivered.

Routes (Twilio REST API 2010-04-01): ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (HTTP Basic
with the account sid and auth token, else 401 as Twilio answers; 201 with a Message resource; recorded as
``sms`` or ``whatsapp``; when a StatusCallback is given, ``delivered`` is posted there, signed with
X-Twilio-Signature as Twilio would), ``GET .../Messages/{MessageSid}/Media/{MediaSid}`` (the photo put at
``/fake/media/{MediaSid}``, else the sample photo) and ``GET .../Recordings/{RecordingSid}[.mp3]`` (a
silent MP3). Media are served without credentials, as Twilio's are unless HTTP auth is enabled.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tools.fakes.recording import SILENT_MP3, Recorder, basic_auth, media_response, mount_common

API = "/2010-04-01/Accounts/{account_sid}"


def create_app(account_sid: str, auth_token: str, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """The fake for one account (`account_sid`, `auth_token`: what the notifier authenticates with);
    `transport` replaces the network for the status callbacks (tests)."""
    app = FastAPI(title="fake Twilio REST API (development only)")
    app_sid = account_sid
    rec = Recorder("twilio")
    app.state.recorder = rec
    mount_common(app, rec)
    tasks: set[asyncio.Task[None]] = set()

    @app.post(API + "/Messages.json")
    async def create_message(account_sid: str, request: Request) -> Response:
        if basic_auth(request) != (app_sid, auth_token) or account_sid != app_sid:
            return JSONResponse({"code": 20003, "message": "Authenticate", "more_info":
                                 "https://www.twilio.com/docs/errors/20003", "status": 401}, status_code=401)
        form = {k: str(v) for k, v in (await request.form()).items()}
        to, sender = form.get("To", ""), form.get("From") or form.get("MessagingServiceSid", "")
        if not to or not (form.get("Body") or form.get("MediaUrl")):
            return JSONResponse({"code": 21602, "message": "Message body is required.", "status": 400},
                                status_code=400)
        sid = "SM" + uuid.uuid4().hex
        rec.record("whatsapp" if to.startswith("whatsapp:") else "sms", sid=sid, to=to, body=form.get("Body"),
                   **{"from": sender}, status_callback=form.get("StatusCallback"))
        if form.get("StatusCallback"):
            task = asyncio.create_task(_deliver_status(rec, form["StatusCallback"], auth_token, transport, {
                "MessageSid": sid, "SmsSid": sid, "AccountSid": app_sid, "From": sender, "To": to,
                "MessageStatus": "delivered", "SmsStatus": "delivered", "ApiVersion": "2010-04-01"}))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse(_message(app_sid, sid, to, sender, form.get("Body")), status_code=201)

    @app.get(API + "/Messages/{message_sid}/Media/{media_sid}")
    async def media(account_sid: str, message_sid: str, media_sid: str) -> Response:
        rec.record("media_download", message_sid=message_sid, media_sid=media_sid)
        return media_response(rec, media_sid)

    @app.get(API + "/Recordings/{recording}")
    async def recording(account_sid: str, recording: str) -> Response:
        rec.record("recording_download", recording=recording)
        return Response(content=SILENT_MP3, media_type="audio/mpeg")

    return app


def _message(account_sid: str, sid: str, to: str, sender: str, body: str | None) -> dict[str, Any]:
    """A Message resource as Twilio answers a create (the fields the twilio library reads)."""
    now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return {"sid": sid, "account_sid": account_sid, "to": to, "from": sender, "body": body, "status": "queued",
            "num_segments": "1", "num_media": "0", "direction": "outbound-api", "api_version": "2010-04-01",
            "date_created": now, "date_updated": now, "date_sent": None, "price": None, "price_unit": "USD",
            "error_code": None, "error_message": None, "messaging_service_sid": None,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json", "subresource_uris": {}}


async def _deliver_status(rec: Recorder, url: str, auth_token: str, transport: httpx.AsyncBaseTransport | None,
                          params: dict[str, str]) -> None:
    """Post the ``delivered`` status to `url` a moment after the send, signed as Twilio signs it."""
    from twilio.request_validator import RequestValidator

    await asyncio.sleep(0.5)
    signature = RequestValidator(auth_token).compute_signature(url, params)
    try:
        async with httpx.AsyncClient(timeout=10, transport=transport) as client:
            answer = await client.post(url, data=params, headers={"X-Twilio-Signature": signature})
        rec.record("status_callback", sid=params["MessageSid"], url=url, answer=answer.status_code)
    except httpx.HTTPError as exc:
        rec.record("status_callback", sid=params["MessageSid"], url=url, error=repr(exc))
