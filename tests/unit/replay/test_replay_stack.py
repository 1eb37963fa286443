"""The replay finds the jurisdiction and topic prefix as `make run` does (environment first, else the running
stack's, else the file's name), and a missing topic is one line saying what to set (issue 12, kind 9)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.replay.cli import main
from tools.replay.stack import (
    StackTarget,
    city_named_by,
    jurisdiction_for_file,
    missing_topics,
    missing_topics_error,
    other_city_error,
    parse_environ,
    running_stack_env,
    stack_target,
)

NYC = Path("311_records/nyc311_2011_sample_1000.csv")  # only its name counts; nothing is read


@pytest.mark.parametrize(("name", "jurisdiction"), [
    ("nyc311_2011_sample_1000.csv", "nyc"),
    ("boston_311_2024.csv", "boston"),
    ("my_boston_export.csv", "boston"),
    ("requests.json", "demo"),
    ("NYC311.csv", "demo"),  # the shell's `case` is case-sensitive: make run replays it into demo too
])
def test_the_file_name_names_the_jurisdiction_as_make_run_reads_it(name: str, jurisdiction: str) -> None:
    assert jurisdiction_for_file(Path("/data") / name) == jurisdiction


def test_by_hand_beside_no_stack_the_nyc_file_goes_to_nyc_topics() -> None:
    # The README's command with nothing exported: make run's own choice for that file.
    target = stack_target(replay_file=NYC, env={})
    assert (target.jurisdiction, target.topic_prefix) == ("nyc", "nyc.")
    assert "nyc311_2011_sample_1000.csv" in target.jurisdiction_from


def test_by_hand_beside_a_running_stack_its_jurisdiction_and_prefix_are_used() -> None:
    # A stack of another city (make run REPLAY=boston.csv) is running: the replay goes where it listens.
    target = stack_target(replay_file=NYC, env={}, running={"OMNI311_JURISDICTION": "boston",
                                                            "OMNI311_TOPIC_PREFIX": "boston."},
                          running_from="the running stack (var/run/intake_web.pid)")
    assert (target.jurisdiction, target.topic_prefix) == ("boston", "boston.")
    assert target.jurisdiction_from == target.prefix_from == "the running stack (var/run/intake_web.pid)"


def test_the_environment_wins_over_the_running_stack_and_an_empty_prefix_is_kept() -> None:
    running = {"OMNI311_JURISDICTION": "boston", "OMNI311_TOPIC_PREFIX": "boston."}
    target = stack_target(replay_file=NYC, env={"OMNI311_JURISDICTION": "demo", "OMNI311_TOPIC_PREFIX": ""},
                          running=running)
    assert (target.jurisdiction, target.topic_prefix) == ("demo", "")  # ${OMNI311_TOPIC_PREFIX-...}: set, empty
    # jurisdiction chosen here, prefix not: the chosen id's, not the other city's stack's
    target = stack_target(replay_file=NYC, env={"OMNI311_JURISDICTION": "nyc"}, running=running)
    assert (target.jurisdiction, target.topic_prefix, target.prefix_from) == ("nyc", "nyc.", "the jurisdiction id nyc")


def test_the_jurisdiction_argument_wins_and_a_path_is_named_by_its_id() -> None:
    ids = {"/tmp/ville/jurisdiction.yaml": "ville"}
    target = stack_target(replay_file=NYC, env={"OMNI311_JURISDICTION": "boston"},
                          jurisdiction_arg="/tmp/ville/jurisdiction.yaml", id_of=lambda j: ids.get(j, j))
    assert (target.jurisdiction, target.topic_prefix) == ("/tmp/ville/jurisdiction.yaml", "ville.")
    # a stack started with that path keeps its own prefix (e.g. a custom one)
    target = stack_target(replay_file=NYC, env={}, running={"OMNI311_JURISDICTION": "/tmp/ville/jurisdiction.yaml",
                                                            "OMNI311_TOPIC_PREFIX": "ville-test."},
                          jurisdiction_arg="/tmp/ville/jurisdiction.yaml", id_of=lambda j: ids.get(j, j))
    assert target.topic_prefix == "ville-test."


def test_only_the_two_variables_are_read_from_a_process_environment() -> None:
    raw = b"PATH=/usr/bin\0OMNI311_JURISDICTION=boston\0OMNI311_TOPIC_PREFIX=\0OMNI311_PG_DSN=postgresql://x:pw@h/db\0junk\0"
    assert parse_environ(raw) == {"OMNI311_JURISDICTION": "boston", "OMNI311_TOPIC_PREFIX": ""}


def test_the_running_stack_is_read_from_the_first_live_service_pid(tmp_path: Path) -> None:
    (tmp_path / "intake_web.pid").write_text("999999999\n")  # stale: no such process
    (tmp_path / "case.pid").write_text("not a pid")
    (tmp_path / "router.pid").write_text("4242\n")
    environs = {Path("/proc/4242/environ"): b"OMNI311_JURISDICTION=montreal\0OMNI311_TOPIC_PREFIX=montreal.\0"}

    def read(path: Path) -> bytes:
        if path not in environs:
            raise FileNotFoundError(path)
        return environs[path]

    assert running_stack_env(tmp_path, read=read) == (
        {"OMNI311_JURISDICTION": "montreal", "OMNI311_TOPIC_PREFIX": "montreal."},
        "the running stack (var/run/router.pid)")
    assert running_stack_env(tmp_path / "nothing", read=read) is None


@pytest.fixture
def boston_service(tmp_path: Path) -> Iterator[Path]:
    """A process started as `make run` starts a service of a Boston stack (its pid in var/run/<service>.pid)."""
    env = {"OMNI311_JURISDICTION": "boston", "OMNI311_TOPIC_PREFIX": "boston.", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)
    try:
        (tmp_path / "intake_web.pid").write_text(f"{proc.pid}\n")
        yield tmp_path
    finally:
        proc.kill()
        proc.wait()


def test_a_live_process_of_another_citys_stack_is_found_through_proc(boston_service: Path) -> None:
    found = running_stack_env(boston_service)
    assert found == ({"OMNI311_JURISDICTION": "boston", "OMNI311_TOPIC_PREFIX": "boston."},
                     "the running stack (var/run/intake_web.pid)")


def test_a_missing_topic_is_one_line_saying_what_to_set() -> None:
    target = StackTarget("nyc", "nyc.", "the file name nyc311.csv", "the jurisdiction id nyc")
    existing = ["boston.cases.lifecycle", "boston.notifications.outcomes", "boston.dedup.decisions",
                "cases.lifecycle", "nyc.cases.lifecycle"]

    missing = missing_topics(target, existing)
    line = missing_topics_error(target, missing, "127.0.0.1:9092", existing)

    assert missing == ["nyc.notifications.outcomes", "nyc.dedup.decisions"]
    assert "\n" not in line and "OMNI311_TOPIC_PREFIX" in line and "127.0.0.1:9092" in line
    assert "under prefix '', 'nyc.', 'boston.'" in line
    assert missing_topics(target, [f"nyc.{t}" for t in ("cases.lifecycle", "notifications.outcomes",
                                                          "dedup.decisions")]) == []
    assert "no cases.lifecycle topic" in missing_topics_error(target, missing, "k:9092", [])


def test_the_command_stops_with_that_line_before_sending_anything(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    from tools.replay import cli

    async def no_topics(settings: object, target: StackTarget) -> str:
        return missing_topics_error(target, missing_topics(target, []), "127.0.0.1:9092", [])

    async def never(*args: object, **kwargs: object) -> dict[str, object]:
        raise AssertionError("the replay must not start")

    monkeypatch.setattr(cli, "topics_missing", no_topics)
    monkeypatch.setattr(cli, "replay", never)
    monkeypatch.setattr(cli, "running_stack_env", lambda run_dir: None)
    monkeypatch.delenv("OMNI311_JURISDICTION", raising=False)
    monkeypatch.delenv("OMNI311_TOPIC_PREFIX", raising=False)
    demo = Path(cli.REPO_ROOT / "jurisdictions" / "demo" / "replay" / "requests.json")

    assert main([str(demo), "--report", str(tmp_path / "r.json"), "--no-progress"]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "jurisdiction demo (from the file name requests.json), topic prefix 'demo.' (from the jurisdiction id demo)"
    assert err[1].startswith("omni311-replay: topic demo.cases.lifecycle, ") and len(err) == 2


@pytest.mark.parametrize("args", [["--concurrency", "0"], ["--concurrency", "-3"], ["--limit", "0"], ["--limit", "-5"],
                                  ["--settle-timeout", "-1"], ["--quiet", "nan"], ["--settle-timeout", "inf"]])
def test_odd_numbers_on_the_command_line_are_refused_before_anything_starts(
        args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # --concurrency 0 made a semaphore nobody could take (the replay hung for ever); --limit 0 replayed every
    # record and --limit -5 all but the last five; a negative or NaN wait never settled or never waited.
    from tools.replay import cli

    async def never(*a: object, **kw: object) -> object:
        raise AssertionError("nothing may start")

    monkeypatch.setattr(cli, "topics_missing", never)
    monkeypatch.setattr(cli, "replay", never)
    monkeypatch.setattr(cli, "running_stack_env", lambda run_dir: None)
    demo = Path(cli.REPO_ROOT / "jurisdictions" / "demo" / "replay" / "requests.json")

    with pytest.raises(SystemExit) as stopped:
        main([str(demo), "--report", str(tmp_path / "r.json"), "--no-progress", *args])

    assert stopped.value.code == 2
    assert args[0] in capsys.readouterr().err


BOSTON = Path("311_records/qsv_boston311-100.csv")  # only its name counts


def test_a_city_file_beside_another_citys_running_stack_is_refused_in_one_line() -> None:
    # Boston's file beside a running demo stack: every record would be refused there (issue 12, README walk).
    running_from = "the running stack (var/run/intake_web.pid)"
    running = {"OMNI311_JURISDICTION": "demo", "OMNI311_TOPIC_PREFIX": "demo."}
    target = stack_target(replay_file=BOSTON, env={}, running=running, running_from=running_from)
    error = other_city_error(target, BOSTON, running_from=running_from)
    assert error is not None and "\n" not in error
    assert error.startswith("omni311-replay: qsv_boston311-100.csv is a boston file (its name) but the running "
                            "stack (var/run/intake_web.pid) serves demo")
    assert "OMNI311_JURISDICTION" in error and "make run REPLAY=" in error
    # chosen on purpose: the environment or --jurisdiction wins, nothing refused
    for chosen in (stack_target(replay_file=BOSTON, env={"OMNI311_JURISDICTION": "demo"}, running=running,
                                running_from=running_from),
                   stack_target(replay_file=BOSTON, env={}, running=running, running_from=running_from,
                                jurisdiction_arg="demo")):
        assert other_city_error(chosen, BOSTON, running_from=running_from) is None
    # the same city, or a file whose name names no city, goes to the running stack as before
    same = stack_target(replay_file=NYC, env={}, running={"OMNI311_JURISDICTION": "nyc"}, running_from=running_from)
    assert other_city_error(same, NYC, running_from=running_from) is None
    plain = stack_target(replay_file=Path("export.csv"), env={}, running=running, running_from=running_from)
    assert other_city_error(plain, Path("export.csv"), running_from=running_from) is None
    assert (city_named_by(BOSTON), city_named_by(NYC), city_named_by("requests.json")) == ("boston", "nyc", None)


def test_the_command_refuses_a_boston_file_beside_a_demo_stack_with_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tools.replay import cli

    async def never(*args: object, **kwargs: object) -> object:
        raise AssertionError("nothing may be asked or sent")

    monkeypatch.setattr(cli, "topics_missing", never)
    monkeypatch.setattr(cli, "replay", never)
    monkeypatch.setattr(cli, "running_stack_env", lambda run_dir: (
        {"OMNI311_JURISDICTION": "demo", "OMNI311_TOPIC_PREFIX": "demo."}, "the running stack (var/run/intake_web.pid)"))
    monkeypatch.delenv("OMNI311_JURISDICTION", raising=False)
    monkeypatch.delenv("OMNI311_TOPIC_PREFIX", raising=False)
    boston = tmp_path / "qsv_boston311-100.csv"  # never read: refused on its name
    assert main([str(boston), "--report", str(tmp_path / "r.json"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a boston file (its name) but the running stack" in err[0]
