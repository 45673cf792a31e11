"""Names next to Slack ids in audit answers (audit.people): labels and their fallbacks."""

from __future__ import annotations

from cloud_access_bot.audit.export import Row
from cloud_access_bot.audit.people import label, named
from cloud_access_bot.domain.people import Person


def person(**fields: object) -> Person:
    values: dict[str, object] = {
        "user_id": "U123",
        "email": "alice@acme.com",
        "guest": False,
        "deactivated": False,
        "name": "Alice Example",
    }
    return Person(**(values | fields))  # type: ignore[arg-type]


def test_a_label_has_name_email_and_id_and_marks_a_deactivated_person() -> None:
    assert label(person()) == "Alice Example <alice@acme.com> (U123)"
    assert label(person(deactivated=True)) == "Alice Example <alice@acme.com> (U123, deactivated)"
    assert label(person(name=None)) == "<alice@acme.com> (U123)"
    assert label(person(name=None, email=None)) == "U123"


def test_only_person_columns_are_named_and_unknown_ids_stay_bare() -> None:
    rows: list[Row] = [{"requester": "U123", "approved_by": ["U123", "U999"], "reason": "U123"}]

    assert named(rows, {"U123": "Alice (U123)"}) == [
        {"requester": "Alice (U123)", "approved_by": ["Alice (U123)", "U999"], "reason": "U123"}
    ]
