"""``python -m tools.fakes twilio|graph|mastodon``: serve one fake on its port (`tools.fakes.PORTS`) until
SIGTERM; ``python -m tools.fakes env``: the ``export OMNI311_...=...`` lines of the development channel
settings (`tools.fakes.devenv`), only for variables not already set, for ``eval`` in run.sh.

Both read the development secrets (made once under ``var/dev-channels/``) and refuse, exit status 2,
with ``OMNI311_ENVIRONMENT=production``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from tools.fakes import PORTS, fake_url
from tools.fakes.devenv import ProductionRefused, effective_env


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status (2: refused in production or a bad argument)."""
    parser = argparse.ArgumentParser(prog="python -m tools.fakes", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=[*PORTS, "env"])
    args = parser.parse_args(argv)
    try:
        env = effective_env(os.environ)
    except ProductionRefused as exc:
        print(f"tools.fakes: {exc}", file=sys.stderr)
        return 2
    if args.what == "env":
        for key, value in env.items():
            if not os.environ.get(key):
                print(f"export {key}={shlex.quote(value)}")
        return 0
    import uvicorn

    if args.what == "twilio":
        from tools.fakes import twilio

        app = twilio.create_app(env["OMNI311_TWILIO_ACCOUNT_SID"], env["OMNI311_TWILIO_AUTH_TOKEN"])
    elif args.what == "graph":
        from tools.fakes import graph

        app = graph.create_app(env["OMNI311_META_ACCESS_TOKEN"], fake_url("graph"))
    else:
        from tools.fakes import mastodon

        app = mastodon.create_app(env["OMNI311_MASTODON_ACCESS_TOKEN"], fake_url("mastodon"))
    uvicorn.run(app, host="127.0.0.1", port=PORTS[args.what], log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
