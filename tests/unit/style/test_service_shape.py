"""The shape every service folder shares (docs/architecture.md "One shape for every service"): the four
layers and the files every service has, SQL and database calls only in `adapters/`, a `domain/` that
does no I/O, handlers that see a unit of work and never a pool, routes in `entrypoints/` and not in a
short bootstrap, and ports only in the one table. Each rule has a test that shows it catches a
violation."""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = sorted(p.parent for p in REPO.glob("services/*/__init__.py"))
SERVICE_IDS = [p.name for p in SERVICES]

# --- I/O stays in adapters/ (and migrations/) -----------------------------------------------------------

SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+(\.\w+)?\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(TABLE|INDEX)|pg_advisory|pg_notify|ON\s+CONFLICT)\b", re.DOTALL)
"""SQL as we write it: keywords in capitals, so prose such as "select the category from" is not SQL."""
DB_METHODS = frozenset({"fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table",
                        "copy_to_table", "transaction", "acquire", "add_listener"})
DB_RECEIVERS = re.compile(r"(^|_)(conn|connection|pool|db|tx|cursor)$")


def sql_problems(source: str) -> list[str]:
    """SQL text, asyncpg imports and database calls in `source` (a module outside adapters/)."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.level:
                continue
            problems += [f"line {node.lineno}: imports {n}" for n in names if n.split(".")[0] == "asyncpg"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            problems.append(f"line {node.lineno}: SQL {node.value.strip()[:40]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DB_METHODS:
            receiver = node.func.value
            name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
            if DB_RECEIVERS.search(name):
                problems.append(f"line {node.lineno}: {name}.{node.func.attr}(...)")
    return sorted(problems, key=lambda p: int(p.split(":")[0].split()[1]))


def outside_adapters(service: Path) -> list[Path]:
    return sorted(p for p in service.rglob("*.py")
                  if not {"adapters", "migrations"} & set(p.relative_to(service).parts))


@pytest.mark.parametrize("service", SERVICES, ids=SERVICE_IDS)
def test_sql_and_database_calls_stay_in_adapters(service: Path) -> None:
    found = {str(p.relative_to(REPO)): sql_problems(p.read_text("utf-8")) for p in outside_adapters(service)}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_sql_check_catches_sql_text_asyncpg_and_database_calls() -> None:
    source = textwrap.dedent('''
        import asyncpg
        from asyncpg.pool import Pool
        Q = "SELECT case_id FROM cases WHERE status = $1"
        async def h(conn, deps):
            await conn.fetchrow("SELECT 1")
            await deps.pool.fetch(Q)
            async with deps.pool.acquire() as c, c.transaction():
                await c.execute("UPDATE cases SET status = 'closed'")
            await publisher.execute(job)   # not a database receiver
            text = "select the category from the list"  # prose, not SQL
    ''')
    assert sql_problems(source) == [
        "line 2: imports asyncpg", "line 3: imports asyncpg.pool",
        "line 4: SQL 'SELECT case_id FROM cases WHERE status ='",
        "line 6: conn.fetchrow(...)", "line 7: pool.fetch(...)", "line 8: pool.acquire(...)",
        "line 9: SQL \"UPDATE cases SET status = 'closed'\"",
    ]


# --- the domain imports nothing that does I/O ------------------------------------------------------------

IO_MODULES = frozenset({
    "asyncpg", "aiokafka", "faststream", "httpx", "aiosmtplib", "aioimaplib", "smtplib", "imaplib", "socket",
    "requests", "urllib3", "mastodon", "twilio.rest", "twilio.http", "subprocess", "uvicorn", "fastapi",
    "urllib.request", "http.client", "shared.db", "shared.kafka", "shared.service", "shared.settings",
})
"""Packages that talk to a database, a broker, a server or the process environment; a domain module
imports none of them, nor any module of a service's adapters/, service_layer/ or entrypoints/."""


def domain_io_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            io = any(".".join(parts[:i]) in IO_MODULES for i in range(1, len(parts) + 1))
            layer = parts[0] == "services" and len(parts) > 2 and parts[2] in {
                "adapters", "service_layer", "entrypoints", "app"}
            if io or layer:
                found.append(f"line {node.lineno}: {name}")
                break
    return found


@pytest.mark.parametrize("service", SERVICES, ids=SERVICE_IDS)
def test_the_domain_imports_nothing_that_does_io(service: Path) -> None:
    found = {str(p.relative_to(REPO)): domain_io_imports(p.read_text("utf-8"))
             for p in sorted((service / "domain").rglob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_domain_check_catches_io_packages_and_outer_layers() -> None:
    source = textwrap.dedent('''
        import re, socket
        from twilio.rest import Client
        from twilio.twiml.messaging_response import MessagingResponse   # builds XML: pure
        from shared.db import outbox
        from shared.events import CaseOpened
        from services.case.adapters.repository import CaseRepository
        from services.case.domain.rules import plan_merge
        from shared import kafka
        def later():
            import httpx
    ''')
    assert domain_io_imports(source) == [
        "line 2: socket", "line 3: twilio.rest", "line 5: shared.db",
        "line 7: services.case.adapters.repository", "line 9: shared.kafka", "line 11: httpx",
    ]


# --- one shape for every service -------------------------------------------------------------------------

LAYERS = ("domain", "service_layer", "adapters", "entrypoints")
FILES = ("app.py", "config.py", "README.md", "__main__.py")
APP_MAX_LINES = 80
BOOTSTRAP_MAX_LINES = 40


def shape_problems(service: Path) -> list[str]:
    problems = [f"no {layer}/ package" for layer in LAYERS if not (service / layer / "__init__.py").is_file()]
    problems += [f"no {name}" for name in FILES if not (service / name).is_file()]
    loose = sorted(p.name for p in service.glob("*.py") if p.name not in {"__init__.py", *FILES})
    problems += [f"module outside the layers: {name}" for name in loose]
    app = service / "app.py"
    if app.is_file():
        source = app.read_text("utf-8")
        if ("schema_package=" in source) != any((service / "migrations").glob("*.sql")):
            problems.append("owns a schema without migrations/, or has migrations/ it does not apply")
        if len(source.splitlines()) > APP_MAX_LINES:
            problems.append(f"app.py has {len(source.splitlines())} lines (at most {APP_MAX_LINES})")
        for fn in ast.parse(source).body:
            if isinstance(fn, ast.FunctionDef) and fn.name == "create_app":
                length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
                if length > BOOTSTRAP_MAX_LINES:
                    problems.append(f"create_app has {length} lines (at most {BOOTSTRAP_MAX_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                problems.append(f"app.py defines class {node.name}")
            if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if isinstance(target, ast.Attribute) and target.attr in {
                            "get", "post", "put", "patch", "delete", "exception_handler", "middleware"}:
                        problems.append(f"app.py routes {node.name}: routes belong in entrypoints/")
    port = re.compile(r"(?<!RFC )\b80[89]\d\b")  # RFC 8098 is a standard, not a port
    for p in service.rglob("*.py"):
        if port.search(p.read_text("utf-8")):
            problems.append(f"{p.relative_to(service)} names a port: ports live in shared.settings.SERVICE_PORTS")
    return problems


@pytest.mark.parametrize("service", SERVICES, ids=SERVICE_IDS)
def test_every_service_has_the_same_shape(service: Path) -> None:
    assert shape_problems(service) == []


def test_every_service_has_a_port_in_the_one_port_table() -> None:
    from shared.settings import SERVICE_PORTS

    assert set(SERVICE_PORTS) == set(SERVICE_IDS)
    assert len(set(SERVICE_PORTS.values())) == len(SERVICE_PORTS)


def test_the_shape_check_catches_a_missing_layer_a_long_bootstrap_and_routes_in_app(tmp_path: Path) -> None:
    svc = tmp_path / "svc"
    for layer in ("domain", "service_layer", "adapters"):
        (svc / layer).mkdir(parents=True)
        (svc / layer / "__init__.py").write_text("")
    (svc / "__init__.py").write_text("")
    (svc / "__main__.py").write_text("")
    (svc / "helpers.py").write_text("")
    body = "\n".join(f"    x{i} = {i}" for i in range(45))
    (svc / "app.py").write_text(
        f"def create_app(settings):\n{body}\n    rt = Runtime(settings, 'svc', schema_package='svc')\n"
        "    @rt.app.get('/x')\n    async def x():\n        return 8081\n    return rt.app\n")
    assert shape_problems(svc) == [
        "no entrypoints/ package", "no config.py", "no README.md", "module outside the layers: helpers.py",
        "owns a schema without migrations/, or has migrations/ it does not apply",
        "create_app has 51 lines (at most 40)", "app.py routes x: routes belong in entrypoints/",
        "app.py names a port: ports live in shared.settings.SERVICE_PORTS",
    ]


# --- handlers see a unit of work, never a pool -----------------------------------------------------------


DB_HANDLES = re.compile(r"(^|_)(conn|connection|pool|db)$")
"""Names of database handles (a Mastodon `cursor` or a Kafka offset is no database)."""


def service_layer_problems(source: str) -> list[str]:
    """A pool or a connection named in a service layer (a parameter, an attribute, a variable), or the
    database plumbing imported there: handlers get a unit of work and its repository instead."""
    problems = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("shared.db") or any(a.name == "PgUnitOfWork" for a in node.names):
                problems.append(f"line {node.lineno}: imports {node.module}")
        elif isinstance(node, ast.arg) and DB_HANDLES.search(node.arg):
            problems.append(f"line {node.lineno}: parameter {node.arg}")
        elif isinstance(node, ast.Attribute) and DB_HANDLES.search(node.attr):
            problems.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and DB_HANDLES.search(
                node.target.id):
            problems.append(f"line {node.lineno}: field {node.target.id}")
    return sorted(set(problems), key=lambda p: int(p.split(":")[0].split()[1]))


@pytest.mark.parametrize("service", SERVICES, ids=SERVICE_IDS)
def test_the_service_layer_gets_a_unit_of_work_not_a_pool(service: Path) -> None:
    found = {str(p.relative_to(REPO)): service_layer_problems(p.read_text("utf-8"))
             for p in sorted((service / "service_layer").rglob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_service_layer_check_catches_pools_connections_and_plumbing() -> None:
    source = textwrap.dedent('''
        from shared.db.unit_of_work import PgUnitOfWork
        from shared.service_layer import UnitOfWork
        class Deps:
            pool: object
        async def handle(msg, uow: UnitOfWork):
            await uow.repo.add(msg)
        async def old(msg, conn):
            return deps.pool
    ''')
    assert service_layer_problems(source) == [
        "line 2: imports shared.db.unit_of_work", "line 5: field pool", "line 8: parameter conn",
        "line 9: .pool",
    ]
