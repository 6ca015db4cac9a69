"""Property-based checks of the early-termination cost (hypothesis)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # package not installed in the venv

from assistant.tools.calendar import add_months, started_periods, term_end  # noqa: E402
from assistant.tools.registry import CALCULATORS  # noqa: E402

ET = CALCULATORS["early_termination_cost"]
fees = st.decimals(min_value=Decimal("0"), max_value=Decimal("5000"), places=2, allow_nan=False)
starts = st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31))
cases = st.sampled_from([("Proximus", "voip", 8, "business"), ("Proximus", "voip", 2, "business"),
                         ("Crossing Telecom", "virtual pbx", 1, "business"), ("CMI", "internet", 1, "business"),
                         ("LOL", "fibre", 1, "consumer")])


def cost(case, fee, start, months, day):
    op, svc, lines, ctype = case
    return ET.run({"operator": op, "service": svc, "monthly_fee": fee, "start_date": start,
                   "termination_date": day, "commitment_months": months, "lines": lines, "customer_type": ctype})


@settings(max_examples=60, deadline=None)
@given(cases, fees, starts, st.integers(1, 60), st.integers(0, 2000), st.integers(0, 400))
def test_cost_is_a_non_negative_decimal_in_cents_and_monotonic(case, fee, start, months, offset, later):
    day = start + timedelta(days=offset)
    r1, r2 = cost(case, fee, start, months, day), cost(case, fee, start, months, day + timedelta(days=later))
    for r in (r1, r2):
        # a conflicting renewal length gives alternatives: every one obeys the same rules
        amounts = [Decimal(a["amount"]) for a in r.values["alternatives"]] if r.amount is None else [r.amount]
        for a in amounts:
            assert isinstance(a, Decimal) and a >= 0 and a == a.quantize(Decimal("0.01"))
    if r1.amount is not None and r2.amount is not None and case[0] in ("Proximus", "LOL"):
        assert r2.amount <= r1.amount  # no renewal period restarts for these: later never costs more


@settings(max_examples=60, deadline=None)
@given(cases, fees, starts, st.integers(1, 60), st.integers(0, 400))
def test_zero_after_the_term_when_the_contract_runs_on_indefinitely(case, fee, start, months, after):
    if case[0] not in ("Proximus", "LOL"):
        return
    r = cost(case, fee, start, months, term_end(start, months) + timedelta(days=after))
    assert r.amount == 0


@settings(max_examples=100, deadline=None)
@given(starts, st.integers(0, 200), st.integers(0, 3000))
def test_calendar_rules(start, months, offset):
    day = start + timedelta(days=offset)
    assert add_months(start, months) > start or months == 0
    k = started_periods(start, day)
    assert add_months(start, k - 1) <= day < add_months(start, k)
    assert term_end(start, months + 1) >= term_end(start, months)


@settings(max_examples=40, deadline=None)
@given(fees, starts, st.integers(2, 60), st.integers(0, 1500))
def test_cost_equals_fee_times_remaining_months(fee, start, months, offset):
    day = min(start + timedelta(days=offset), term_end(start, months))
    r = cost(("Proximus", "voip", 8, "business"), fee, start, months, day)
    remaining = r.values["remaining_months"]
    assert 0 <= remaining <= months and r.amount == (fee * remaining).quantize(Decimal("0.01"))
