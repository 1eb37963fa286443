"""`python -m shared.media`: print `MEDIA_TABLE_SQL`, the migration a service adds as its own
`migrations/<NNN>_media.sql` (verbatim; tests/unit/media checks every copy)."""

from __future__ import annotations

import sys


def main() -> int:
    """Write the migration to standard output."""
    from shared.media.store import MEDIA_TABLE_SQL

    sys.stdout.write(MEDIA_TABLE_SQL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
