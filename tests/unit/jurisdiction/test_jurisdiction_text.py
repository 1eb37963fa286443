"""Service-code slugs and text normalisation are stable, accent-insensitive and documented by example."""

from __future__ import annotations

import pytest

from shared.jurisdiction import normalize_text, service_code_for, tokens


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Street Sign - Dangling", "street-sign-dangling"),
        ("HEAT/HOT WATER", "heat-hot-water"),
        ("Sidewalk Repair (Make Safe)", "sidewalk-repair-make-safe"),
        ("Missed Trash/Recycling/Yard Waste/Bulk Item", "missed-trash-recycling-yard-waste-bulk-item"),
        ("DCA / DOH New License Application Request", "dca-doh-new-license-application-request"),
        ("Heat - Excessive  Insufficient", "heat-excessive-insufficient"),
        ("Parks & Recreation", "parks-and-recreation"),
        ("Déneigement – trottoir", "deneigement-trottoir"),
        ("  Nœud  ", "noeud"),
    ],
)
def test_service_code_slug_examples(name: str, code: str) -> None:
    assert service_code_for(name) == code


def test_service_code_is_idempotent_on_its_own_output() -> None:
    code = service_code_for("Street Light Condition")
    assert service_code_for(code) == code


def test_service_code_refuses_a_name_without_letters() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        service_code_for(" - / ")


def test_normalisation_folds_accents_case_and_punctuation() -> None:
    assert normalize_text("Nid-de-poule À l'angle!") == "nid de poule a l angle"
    assert normalize_text("Â\xa0Closed") == "a closed"  # the NYC export's double-encoded NBSP


def test_tokens_drop_stopwords_digits_and_plural_s() -> None:
    assert tokens("Il y a des nids-de-poule sur la 3e avenue, 12 trous") == ["nid", "poule", "3e", "avenue", "trou"]
    assert tokens("The street lights are OUT") == ["street", "light", "out"]
