"""The front-end libraries every omni311 web page uses, installed once from npm and served by each web
service itself (never from a CDN): USWDS 3 (`@uswds/uswds`), htmx 2, Leaflet 1.9 and its heat-map plugin
(`leaflet.heat`). `make assets` runs ``npm ci`` here and ``scripts/vendor.mjs`` copies the built files into
``static/vendor/`` (neither that folder nor ``node_modules/`` is committed). The browser tests also take
axe-core and the GeoJSON JSON Schema (`geojson-schema`, the geojson/schema project's files) from here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent
"""This package's folder (``shared/web``)."""
VENDOR_DIR = WEB_DIR / "static" / "vendor"
"""Where ``scripts/vendor.mjs`` copies the libraries; served at ``/static/vendor``."""
NODE_MODULES = WEB_DIR / "node_modules"
"""What ``npm ci`` installed (axe-core and the GeoJSON schema are read from here by tests)."""
FAVICON = VENDOR_DIR / "uswds" / "img" / "favicons" / "favicon.ico"
"""USWDS's favicon, served at ``/favicon.ico`` by the web services."""


class AssetsMissing(RuntimeError):
    """``static/vendor`` has not been built: run ``make assets``."""


def require_vendor() -> None:
    """Raise `AssetsMissing` unless ``make assets`` has copied the libraries into `VENDOR_DIR`."""
    if not (VENDOR_DIR / ".installed").is_file():
        raise AssetsMissing(f"{VENDOR_DIR} is missing: run `make assets` (npm ci in shared/web)")


def mount_vendor(app: FastAPI) -> None:
    """Serve `VENDOR_DIR` at ``/static/vendor`` on `app`. Call it before mounting the service's own
    ``/static`` so that the more specific mount answers first."""
    app.mount("/static/vendor", StaticFiles(directory=VENDOR_DIR, check_dir=False), name="vendor")
