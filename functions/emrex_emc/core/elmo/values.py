"""Typed values from ELMO element texts, and the notices a read collects.

The reader is lenient: an odd value becomes ``None`` plus a :class:`Notice`, never an exception.
Notices never contain personal data (no names, dates or identifiers, only where the problem is).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from emrex_emc.core.countries import country_code
from emrex_emc.core.errors import Notice

MAX_NOTICES_PER_CODE = 20
"""A hostile document can make one notice per element; beyond this many per code only a count is kept."""

_DATE_PREFIX = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})")


class Notices:
    """The notices of one read, in the order they arose: each (code, message) once, at most
    :data:`MAX_NOTICES_PER_CODE` per code, then one line saying how many more were left out."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], Notice] = {}
        self._per_code: dict[str, int] = {}

    def add(self, code: str, message: str) -> None:
        if (code, message) in self._kept:
            return
        count = self._per_code.get(code, 0) + 1
        self._per_code[code] = count
        if count <= MAX_NOTICES_PER_CODE:
            self._kept[(code, message)] = Notice(code, message)

    def collected(self) -> tuple[Notice, ...]:
        result = list(self._kept.values())
        for code, count in self._per_code.items():
            if count > MAX_NOTICES_PER_CODE:
                result.append(Notice(code, f"{count - MAX_NOTICES_PER_CODE} more {code} notices were left out"))
        return tuple(result)


class Values:
    """Dates, date-times, decimals and countries from texts (as :meth:`Elements.scan` gives them).

    ``name`` and ``where`` say where the text was (``learningOpportunityInstance`` / ``date``) for the
    notice an invalid value gets; the value itself is never put into a notice.
    """

    def __init__(self, notices: Notices) -> None:
        self._notices = notices
        # valid texts already parsed: a transcript repeats the same few dates and credit values
        self._dates: dict[str, date] = {}
        self._decimals: dict[str, Decimal] = {}

    def as_date(self, raw: str | None, name: str, where: str) -> date | None:
        """An xs:date; a timezone or time part is stripped (``2009-09-25+02:00`` -> 2009-09-25)."""
        if raw is None:
            return None
        known = self._dates.get(raw)
        if known is not None:
            return known
        match = _DATE_PREFIX.match(raw)
        if match:
            try:
                parsed = self._dates[raw] = date.fromisoformat(match.group(1))
                return parsed
            except ValueError:
                pass
        self._notices.add("VALUE_INVALID", f"{where}/{name} is not a valid date; it was left out")
        return None

    def as_date_time(self, raw: str | None, name: str, where: str) -> datetime | date | None:
        """An xs:dateTime, or an xs:date; an invalid date-time keeps its date part (with a notice)."""
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw) if "T" in raw else date.fromisoformat(raw)
        except ValueError:
            pass
        parsed = self.as_date(raw, name, where)
        if parsed is not None:
            self._notices.add("VALUE_INVALID", f"{where}/{name} is not a valid date-time; only its date was kept")
        return parsed

    def as_decimal(self, raw: str | None, name: str, where: str) -> Decimal | None:
        """A decimal written with ``.`` or ``,`` (``7,5`` -> 7.5)."""
        if raw is None:
            return None
        known = self._decimals.get(raw)
        if known is not None:
            return known
        try:
            value = Decimal(raw.replace(",", ".").replace(" ", ""))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            self._notices.add("VALUE_INVALID", f"{where}/{name} is not a decimal number; it was left out")
            return None
        self._decimals[raw] = value
        return value

    def as_country(self, raw: str | None, name: str, where: str) -> str | None:
        """ISO 3166-1 alpha-2 of a country code or EU country URI (see :func:`country_code`)."""
        if raw is None:
            return None
        code = country_code(raw)
        if code is None:
            self._notices.add(
                "COUNTRY_UNKNOWN",
                f"{where}/{name} is neither an ISO 3166 country code nor an EU country URI; it was left out",
            )
        return code
