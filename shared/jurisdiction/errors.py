"""Errors raised while loading or validating a jurisdiction configuration."""

from __future__ import annotations

__all__ = ["JurisdictionConfigError"]


class JurisdictionConfigError(ValueError):
    """A jurisdiction configuration (YAML or a file it references) is missing, malformed or inconsistent.

    The message names the offending file and key so that a city's configurator can fix it without
    reading the code.
    """
