"""`make run` beside another checkout's infrastructure (deploy/local/bin/kafka.sh, mail.sh): a broker or a
mail server already answering on the port is reused, with one line saying so; a port held by something else
stops the start with a line saying what to set; ``OMNI311_KAFKA_EXTERNAL=1`` / ``OMNI311_MAIL_EXTERNAL=1`` do
nothing. Each script runs from a copy of deploy/local/bin in a temporary checkout (its own var/, no pid
file), against small stand-ins listening on free ports: no Kafka, no GreenMail, no Maven."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from support.stack import REPO


def _checkout(tmp_path: Path) -> Path:
    """A temporary checkout holding only deploy/local/bin's scripts (ROOT is two folders above bin/)."""
    bin_dir = tmp_path / "deploy/local/bin"
    bin_dir.mkdir(parents=True)
    for name in ("kafka.sh", "mail.sh", "lib.sh"):
        shutil.copy2(REPO / "deploy/local/bin" / name, bin_dir / name)
    return bin_dir


@contextmanager
def _server(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A TCP server on a free 127.0.0.1 port calling `answer(connection)` for each connection; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(3)
                try:
                    answer(conn)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def _broker(conn: socket.socket) -> None:
    """Answer one Kafka Metadata request as a broker listing one broker (what kafka.sh's check reads)."""
    head = conn.recv(4)
    if len(head) < 4:
        return  # a probe of the port (kafka.sh's port_open) sends nothing
    conn.recv(struct.unpack(">i", head)[0])
    body = struct.pack(">iii", 7, 0, 1)
    conn.sendall(struct.pack(">i", len(body)) + body)


def _not_a_broker(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH\r\n")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI311_", "KAFKA_", "MAIL_"))}
    # PYTHON unusable: kafka.sh checks the broker with its standard-library metadata request.
    return subprocess.run([str(script), "start"], env=base | {"PYTHON": "/nonexistent/python"} | env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_broker_of_another_checkout_answering_on_the_port_is_reused_and_said_so(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    with _server(_broker) as port:
        done = _run(bin_dir / "kafka.sh", {"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(_free_port())})
    assert done.returncode == 0, done.stderr
    assert f"reusing the broker already answering on 127.0.0.1:{port}" in done.stderr
    assert "OMNI311_KAFKA_EXTERNAL=1" in done.stderr
    assert not (tmp_path / "var/kafka/kafka.pid").exists()


def test_a_kafka_port_held_by_something_else_stops_the_start_saying_what_to_set(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    with _server(_not_a_broker) as port:
        done = _run(bin_dir / "kafka.sh", {"KAFKA_PORT": str(port)})
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert f"port 127.0.0.1:{port} is held by a process that is not a Kafka broker" in line
    assert "OMNI311_KAFKA_EXTERNAL=1" in line and "KAFKA_PORT" in line


def test_external_kafka_and_mail_are_left_alone(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    kafka = _run(bin_dir / "kafka.sh", {"OMNI311_KAFKA_EXTERNAL": "1"})
    mail = _run(bin_dir / "mail.sh", {"OMNI311_MAIL_EXTERNAL": "1"})
    assert (kafka.returncode, mail.returncode) == (0, 0), (kafka.stderr, mail.stderr)
    assert "OMNI311_KAFKA_EXTERNAL=1: using an external broker" in kafka.stderr
    assert "OMNI311_MAIL_EXTERNAL=1: using an external mail server" in mail.stderr


def _smtp(conn: socket.socket) -> None:
    conn.sendall(b"220 greenmail ready\r\n")
    conn.recv(100)
    conn.sendall(b"221 bye\r\n")


def _imap(conn: socket.socket) -> None:
    conn.sendall(b"* OK IMAP4rev1 ready\r\n")
    conn.recv(100)
    conn.sendall(b"* BYE\r\na1 OK LOGOUT completed\r\n")


def _api(conn: socket.socket) -> None:
    request = b""
    while b"\r\n\r\n" not in request:  # the whole request: bash's printf may write it in pieces
        chunk = conn.recv(1000)
        if not chunk:
            return
        request += chunk
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


def test_a_mail_server_of_another_checkout_is_reused_and_a_foreign_port_is_an_error(tmp_path: Path) -> None:
    bin_dir = _checkout(tmp_path)
    with _server(_smtp) as smtp, _server(_imap) as imap, _server(_api) as api:
        ports = {"MAIL_SMTP_PORT": str(smtp), "MAIL_IMAP_PORT": str(imap), "MAIL_API_PORT": str(api)}
        reused = _run(bin_dir / "mail.sh", ports)
    assert reused.returncode == 0, reused.stderr
    assert "reusing the mail server already answering" in reused.stderr
    with _server(_not_a_broker) as smtp:
        taken = _run(bin_dir / "mail.sh", {"MAIL_SMTP_PORT": str(smtp), "MAIL_IMAP_PORT": str(_free_port()),
                                           "MAIL_API_PORT": str(_free_port())})
    assert taken.returncode == 1
    line = taken.stderr.strip().splitlines()[-1]
    assert f"port 127.0.0.1:{smtp} is held by a process" in line and "OMNI311_MAIL_EXTERNAL=1" in line
