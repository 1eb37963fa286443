"""docker-compose.yml and deploy/docker/Dockerfile name only what exists (issue 12, kind 9): every service of
services/ is started, each under its own name with its own module (`python -m services.<name>`) and port,
every environment variable is one the code reads (a field of `shared.settings.Settings` or of a service's
settings class, by its env prefix or alias, or a name the code reads itself), every host a setting names is
a compose service, and every path (COPY sources, the build's Dockerfile, repo paths mounted as volumes)
is in the repository. Static: no Docker daemon is needed."""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from shared.settings import REPO_ROOT, SERVICE_PORTS
from support import settings_env

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile"
IMAGE = "omni311:local"
SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/__main__.py"))
GENERATED = ("var/",)
"""Repo paths made on the host, never committed (var/dev-issuer: `make venv`); a volume may mount them."""
LOOPBACK = {"127.0.0.1", "localhost", "0.0.0.0", "::1"}


# --- reading the two files -------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def ours(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The compose services that run our image (built from the Dockerfile), by name."""
    return {name: s for name, s in services.items()
            if s.get("image") == IMAGE or (s.get("build") or {}).get("dockerfile") == "deploy/docker/Dockerfile"}


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping (list form ``NAME=value`` or ``NAME`` included)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {k: v for k, _, v in (e.partition("=") for e in env)}
    return dict(env)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line.removesuffix("\\").strip()
        if not line.endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def dockerfile_env(dockerfile: str) -> dict[str, str]:
    """Every ``ENV NAME=value`` (several per instruction) of the Dockerfile."""
    env: dict[str, str] = {}
    for word, rest in instructions(dockerfile):
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def copy_sources(dockerfile: str) -> list[str]:
    """The build-context sources of every COPY (not those copied from another stage, ``--from=``)."""
    sources: list[str] = []
    for word, rest in instructions(dockerfile):
        if word != "COPY":
            continue
        args = shlex.split(rest)
        if any(a.startswith("--from=") for a in args):
            continue
        args = [a for a in args if not a.startswith("--")]
        sources += args[:-1]
    return sources


def final_stage(dockerfile: str) -> str:
    """The text of the last build stage (the image the services run)."""
    return dockerfile[dockerfile.rindex("\nFROM "):]


# --- what exists -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def known_env() -> set[str]:
    return settings_env.known_env()


# --- the tests -------------------------------------------------------------------------------------------


def test_the_helpers_read_what_a_dockerfile_and_compose_say() -> None:
    text = ("FROM a AS b\nCOPY x y ./\n# COPY not/this .\nFROM python\nCOPY --from=b /z ./z\n"
            "COPY --chown=1:1 shared ./shared\nENV A=1 \\\n    OMNI311_B=/app/j\n")
    assert copy_sources(text) == ["x", "y", "shared"]
    assert dockerfile_env(final_stage(text)) == {"A": "1", "OMNI311_B": "/app/j"}
    assert environment({"environment": ["OMNI311_X=1", "OMNI311_Y"]}) == {"OMNI311_X": "1", "OMNI311_Y": ""}


def test_every_service_runs_under_its_own_name_module_and_port() -> None:
    services = compose()["services"]
    started: dict[str, str] = {}
    for name, service in ours(services).items():
        command = service.get("command")
        if command and command[:2] == ["python", "-m"]:
            module = command[2]
            assert re.fullmatch(r"services\.[a-z_]+", module), f"{name}: {command}"
            folder = module.split(".")[1]
            assert (REPO_ROOT / "services" / folder / "__main__.py").is_file(), f"{name}: no module {module}"
            assert name == folder, f"compose service {name} runs {module}: one name for folder and service"
            started[name] = module
            for port in service.get("ports") or []:
                assert str(port).rsplit(":", 1)[-1] == str(SERVICE_PORTS[name]), (
                    f"{name} publishes {port}; it listens on {SERVICE_PORTS[name]} (shared/settings.py)")
    assert sorted(started) == SERVICES, f"not started by docker-compose.yml: {sorted(set(SERVICES) - set(started))}"
    assert set(SERVICE_PORTS) == set(SERVICES)


def test_every_other_command_and_dependency_exists() -> None:
    services = compose()["services"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    for name, service in ours(services).items():
        command = service.get("command") or []
        if command and command[0] not in ("python", "sh"):
            assert command[0] in scripts, f"{name} runs {command[0]}, which pyproject.toml does not install"
    for name, service in services.items():
        for dependency in service.get("depends_on") or {}:
            assert dependency in services, f"{name} depends on {dependency}, which compose does not define"


def test_every_environment_variable_is_one_the_code_reads(known_env: set[str]) -> None:
    unknown = {f"{name}: {var}" for name, service in ours(compose()["services"]).items()
               for var in environment(service) if var.upper() not in known_env}
    unknown |= {f"Dockerfile: {var}" for var in dockerfile_env(final_stage(DOCKERFILE.read_text(encoding="utf-8")))
                if var.startswith("OMNI311_") and var not in known_env}
    assert unknown == set(), "names no settings class (nor the code) reads; a typo is silently ignored"


def test_a_misspelt_variable_would_be_found(known_env: set[str]) -> None:
    assert "OMNI311_CASE_API_URL" in known_env and "OMNI311_CASE_API_URI" not in known_env
    assert "OMNI311_TWILIO_AUTH_TOKEN" in known_env  # intake_sms_voice's prefix and the notifier's field
    assert "OMNI311_SOCIAL_CONVERSATION_WINDOW_S" in known_env  # an alias
    assert "OMNI311_JURISDICTIONS" in known_env  # read by shared.jurisdiction.loader itself


def test_every_host_a_setting_names_is_a_compose_service_on_its_port() -> None:
    services = compose()["services"]
    for name, service in ours(services).items():
        for var, value in environment(service).items():
            if not isinstance(value, str) or "${" in value:
                continue
            if "://" in value:
                parts = urlsplit(value)
                host, port = parts.hostname, parts.port
            elif re.fullmatch(r"[a-z][a-z0-9_-]*:\d+", value):
                host, _, p = value.partition(":")
                port = int(p)
            else:
                continue
            if host is None or host in LOOPBACK or value.startswith("/"):
                continue
            assert host in services, f"{name}: {var}={value} names host {host}, not a compose service"
            if host in SERVICE_PORTS:
                assert port == SERVICE_PORTS[host], f"{name}: {var}={value}; {host} listens on {SERVICE_PORTS[host]}"


def test_every_path_the_dockerfile_and_compose_name_is_in_the_repository() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    ignored = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    for source in copy_sources(dockerfile):
        assert (REPO_ROOT / source).exists(), f"Dockerfile COPY {source}: no such path in the repository"
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f"{source} is in .dockerignore"
    services = compose()["services"]
    for name, service in services.items():
        build = service.get("build") or {}
        if build:
            assert (REPO_ROOT / build.get("context", ".") / build["dockerfile"]).is_file(), f"{name}: {build}"
        for volume in service.get("volumes") or []:
            source = volume.get("source") if isinstance(volume, dict) else volume.split(":", 1)[0]
            if not source or "${" in source or not (source.startswith("./") or source.startswith("deploy/")):
                continue  # a named volume, or a path outside the repository (the shared data)
            path = source.removeprefix("./")
            if path.startswith(GENERATED):
                continue
            assert (REPO_ROOT / path).exists(), f"{name} mounts {source}: no such path in the repository"


def test_the_image_holds_the_jurisdictions_and_says_where() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    stage = final_stage(dockerfile)
    assert "jurisdictions" in copy_sources(stage)
    assert dockerfile_env(stage).get("OMNI311_JURISDICTIONS") == "/app/jurisdictions"
    assert any(word == "WORKDIR" and rest == "/app" for word, rest in instructions(stage))
    assert (REPO_ROOT / "jurisdictions" / "demo" / "jurisdiction.yaml").is_file()
    exposed = {int(p) for word, rest in instructions(stage) if word == "EXPOSE" for p in rest.split()}
    assert exposed == set(SERVICE_PORTS.values())
