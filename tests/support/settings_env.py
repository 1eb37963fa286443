"""The environment variables omni311 reads, for the tests that check a deployment's files name only those
(tests/unit/test_compose_names.py, tests/unit/deploy/test_kubernetes_manifests.py): one rule, so the two
cannot disagree on what counts as a known variable."""

from __future__ import annotations

import importlib
import re

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from shared.settings import REPO_ROOT, Settings

SERVICES = sorted(p.parent.name for p in (REPO_ROOT / "services").glob("*/__main__.py"))
"""Every service package (a folder of services/ with a __main__.py)."""

_LITERAL = re.compile(r"""["'](OMNI311_[A-Z0-9_]+)["']""")


def settings_classes() -> list[type[BaseSettings]]:
    """`Settings` and every settings class of a service's config.py (imported: nothing happens at import)."""
    classes: list[type[BaseSettings]] = [Settings]
    for service in SERVICES:
        if (REPO_ROOT / "services" / service / "config.py").is_file():
            module = importlib.import_module(f"services.{service}.config")
            classes += [v for v in vars(module).values()
                        if isinstance(v, type) and issubclass(v, BaseSettings) and v is not BaseSettings
                        and v.__module__ == module.__name__]
    return classes


def env_names(cls: type[BaseSettings], field: str) -> set[str]:
    """The environment variables that set `field` of `cls`, upper case: ``<env_prefix><FIELD>``, or the
    field's alias (each of an `AliasChoices`)."""
    alias = cls.model_fields[field].validation_alias
    if isinstance(alias, str):
        return {alias.upper()}
    if isinstance(alias, AliasChoices):
        return {c.upper() for c in alias.choices if isinstance(c, str)}
    return {f"{cls.model_config.get('env_prefix', '')}{field}".upper()}


def read_directly() -> set[str]:
    """``OMNI311_*`` names the code reads itself (whole string literals in shared/ and services/, e.g.
    `shared.jurisdiction.loader.JURISDICTIONS_ENV`), besides the settings classes."""
    return {m for folder in ("shared", "services") for path in (REPO_ROOT / folder).rglob("*.py")
            for m in _LITERAL.findall(path.read_text(encoding="utf-8"))}


def known_env() -> set[str]:
    """Every environment variable omni311 reads: the settings classes' and `read_directly`."""
    return {n for cls in settings_classes() for f in cls.model_fields for n in env_names(cls, f)} | read_directly()
