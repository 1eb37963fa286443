#!/usr/bin/env bash
# Headless browser for the agent-console end-to-end test: Debian's Chromium driven by Playwright for Python.
#
#   deploy/local/bin/browser.sh install   apt-get install chromium if missing; pip install playwright into
#                                          the venv ($PYTHON, default .venv/bin/python) if it has a venv
#   deploy/local/bin/browser.sh check     launch Chromium headless through Playwright and render a page
#
# Playwright's own browser download (`playwright install`) is never used: it needs hosts this machine
# cannot reach. The tests launch /usr/bin/chromium (OMNI311_CHROMIUM overrides) with `executable_path`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-.venv/bin/python}"
CHROMIUM="${OMNI311_CHROMIUM:-/usr/bin/chromium}"
PLAYWRIGHT_SPEC="playwright>=1.45,<2"

log() { echo "browser: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "ERROR: need root (or sudo) to run: $*"; exit 1; fi
}

install() {
  if [ ! -x "$CHROMIUM" ]; then
    log "installing Debian chromium"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  fi
  if [ -x "$PYTHON" ]; then
    if ! "$PYTHON" -c 'import playwright' 2>/dev/null; then
      log "installing $PLAYWRIGHT_SPEC into $(dirname "$(dirname "$PYTHON")")"
      "$PYTHON" -m pip install -q "$PLAYWRIGHT_SPEC"
    fi
  else
    log "no venv at $PYTHON yet: only chromium installed (make venv, then run this again)"
  fi
}

check() {
  "$PYTHON" - "$CHROMIUM" <<'PY'
import asyncio, sys
from playwright.async_api import async_playwright

async def main() -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=sys.argv[1], headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = await browser.new_page()
        await page.set_content("<p id=x>ok</p>")
        print("browser: chromium", browser.version, await page.inner_text("#x"), file=sys.stderr)
        await browser.close()

asyncio.run(main())
PY
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  *) echo "usage: $0 install|check" >&2; exit 2 ;;
esac
