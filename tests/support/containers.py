"""Where a Docker daemon runs and no infrastructure is configured or reachable, start Kafka, PostGIS
and GreenMail with testcontainers on the same loopback ports `make infra-up` uses.

Never used on machines without a Docker daemon (there `make test` starts the real services itself);
the daemon is probed with a ping, not by looking for the `docker` command.
"""

from __future__ import annotations

import os
import socket
from typing import Any

PORTS = {"kafka": 9092, "postgres": 55432, "smtp": 3025, "imap": 3143}
CONFIG_VARS = ("OMNI311_KAFKA_BOOTSTRAP", "OMNI311_PG_DSN", "OMNI311_SMTP_HOST", "OMNI311_IMAP_HOST")


def _open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def docker_available() -> bool:
    """True when a Docker daemon answers a ping."""
    try:
        import docker  # installed with testcontainers

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # noqa: BLE001 - no daemon, no socket, no permission: all mean "not available"
        return False


def should_use_containers() -> bool:
    """Only when nothing is configured, nothing listens on our ports, and Docker answers."""
    if any(os.environ.get(v) for v in CONFIG_VARS):
        return False
    if any(_open(p) for p in PORTS.values()):
        return False
    return docker_available()


def start_containers() -> list[Any]:
    """Start the three containers, wait until each accepts connections; returns them for stopping."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    kafka = (
        DockerContainer("apache/kafka:4.1.0")
        .with_bind_ports(9092, PORTS["kafka"])
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", "PLAINTEXT://:9092,CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{PORTS['kafka']}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
        .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR", "1")
        .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    postgres = (
        DockerContainer("postgis/postgis:15-3.4")
        .with_bind_ports(5432, PORTS["postgres"])
        .with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
        .with_env("POSTGRES_DB", "omni311")
    )
    mail = (
        DockerContainer("greenmail/standalone:2.1.8")
        .with_bind_ports(3025, PORTS["smtp"])
        .with_bind_ports(3143, PORTS["imap"])
        .with_env("GREENMAIL_OPTS", "-Dgreenmail.setup.test.smtp -Dgreenmail.setup.test.imap "
                  "-Dgreenmail.hostname=0.0.0.0 -Dgreenmail.users=city311:secret@omni311.test")
    )
    started = []
    for container, ready in ((kafka, "Kafka Server started"), (postgres, "ready to accept connections"),
                             (mail, "Starting GreenMail")):
        container.start()
        started.append(container)
        wait_for_logs(container, ready, timeout=120)
    return started
