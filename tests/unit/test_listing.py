"""What an approver is shown: summaries that hide nothing, and refusals of what cannot be shown."""

from __future__ import annotations

from cloud_access_bot.domain import listing
from cloud_access_bot.domain.model import ServiceAccess


def test_a_summary_names_every_wildcard_as_written() -> None:
    access = ServiceAccess(
        "s3", ("s3:Get*", "s3:ListBucket"), ("arn:aws:s3:::acc-data/reports/*", "*")
    )

    text = listing.summary(access, {"List": 1, "Read": 1})

    assert text.splitlines() == [
        "s3: 2 actions on 2 resources",
        "Access levels: List 1, Read 1",
        "Wildcard actions: s3:Get*",
        "Wildcard resources: arn:aws:s3:::acc-data/reports/*  *",
    ]


def test_sections_keep_every_line_within_the_text_limit() -> None:
    lines = [f"arn:aws:s3:::bucket-{n:04d}" for n in range(1000)]

    pages = listing.sections(lines)

    assert all(len(p) <= listing.TEXT_CHARS for p in pages)
    assert [line for page in pages for line in page.splitlines()] == lines


def test_a_request_too_large_to_show_is_refused_with_how_to_split_it() -> None:
    arns = tuple(f"arn:aws:dynamodb:eu-west-1:111111111111:table/t{n:05d}" for n in range(6000))
    services = (ServiceAccess("dynamodb", ("dynamodb:GetItem",), arns),)

    problem = listing.presentation_problem(services)

    assert problem is not None and "Split it into several requests" in problem
    assert listing.presentation_problem((ServiceAccess("s3", ("s3:GetObject",), ("*",)),)) is None


def test_too_many_wildcard_patterns_for_a_summary_are_refused() -> None:
    patterns = tuple(f"arn:aws:s3:::acc-data/reports/2024-{n:03d}/*" for n in range(80))

    problem = listing.presentation_problem((ServiceAccess("s3", ("s3:GetObject",), patterns),))

    assert problem is not None and problem.startswith("s3: 80 wildcard patterns")
