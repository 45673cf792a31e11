"""Right-sizing: what an ended grant gave against what its session's calls used (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cloud_access_bot.domain.activity import TrailEvent, by_action, right_sizing

AT = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def calls(*specs: str) -> list[TrailEvent]:
    """``"s3:GetObject"`` a successful call, ``"s3:PutObject!"`` one refused."""
    return [
        TrailEvent(
            at=AT + timedelta(seconds=i),
            source=spec.split(":")[0] + ".amazonaws.com",
            name=spec.split(":")[1].rstrip("!"),
            session="alice@example.com",
            error_code="AccessDenied" if spec.endswith("!") else "",
        )
        for i, spec in enumerate(specs)
    ]


def test_used_two_of_seven_names_the_rest_and_the_smaller_set() -> None:
    s3 = ("s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject")
    granted = (*s3, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan")
    review = right_sizing(
        granted, by_action(calls("s3:GetObject", "s3:GetObject", "dynamodb:Query"))
    )

    assert review.used == ("s3:GetObject", "dynamodb:Query")
    assert review.smaller == ("dynamodb:Query", "s3:GetObject")
    assert review.summary == (
        "used 2 of 7 actions; never used s3:ListBucket, s3:PutObject, s3:DeleteObject, "
        "dynamodb:GetItem, dynamodb:Scan"
    )


def test_a_refused_call_did_not_use_its_action() -> None:
    review = right_sizing(("s3:PutObject",), by_action(calls("s3:PutObject!")))

    assert review.used == () and review.unused == ("s3:PutObject",) and review.smaller == ()
    assert review.summary == "used 0 of 1 actions; never used s3:PutObject"


def test_a_granted_pattern_gives_the_concrete_actions_called() -> None:
    review = right_sizing(
        ("s3:Get*", "s3:PutObject"), by_action(calls("s3:GetObject", "s3:GetObjectTagging"))
    )

    assert review.used == ("s3:Get*",) and review.unused == ("s3:PutObject",)
    assert review.smaller == ("s3:GetObject", "s3:GetObjectTagging")


def test_calls_outside_the_grant_are_not_in_the_smaller_set() -> None:
    review = right_sizing(("s3:GetObject",), by_action(calls("s3:GetObject", "s3:DeleteBucket")))

    assert review.smaller == ("s3:GetObject",)
    assert review.details() == {
        "granted": ["s3:GetObject"],
        "used": ["s3:GetObject"],
        "unused": [],
        "smaller_set": ["s3:GetObject"],
        "summary": "used 1 of 1 actions",
    }
