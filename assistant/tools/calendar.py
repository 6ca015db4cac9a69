"""Calendar rules shared by every calculator, written once so that all results count days the same way.

- Month arithmetic: ``add_months(d, n)`` keeps the day of month and clamps to the month's last day
  (31 January + 1 month = 28/29 February).
- A commitment of N months starting on S covers S .. ``term_end(S, N)`` inclusive, i.e. up to the day
  before the N-th monthly anniversary ``add_months(S, N)``.
- Monthly billing periods start on each monthly anniversary of S. ``started_periods(S, E)`` is the number
  of periods that have begun on or before day E (the period containing E counts as started).
- Day counts are inclusive of both ends when a clause says "jusqu'à et y compris" (``inclusive_days``);
  a delay in days is ``(later - earlier).days`` (the due date itself is not a day late).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal


def add_months(d: date, months: int) -> date:
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def term_end(start: date, months: int) -> date:
    """Last day covered by a commitment of `months` months starting on `start`."""
    return add_months(start, months) - timedelta(days=1)


def started_periods(start: date, day: date) -> int:
    """Monthly periods (anchored on `start`) that have begun on or before `day`; 0 if `day` < `start`."""
    if day < start:
        return 0
    n = (day.year - start.year) * 12 + day.month - start.month
    # n may overshoot by one when the day of month is before the anniversary day: step back until exact.
    while add_months(start, n) > day:
        n -= 1
    return n + 1


def whole_months_between(earlier: date, later: date) -> int:
    """Complete months from `earlier` to `later` (0 if `later` is before the first monthly anniversary)."""
    return max(0, started_periods(earlier, later) - 1)


def inclusive_days(first: date, last: date) -> int:
    return (last - first).days + 1


def days_in_month(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


def monthly_anniversary_after(start: date, request: date) -> date:
    """The monthly anniversary of `start` that falls in the month after the request month ("mois M+1")."""
    target = add_months(date(request.year, request.month, 1), 1)
    return date(target.year, target.month, min(start.day, days_in_month(target)))


def pro_rata(fee: Decimal, first: date, last: date) -> Decimal:
    """A monthly fee for the days `first`..`last` inclusive: each day counts 1/(days in its month) of the fee."""
    total, day = Decimal(0), first
    while day <= last:
        total += fee / days_in_month(day)
        day += timedelta(days=1)
    return total
