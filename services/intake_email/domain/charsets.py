"""Turn bytes in a declared (often wrong) charset into text: label repair, fallbacks, mojibake repair.

Mail in the wild labels its bytes badly: typos (``uft-8``), empty labels, junk after the name, labels
Python does not know (``iso-8859-8-i``, ``unicode-1-1-utf-7``, ``ks_c_5601-1987``), iso-8859-1 labels
on windows-1252 bytes, UTF-8 bytes labelled us-ascii, and text that was UTF-8 encoded twice on its
way. Nothing here raises on any input.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer
import ftfy

# WHATWG Encoding Standard aliases plus the mail-specific typos seen in real mail. Browsers decode
# iso-8859-1 and us-ascii labels as windows-1252, which is what Outlook and Windows mailers meant.
_ALIASES: dict[str, str] = {
    "uft-8": "utf-8", "utf8": "utf-8", "utf-8": "utf-8", "unicode-1-1-utf-8": "utf-8", "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7", "x-unicode-2-0-utf-7": "utf-7", "utf7": "utf-7",
    "us-ascii": "windows-1252", "ascii": "windows-1252", "ansi_x3.4-1968": "windows-1252",
    "iso-8859-1": "windows-1252", "iso8859-1": "windows-1252", "iso_8859-1": "windows-1252", "latin1": "windows-1252",
    "latin-1": "windows-1252", "l1": "windows-1252", "cp819": "windows-1252", "iso-ir-100": "windows-1252",
    "x-user-defined": "windows-1252", "unknown-8bit": "windows-1252", "x-unknown": "windows-1252",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "iso-8859-6-e": "iso-8859-6",
    "iso-8859-8-e": "iso-8859-8", "logical": "iso-8859-8", "visual": "iso-8859-8",
    "iso-8859-9": "windows-1254", "latin5": "windows-1254", "iso-8859-11": "windows-874", "tis-620": "windows-874",
    "ks_c_5601-1987": "cp949", "ks_c_5601": "cp949", "ksc5601": "cp949", "euc-kr": "cp949", "korean": "cp949",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cn-gb": "gb18030", "chinese": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932",
    "windows-31j": "cp932", "big5": "big5hkscs", "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}

# Single-byte Western guesses of charset-normalizer that are no better than windows-1252 for our mail.
_WESTERN_GUESSES = frozenset({"cp1250", "cp1252", "latin_1", "iso8859_15", "iso8859_2", "cp1254", "mac_roman",
                              "iso8859_9", "iso8859_10", "iso8859_14", "iso8859_16", "cp850", "cp437", "ascii"})
# Encodings that only use 7-bit bytes: "pure ASCII" input is not plain text in these.
_SEVEN_BIT = frozenset({"utf-7", "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_ext",
                        "iso2022_kr", "hz"})
_MOJIBAKE_HINT = re.compile("[\u00c2\u00c3\u00c5\u00d0\u00d1\u00e2][\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178"
                            "\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030"
                            "\u2039\u203a\u20ac\u2122]")


def normalise_charset(label: str | None) -> str | None:
    """The Python codec name for a MIME charset label, or None when the label is empty or unknown.

    Tolerates quotes, case, junk after the name (``utf-8; format=flowed``, ``utf-8"junk``) and the
    aliases and typos in `_ALIASES`; iso-8859-1 and us-ascii labels map to windows-1252 (WHATWG).
    """
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    name = re.split(r"[\s;,\"'()]", name, maxsplit=1)[0] if name else ""
    name = name.replace("_", "-") if name.startswith(("iso_", "utf_", "windows_")) else name
    if not name:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        if name.startswith("x-") or name.startswith("cs"):
            return normalise_charset(name[2:])
        return None
    return info.name if _is_text_codec(info) else None


def _is_text_codec(info: codecs.CodecInfo) -> bool:
    # bytes-to-bytes codecs (base64, zlib, rot13...) are not charsets, whatever a header says
    return getattr(info, "_is_text_encoding", True)


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Decode `data` labelled `declared` (a MIME charset label, possibly wrong or empty); never raises.

    Order: the declared charset (repaired) strictly; for unlabelled or Latin-labelled data, UTF-8
    first (UTF-8 that is not meant as UTF-8 is vanishingly rare); for UTF-8-labelled data with a few
    broken bytes, UTF-8 with replacement characters; otherwise a charset guess, then windows-1252.
    The result then goes through mojibake repair (text encoded as UTF-8 twice).
    """
    if not data:
        return ""
    codec = normalise_charset(declared)
    text = _decode(data, codec)
    return repair_mojibake(text)


def _decode(data: bytes, codec: str | None) -> str:
    ascii_only = data.isascii()
    if ascii_only and codec not in _SEVEN_BIT:
        return data.decode("ascii")
    if codec in (None, "cp1252", "latin-1", "iso8859-1") or codec == "ascii":
        # unlabelled, or a Latin-1/ASCII label: UTF-8 first, then the label (or a guess when unlabelled)
        strict = _strict(data, "utf-8")
        if strict is not None:
            return strict
        if codec is None:
            return _guess(data)
        return _strict(data, "cp1252") or data.decode("latin-1")
    if codec is not None:
        strict = _strict(data, codec)
        if strict is not None:
            return strict
    if codec == "utf-8":
        replaced = data.decode("utf-8", errors="replace")
        broken = replaced.count("\ufffd")
        valid = sum(1 for ch in replaced if ord(ch) > 127) - broken
        if valid >= broken:  # mostly UTF-8 with a few broken bytes, not another charset
            return replaced
        return _strict(data, "cp1252") or data.decode("latin-1")
    strict = _strict(data, "utf-8")
    if strict is not None:
        return strict
    return _guess(data, fallback=codec)


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError, ValueError, TypeError):
        return None


def _guess(data: bytes, fallback: str | None = None) -> str:
    best = None
    # a guess on a handful of bytes is noise (four cp1252 bytes "look" Chinese): too short, no guess
    if sum(1 for b in data if b > 127) >= 8:
        try:
            best = charset_normalizer.from_bytes(data[:65536]).best()
        except Exception:  # noqa: BLE001 - a detector bug must not lose the message
            best = None
    if best is not None and best.encoding not in _WESTERN_GUESSES:
        text = _strict(data, best.encoding)
        if text is not None:
            return text
    if fallback:
        try:
            return data.decode(fallback, errors="replace")
        except (LookupError, ValueError, TypeError):
            pass
    return _strict(data, "cp1252") or data.decode("latin-1")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as windows-1252/latin-1 (once or several times), e.g. ``CafÃ©`` → ``Café``.

    Only touches text that shows the typical two-character patterns; ftfy decides whether a fix is
    safe (it leaves real text such as ``Câmara`` alone).
    """
    if not text or not _MOJIBAKE_HINT.search(text):
        return text
    try:
        return ftfy.fix_encoding(text)
    except Exception:  # noqa: BLE001 - repair is best effort
        return text
