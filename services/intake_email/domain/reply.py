"""The new text of a reply: quoted originals, attributions, client header blocks and signatures removed.

Line based, in the spirit of github/email_reply_parser, extended to French attributions and to the
quoting styles of Outlook and Lotus Notes, which put the original below a header block with no ``>``.
Forwarded content (``---------- Forwarded message ----------``, "Begin forwarded message:") is the
substance of a forward and is kept.
"""

from __future__ import annotations

import re

# "On Tue, 1 Mar 2011 at 18:02, Jane <j@x> wrote:", possibly wrapped over two lines by the client;
# French "Le 3 mars 2024 à 10:02, Jeanne a écrit :"; and the other languages residents' clients use.
_ATTRIBUTION_END = re.compile(
    r"(\bwrote|\ba\s+[ée]crit|\bschrieb|\bescribi[óo]|\bha\s+scritto|\bschreef|\bskrev|\bescreveu|\bnapisa[łl]"
    r"|\bkirjoitti|\bnapsal\(a\))\s*:\s*$", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(r"^(on|le|am|el|il|op|den|em|dnia|w\s+dniu|dne)\b", re.IGNORECASE)
_ATTRIBUTION_ONE_LINE = re.compile(r".{0,300}<[^<>\s]+@[^<>\s]+>\s*(wrote|a\s+[ée]crit)\s*:\s*$", re.IGNORECASE)

# Outlook/Exchange header block over the original: From/De/Von then Sent/Date/To/Subject lines.
_HEADER_FIRST = re.compile(r"^[\s>*]*(from|de|von|van|da|od|fra|från)\s*\*?\s*:\s*\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^[\s>*]*(sent|date|to|subject|cc|envoy[ée]|[àa]|objet|datum|gesendet|an|betreff|enviado|para|asunto"
    r"|inviato|oggetto|verzonden|onderwerp|aan)\s*\*?\s*:", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*-{2,}\s*(original message|message d'origine|message original|ursprüngliche nachricht"
    r"|mensaje original|messaggio originale|oorspronkelijk bericht)\s*-{2,}\s*$", re.IGNORECASE)
_FORWARD_MARKER = re.compile(
    r"^\s*(-{2,}\s*(forwarded message|message transf[ée]r[ée]|weitergeleitete nachricht|mensaje reenviado"
    r"|messaggio inoltrato)\s*-{2,}|begin forwarded message\s*:|d[ée]but du message r[ée]exp[ée]di[ée]\s*:"
    r"|anfang der weitergeleiteten nachricht\s*:)\s*$", re.IGNORECASE)
# Lotus Notes puts "Name <addr>" / "Sent by: ..." / date / "Please respond to" over the original.
_LOTUS = re.compile(r"^\s*(sent by\s*:|envoyé par\s*:|please respond to\b|veuillez répondre à\b)", re.IGNORECASE)
_RULE = re.compile(r"^\s*([_]{10,}|-{10,}|[*]{10,})\s*$")
_UNDERSCORES = re.compile(r"^\s*_{10,}\s*$")
_SIG_DELIMITER = re.compile(r"^--\s*$")
_DASH_NAME = re.compile(r"^-{1,2}[^\s\-][^\n]{0,40}$")
_MOBILE_SIGNATURE = re.compile(
    r"^\s*(sent from my\b|sent from (mail|outlook|yahoo mail)\b|get outlook for\b|envoy[ée] de mon\b"
    r"|envoy[ée] depuis\b|t[ée]l[ée]charger outlook\b|von meinem\b.*gesendet)", re.IGNORECASE)
_FOOTER_MAX_LINES = 8


def new_text(body: str, *, forward: bool = False) -> str:
    """The text the sender wrote in this message, without what they quoted or signed.

    Removes, in order: everything below a client's quote header (Outlook ``From:/Sent:/To:/Subject:``
    blocks and the rule above them, ``-----Original Message-----``, Lotus ``Sent by:``/``Please
    respond to`` blocks, an attribution such as "On … wrote:" or "Le … a écrit :" not followed by
    ``>`` lines); every ``>`` quoted line with its attribution, keeping text written between quotes
    (bottom posting); a mailing-list footer below an underscore rule; a ``-- `` signature, a trailing
    one-line ``-Name`` signature and "Sent from my phone" lines. A first line such as "On your remote
    host you can run:" is not an attribution (it does not end in "wrote:"). With `forward` (the subject
    says Fwd/TR), the header blocks are the forwarded content and only quotes and signatures go.
    Returns "" for an empty reply.
    """
    lines = [line.rstrip() for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if not forward:
        lines = lines[:_hard_cut(lines)]
    lines = _drop_quotes(lines)
    lines = _drop_footer(lines)
    lines = _drop_signature(lines)
    return _trim(lines)


def _hard_cut(lines: list[str]) -> int:
    """Index of the first line of the quoted original (len(lines) when there is none)."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if _FORWARD_MARKER.match(line):
            return len(lines)
        if _ORIGINAL_MESSAGE.match(line):
            return _above_rule(lines, i)
        if _HEADER_FIRST.match(line) and _header_block_follows(lines, i):
            return _above_rule(lines, i)
        if _LOTUS.match(line) and i > 0:
            return _lotus_start(lines, i)
        end = _attribution_end(lines, i)
        if end is not None and not _next_is_quote(lines, end + 1):
            return i
    return len(lines)


def _header_block_follows(lines: list[str], i: int) -> bool:
    """At least two header-like lines (Sent/To/Subject/...) within the next few lines."""
    seen = 0
    for line in lines[i + 1:i + 9]:
        if _HEADER_NEXT.match(line):
            seen += 1
            if seen >= 2:
                return True
    return False


def _above_rule(lines: list[str], i: int) -> int:
    """Cut at a rule line just above a header block (Outlook draws one), skipping blank lines."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return j if j >= 0 and _RULE.match(lines[j]) else i


def _lotus_start(lines: list[str], i: int) -> int:
    """The Lotus block starts at the sender line(s) just above "Sent by:"/"Please respond to"."""
    j = i - 1
    while j >= 0 and lines[j].strip() and i - j <= 3:
        j -= 1
    return j + 1


def _attribution_end(lines: list[str], i: int) -> int | None:
    """If an attribution starts at line i, the index of its last line (it may wrap once)."""
    line = lines[i].strip()
    if line.startswith(">"):
        return None
    if _ATTRIBUTION_START.match(line) or _ATTRIBUTION_ONE_LINE.match(line):
        if _ATTRIBUTION_END.search(line):
            return i
        if i + 1 < len(lines) and lines[i + 1].strip() and len(line) + len(lines[i + 1]) < 400 \
                and _ATTRIBUTION_END.search(line + " " + lines[i + 1].strip()):
            return i + 1
    return None


def _next_is_quote(lines: list[str], start: int) -> bool:
    for line in lines[start:]:
        if line.strip():
            return line.lstrip().startswith(">")
    return True  # an attribution at the very end quotes nothing: drop it


def _drop_quotes(lines: list[str]) -> list[str]:
    """Remove ``>`` lines and the attribution just above each quote block; keep text in between."""
    kept: list[str] = []
    i = 0
    while i < len(lines):
        end = _attribution_end(lines, i)
        if end is not None and _next_is_quote(lines, end + 1):
            i = end + 1
            continue
        if lines[i].lstrip().startswith(">"):
            i += 1
            continue
        kept.append(lines[i])
        i += 1
    return kept


def _drop_footer(lines: list[str]) -> list[str]:
    """A mailing-list footer or disclaimer: an underscore rule with only a few lines below it."""
    for i in range(len(lines) - 1, -1, -1):
        if _UNDERSCORES.match(lines[i]):
            below = [line for line in lines[i + 1:] if line.strip()]
            if len(below) <= _FOOTER_MAX_LINES and any(line.strip() for line in lines[:i]):
                return lines[:i]
            break
    return lines


def _drop_signature(lines: list[str]) -> list[str]:
    content = [i for i, line in enumerate(lines) if line.strip()]
    if not content:
        return lines
    first = content[0]
    for i in content:
        if i > first and _SIG_DELIMITER.match(lines[i]):
            lines = lines[:i]
            break
    while True:
        content = [i for i, line in enumerate(lines) if line.strip()]
        if len(content) < 2:
            return lines
        last = content[-1]
        line = lines[last].strip()
        if _MOBILE_SIGNATURE.match(line):
            lines = lines[:last]
            continue
        # "-Abhishek Kona": a lone short dash-name line after a blank line ends the reply
        if _DASH_NAME.match(line) and len(line.split()) <= 4 and not lines[last - 1].strip():
            lines = lines[:last]
            continue
        return lines


def _trim(lines: list[str]) -> str:
    out: list[str] = []
    blank = 0
    for line in lines:
        if line.strip():
            if out and blank:
                out.append("")
            out.append(line)
            blank = 0
        else:
            blank += 1
    return "\n".join(out)
