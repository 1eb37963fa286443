"""The one rule for what a signed Meta delivery may hold that no event, PostgreSQL text or jsonb can carry
(`services.intake_social.domain.storable`), used by the webhook and the stores alike."""

from __future__ import annotations

import json
import math

from services.intake_social.domain.storable import storable


def test_nul_and_lone_surrogates_in_strings_and_keys_become_the_replacement_character() -> None:
    parsed = json.loads('{"ty\\u0000pe": ["a\\ud800b", {"k": "\\u0000"}]}')
    assert storable(parsed) == {"ty\ufffdpe": ["a\ufffdb", {"k": "\ufffd"}]}
    assert json.dumps(storable(parsed), ensure_ascii=False).encode("utf-8")  # UTF-8 can now encode it


def test_non_finite_numbers_become_their_text_and_finite_ones_stay() -> None:
    parsed = json.loads('{"lat": NaN, "long": Infinity, "n": 1.5, "i": 3, "b": true, "z": null}')
    assert storable(parsed) == {"lat": "nan", "long": "inf", "n": 1.5, "i": 3, "b": True, "z": None}
    assert storable(-math.inf) == "-inf"


def test_keys_become_text_and_tuples_lists() -> None:
    assert storable({1: ("x\x00",)}) == {"1": ["x\ufffd"]}
