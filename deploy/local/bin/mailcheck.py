#!/usr/bin/env python3
"""Round-trip check of the local mail server, standard library only.

Sends one message over SMTP to resident@resident.test, then logs in over IMAP as
resident / secret and reads it back (found by a unique Subject). Exit 0 on success.

    python3 deploy/local/bin/mailcheck.py [--host 127.0.0.1] [--smtp-port 3025] [--imap-port 3143]
                                          [--to resident@resident.test] [--user resident] [--password secret]

Defaults also come from OMNI311_SMTP_HOST, OMNI311_SMTP_PORT, OMNI311_IMAP_HOST, OMNI311_IMAP_PORT.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import imaplib
import os
import smtplib
import sys
import time
import uuid
from email.message import EmailMessage


def main(argv: list[str] | None = None) -> int:
    try:
        return check(argv)
    except (OSError, smtplib.SMTPException, imaplib.IMAP4.error) as exc:
        print(f"mailcheck: FAILED, {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def check(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smtp-host", default=os.environ.get("OMNI311_SMTP_HOST", "127.0.0.1"))
    ap.add_argument("--smtp-port", type=int, default=int(os.environ.get("OMNI311_SMTP_PORT", "3025")))
    ap.add_argument("--imap-host", default=os.environ.get("OMNI311_IMAP_HOST", "127.0.0.1"))
    ap.add_argument("--imap-port", type=int, default=int(os.environ.get("OMNI311_IMAP_PORT", "3143")))
    ap.add_argument("--sender", default="city311@omni311.test")
    ap.add_argument("--to", default="resident@resident.test")
    ap.add_argument("--user", default="resident")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)

    token = uuid.uuid4().hex
    subject = f"omni311 mailcheck {token}"
    msg = EmailMessage()
    msg["From"] = args.sender
    msg["To"] = args.to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{token}@omni311.test>"
    msg.set_content(f"Bonjour / hello, token {token}\n")

    with smtplib.SMTP(args.smtp_host, args.smtp_port, timeout=args.timeout) as smtp:
        smtp.send_message(msg)

    deadline = time.monotonic() + args.timeout
    with imaplib.IMAP4(args.imap_host, args.imap_port, timeout=args.timeout) as imap:
        imap.login(args.user, args.password)
        while True:
            imap.select("INBOX")
            typ, data = imap.search(None, "SUBJECT", f'"{subject}"')
            ids = data[0].split() if typ == "OK" and data and data[0] else []
            if ids:
                break
            if time.monotonic() > deadline:
                print(f"mailcheck: FAILED, no message with subject {subject!r} in {args.user}'s INBOX",
                      file=sys.stderr)
                return 1
            time.sleep(0.2)
        typ, fetched = imap.fetch(ids[-1], "(RFC822)")
        raw = next(part[1] for part in fetched if isinstance(part, tuple))
        got = email.message_from_bytes(raw, policy=email.policy.default)
        body = got.get_body(preferencelist=("plain",)).get_content()
        if got["Subject"] != subject or token not in body:
            print("mailcheck: FAILED, message read back does not match", file=sys.stderr)
            return 1
        imap.store(ids[-1], "+FLAGS", r"\Deleted")
        imap.expunge()
        imap.logout()

    print(f"mailcheck: ok (SMTP {args.smtp_host}:{args.smtp_port} -> {args.to}, "
          f"IMAP {args.imap_host}:{args.imap_port} as {args.user})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
