"""Local fakes of the outside APIs the channel services talk to, for `make run` on one machine: the Twilio
REST API (messages the notifier sends, MMS media and call recordings intake_sms_voice downloads), Meta's
Graph API (Send API, WhatsApp Cloud messages and media URLs) and a Mastodon instance (the city's account:
mentions for intake_social's watcher, direct messages from the notifier).

Each fake is a small FastAPI app on its own port (`PORTS`), started by `deploy/local/bin/services.sh`
(``python -m tools.fakes twilio|graph|mastodon``), answering as the real API does (the real client
libraries parse the answers) and recording what it got: ``GET /sent`` lists it, newest last, so a
newcomer can read the replies the stack sent. Development only: nothing here is used in production
(`tools.fakes.devenv` refuses to run with ``OMNI311_ENVIRONMENT=production``).
"""

from __future__ import annotations

PORTS = {"twilio": 8091, "graph": 8092, "mastodon": 8093}
"""The port of each fake (next to the services' ports in `shared.settings.SERVICE_PORTS`, 8080-8090)."""


def fake_url(name: str) -> str:
    """The base URL of the fake `name` (a key of `PORTS`) on this machine, e.g. ``http://127.0.0.1:8091``."""
    return f"http://127.0.0.1:{PORTS[name]}"
