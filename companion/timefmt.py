"""Stored times (ISO 8601, UTC) as a person reads them: local time, in words ("Today, 09:48", "Tue 1 Dec, 18:02")."""

from __future__ import annotations

from datetime import datetime


def now() -> datetime:
    """The local time now; one place, so a test can fix the clock."""
    return datetime.now().astimezone()


def when(stamp: str | None, reference: datetime | None = None) -> str:
    """`stamp` in local time: "Today, 09:48", "Tue 1 Dec, 18:02", "Mon 3 Mar 2025, 08:15".

    Anything that is not an ISO time comes back as it was, so a damaged field is still shown, never raised."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    # To this machine's zone; a time saved without a zone was written by this machine's clock, so it is local already.
    moment = moment.astimezone()
    today = (reference or now()).astimezone().date()
    clock = f"{moment:%H:%M}"
    if moment.date() == today:
        return f"Today, {clock}"
    day = f"{moment:%a} {moment.day} {moment:%b}"
    if moment.year != today.year:
        day += f" {moment.year}"
    return f"{day}, {clock}"
