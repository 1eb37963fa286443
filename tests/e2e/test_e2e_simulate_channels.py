"""Every channel on one machine, as a newcomer meets it: ``RUN_FOREGROUND=0 make run`` (the demo city, two
of its requests replayed, a topic prefix and database of this run's own) starts every service, intake_sms_voice and
intake_social included, with the local fakes of Twilio, Graph and Mastodon, and prints each channel's
webhook URL and the simulate commands; each printed command, run as printed, signs and sends its webhook
and opens a case that Open311 ``GET /requests.json`` shows, and the acknowledgement lands in the fake; a
follow-up and a thanks say which case they joined, and a repeated report says which case it duplicates.
A service killed with SIGKILL is restarted by its supervisor (logged) and serves again. The services
`make run` started (fakes and supervisors too) are stopped afterwards (``deploy/local/bin/services.sh
stop``); the infrastructure stays up, as after `make run`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from support.infra import check_infra
from support.stack import REPO
from support.wait import eventually

PORTAL = "http://127.0.0.1:8080"  # intake_web's port in shared/settings.py SERVICE_PORTS, as `make run` prints
FAKE_TWILIO = "http://127.0.0.1:8091"
FAKE_GRAPH = "http://127.0.0.1:8092"
PORTS = [*range(8080, 8089), 8090, 8091, 8092, 8093]  # the services' and the fakes'


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class Run:
    output: str
    env: dict[str, str]
    started: datetime


@pytest.fixture(scope="module")
async def make_run(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Run]:
    """``RUN_FOREGROUND=0 make run`` with the demo city, its database and topics new on every run; the
    services are stopped when the module is done. Fails (never skips) when the infrastructure is down or a
    `make run` of this machine already holds the ports."""
    await check_infra()
    taken = [p for p in PORTS if not _port_free(p)]
    assert not taken, f"ports {taken} are taken: a `make run` is already serving; stop it first"
    run_id = f"sim{uuid.uuid4().hex[:8]}"
    # Two of the demo city's requests: the replay is make run's own step, not what this module is about.
    replay = tmp_path_factory.mktemp("replay") / "requests.json"
    replay.write_text(json.dumps(json.loads((REPO / "jurisdictions/demo/replay/requests.json").read_text(
        encoding="utf-8"))[:2]), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")} | {
        "OMNI311_JURISDICTION": "demo", "REPLAY": str(replay),
        "OMNI311_TOPIC_PREFIX": f"{run_id}.", "OMNI311_PG_DSN": f"postgresql://postgres@127.0.0.1:55432/omni311_{run_id}",
        "RUN_FOREGROUND": "0"}
    if "OMNI311_SHARED_DATA" in os.environ:
        env["OMNI311_SHARED_DATA"] = os.environ["OMNI311_SHARED_DATA"]
    started = datetime.now(UTC) - timedelta(seconds=5)
    try:
        done = subprocess.run(["make", "--no-print-directory", "run"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=240, check=False)
        assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
        yield Run(done.stdout, env, started)
    finally:
        subprocess.run([str(REPO / "deploy/local/bin/services.sh"), "stop"], cwd=REPO, env=env,
                       capture_output=True, timeout=120, check=False)


def _commands(output: str) -> list[list[str]]:
    """The simulate commands `make run` printed, as argument lists."""
    return [shlex.split(line.strip()) for line in output.splitlines()
            if line.strip().startswith(".venv/bin/python -m tools.simulate ")]


def test_make_run_prints_every_channels_webhook_url_and_the_simulate_commands(make_run: Run) -> None:
    out = make_run.output
    for name in ("fake_twilio", "fake_graph", "fake_mastodon", "intake_sms_voice", "intake_social"):
        assert re.search(rf"^{name} +ready", out, re.M), name
    for label, url in [("SMS / MMS (Twilio)", "http://127.0.0.1:8086/twilio/sms"),
                       ("WhatsApp (Twilio)", "http://127.0.0.1:8086/twilio/whatsapp"),
                       ("voice (Twilio)", "http://127.0.0.1:8086/twilio/voice"),
                       ("status callback", "http://127.0.0.1:8086/twilio/status"),
                       ("Meta webhook", "http://127.0.0.1:8087/webhooks/meta"),
                       ("email", "mailbox city311@omni311.test"),
                       ("Open311", "http://127.0.0.1:8080/requests.json"),
                       ("portal", "http://127.0.0.1:8080/")]:
        assert re.search(rf"^  {re.escape(label)} +{re.escape(url)}", out, re.M), label
    channels = {argv[3] for argv in _commands(out)}
    assert channels == {"sms", "whatsapp", "messenger", "instagram", "call", "mastodon"}


async def test_each_printed_simulate_command_opens_a_case_that_open311_shows(make_run: Run) -> None:
    opened: dict[str, str] = {}
    for argv in _commands(make_run.output):
        done = subprocess.run(argv, cwd=REPO, env=make_run.env, capture_output=True, text=True, timeout=90,
                              check=False)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
        found = re.search(r"^case (\S+) opened", done.stdout, re.M)
        assert found, (argv, done.stdout)
        opened[shlex.join(argv[3:])] = found.group(1)
    assert len(set(opened.values())) == len(opened) == 8, opened

    answer = httpx.get(f"{PORTAL}/requests.json", params={"start_date": make_run.started.isoformat()}, timeout=10)
    assert answer.status_code == 200, answer.text
    shown = {r["service_request_id"] for r in answer.json()}
    assert set(opened.values()) <= shown, (opened, shown)

    # The notifier's acknowledgement of the first SMS went to the resident through the Twilio fake.
    sms_case = next(v for k, v in opened.items() if k.startswith("sms "))
    sent = await eventually(lambda: [m for m in httpx.get(f"{FAKE_TWILIO}/sent", timeout=5).json()
                               if m["kind"] == "sms" and sms_case in (m.get("body") or "")], timeout=20,
                      what="the SMS acknowledgement at the Twilio fake")
    assert sent
    # The photos were downloaded from the fakes at intake (media kept by us, docs/channels.md): the MMS's
    # from its Twilio media URL, the WhatsApp Cloud one by its media id resolved through the Graph API.
    for fake, kinds in ((FAKE_TWILIO, {"media_download"}), (FAKE_GRAPH, {"media_url", "media_download"})):
        got = {m["kind"] for m in httpx.get(f"{fake}/sent", timeout=5).json()}
        assert kinds <= got, (fake, got)


async def test_a_killed_service_is_restarted_by_its_supervisor_and_serves_again(make_run: Run) -> None:
    run_dir, log = REPO / "var/run", REPO / "var/logs/supervisor.log"
    supervisor, child = (int((run_dir / name).read_text()) for name in ("intake_sms_voice.pid",
                                                                         "intake_sms_voice.child.pid"))
    seen = log.read_text() if log.exists() else ""
    os.kill(child, signal.SIGKILL)

    def restarted() -> bool:
        new = log.read_text()[len(seen):] if log.exists() else ""
        return ("intake_sms_voice exited (killed by signal 9 (SIGKILL))" in new
                and "intake_sms_voice restarted (pid" in new)

    await eventually(restarted, timeout=20, what="the restart line in var/logs/supervisor.log")
    assert int((run_dir / "intake_sms_voice.pid").read_text()) == supervisor
    assert int((run_dir / "intake_sms_voice.child.pid").read_text()) != child
    assert "intake_sms_voice exited" in (run_dir / "intake_sms_voice.log").read_text()

    async def ready() -> bool:
        async with httpx.AsyncClient(timeout=2) as http:
            try:
                return (await http.get("http://127.0.0.1:8086/readyz")).status_code == 200
            except httpx.HTTPError:
                return False

    await eventually(ready, timeout=60, what="intake_sms_voice ready again")
    started = time.monotonic()
    done = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "tools.simulate", "sms", "--from", "+15145550199",
                           "Missed garbage collection at 101 Elm Street"], cwd=REPO, env=make_run.env,
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0 and "opened" in done.stdout, (done.stdout, done.stderr, time.monotonic() - started)


def _simulate(run: Run, *argv: str) -> str:
    done = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "tools.simulate", *argv], cwd=REPO, env=run.env,
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout


def test_follow_ups_say_which_case_they_joined_and_a_repeat_says_what_it_duplicates(make_run: Run) -> None:
    # A newcomer's follow-ups waited 30 s and printed "no new case"; a report already in the database was
    # merged at once and printed "(closed, ...)" with no word of why.
    first = _simulate(make_run, "sms", "--from", "+15145550171", "Pothole at 1800 rue de l'Église")
    case = re.search(r"^case (\S+) opened \(open", first, re.M)
    assert case, first
    number = case.group(1)
    joined = _simulate(make_run, "sms", "--from", "+15145550171", "it's getting bigger")
    assert f"the text joined case {number} as a follow-up" in joined, joined
    thanks = _simulate(make_run, "sms", "--from", "+15145550171", "ok thanks")
    assert f"recorded on case {number} as a thanks" in thanks, thanks
    again = _simulate(make_run, "sms", "--from", "+15145550172", "Pothole at 1800 rue de l'Église")
    assert re.search(rf"^case \S+ opened and was merged at once as a duplicate of {number} \(same service",
                     again, re.M), again
