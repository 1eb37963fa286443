"""HTML mail bodies to plain text, keeping what a reader sees: paragraphs, line breaks, list items, and
quoted replies (``<blockquote>``) as ``> `` lines so that reply stripping treats both kinds of mail alike."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree

_BLOCK = frozenset({"p", "div", "table", "tr", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
                    "pre", "address", "center", "form", "fieldset", "section", "article", "header", "footer",
                    "aside", "nav", "main", "figure", "figcaption", "hr", "body", "html", "tbody", "thead"})
_SKIP = frozenset({"head", "title", "style", "script", "noscript", "template", "xml", "object", "iframe", "svg",
                   "meta", "link"})
_CELL = frozenset({"td", "th"})
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")


def html_to_text(html: str) -> str:
    """The readable text of an HTML document or fragment; never raises (returns "" for junk).

    Block elements and ``<br>`` become line breaks, ``<li>`` a ``- `` item, ``<hr>`` a rule of
    underscores (Outlook puts one above the quoted original), ``<blockquote>`` lines get ``> ``;
    scripts, styles, comments and conditional Office XML are dropped.
    """
    if not html or not html.strip():
        return ""
    try:
        root = lxml.html.document_fromstring(_XML_DECL.sub("", html, count=1))
    except (etree.ParserError, ValueError, TypeError):
        return _SPACES.sub(" ", re.sub(r"<[^>]*>", " ", html)).strip()
    out: list[str] = []
    _walk(root, out, depth=0, pre=False)
    return _tidy("".join(out))


def _walk(el: etree._Element, out: list[str], depth: int, pre: bool) -> None:
    tag = el.tag.lower() if isinstance(el.tag, str) else None
    if tag is None:  # comment, processing instruction, entity
        _tail(el, out, pre)
        return
    tag = tag.rsplit("}", 1)[-1].split(":")[-1]
    if tag in _SKIP:
        _tail(el, out, pre)
        return
    if tag == "blockquote":
        inner: list[str] = []
        if el.text:
            inner.append(el.text if pre else _SPACES.sub(" ", el.text))
        for child in el:
            _walk(child, inner, depth + 1, pre)
        quoted = _tidy("".join(inner))
        if quoted:
            out.append("\n" + "\n".join("> " + line if line else ">" for line in quoted.split("\n")) + "\n")
        _tail(el, out, pre)
        return
    inner_pre = pre or tag == "pre"
    if tag == "br":
        out.append("\n")
    elif tag == "hr":
        out.append("\n" + "_" * 32 + "\n")
    elif tag == "li":
        _break(out, 1)
        out.append("- ")
    elif tag in _BLOCK:
        _break(out, 1)
    elif tag in _CELL:
        out.append(" ")
    elif tag == "img":
        pass
    if el.text:
        out.append(el.text if inner_pre else _SPACES.sub(" ", el.text))
    for child in el:
        _walk(child, out, depth + 1, inner_pre)
    if tag in {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}:
        _break(out, 2)
    elif tag in _BLOCK or tag == "li":
        _break(out, 1)
    _tail(el, out, pre)


def _break(out: list[str], newlines: int) -> None:
    """End the current line (and leave `newlines - 1` blank lines), unless the text already does."""
    have = 0
    for piece in reversed(out):
        stripped = piece.rstrip(" \t")
        if not stripped:
            continue
        have += len(stripped) - len(stripped.rstrip("\n"))
        if stripped.strip("\n"):
            break
    if out:
        out.append("\n" * max(0, newlines - have))


def _tail(el: etree._Element, out: list[str], pre: bool) -> None:
    if el.tail:
        out.append(el.tail if pre else _SPACES.sub(" ", el.tail))


def _tidy(text: str) -> str:
    lines = [line.strip(" \t\u00a0") for line in text.replace("\r", "").split("\n")]
    tidy: list[str] = []
    blank = 0
    for line in lines:
        if not line:
            blank += 1
            if blank > 1:
                continue
        else:
            blank = 0
        tidy.append(line)
    return "\n".join(tidy).strip("\n")
