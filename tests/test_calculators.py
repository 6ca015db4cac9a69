"""Worked examples hand-computed from the clause wording, one or more per rule, plus bad input."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # package not installed in the venv

from assistant.errors import InputError  # noqa: E402
from assistant.models import FactStatus, TaxBasis  # noqa: E402
from assistant.tools.cli import list_calculators, run_calc  # noqa: E402
from assistant.tools.registry import CALCULATORS  # noqa: E402


def run(tool: str, **payload):
    return CALCULATORS[tool].run(payload)


ET = "early_termination_cost"


# ---------------------------------------------------------------- early termination
def test_proximus_more_than_five_numbers_pays_to_term_end():
    # 66: fees up to the end of the period. 24 months from 2024-01-01; Jan-Mar started -> 21 left x 120
    r = run(ET, operator="Proximus", service="voip", monthly_fee="120", start_date="2024-01-01",
            termination_date="2024-03-15", commitment_months=24, lines=8)
    assert r.amount == Decimal("2520.00") and r.tax_basis == TaxBasis.NOT_SUBJECT
    assert any(c.clause_id == "66" for c in r.citations)


def test_proximus_up_to_five_numbers_pays_to_six_months():
    # 66 second indent: only up to the end of the first six months: 6 - 3 started = 3 x 120
    r = run(ET, operator="Proximus", service="voip", monthly_fee="120", start_date="2024-01-01",
            termination_date="2024-03-15", commitment_months=24, lines=3)
    assert r.amount == Decimal("360.00")


def test_six_month_rule_does_not_apply_to_eight_numbers():
    with pytest.raises(InputError) as exc:
        run(ET, operator="Proximus", service="voip", monthly_fee="120", start_date="2024-01-01",
            termination_date="2024-03-15", commitment_months=24, lines=8, case="business_up_to_five_numbers")
    assert exc.value.field == "case" and "8 lines" in exc.value.reason_en and exc.value.reason_fr


def test_proximus_consumer_and_death_owe_no_indemnity():
    base = dict(operator="Proximus", service="voip", monthly_fee="30", start_date="2024-01-01",
                termination_date="2024-03-15", commitment_months=24)
    assert run(ET, **base, customer_type="consumer").amount == 0
    assert run(ET, **base, lines=9, reason="customer_death").amount == 0


def test_a_reason_that_owes_nothing_needs_no_fee_or_dates():
    # the death rule of article 66 owes no indemnity: asking for the monthly fee or the dates would be pointless
    r = run(ET, operator="Proximus", service="voip", reason="customer_death")
    assert r.amount == 0 and any(c.clause_id == "66" for c in r.citations)
    with pytest.raises(InputError) as exc:  # the customer's own request still needs the fee
        run(ET, operator="Proximus", service="voip", start_date="2024-01-01", termination_date="2024-03-15")
    assert exc.value.field == "monthly_fee"


def test_months_left_need_no_term_length_even_when_the_terms_leave_it_open():
    # LOL writes the minimum term on each contract; the customer who counted 7 months left needs none of it
    r = run(ET, operator="LOL", service="internet", monthly_fee="39.90", remaining_months=7)
    assert r.amount == Decimal("279.30")


def test_a_rule_counting_the_first_months_needs_no_contract_length():
    # Proximus 66, at most five numbers: fees up to the end of the first six months, whatever the length;
    # 4 numbers x 25 EUR, 01/01/2025 -> 01/03/2025: March to June = 4 months x 100 EUR
    r = run(ET, operator="Proximus", service="voip", monthly_fee="25", monthly_fee_per_line=True, lines=4,
            start_date="2025-01-01", termination_date="2025-03-01", customer_type="business")
    assert r.amount == Decimal("400.00") and any("6" in w for w in r.warnings)
    with pytest.raises(InputError) as exc:  # more than five numbers: the end of the period needs the length
        run(ET, operator="Proximus", service="voip", monthly_fee="25", lines=8, start_date="2025-01-01",
            termination_date="2025-03-01", customer_type="business")
    assert exc.value.field == "commitment_months"


def test_crossing_renewed_period_runs_to_the_anniversary():
    # 4.2.2 12 months, 11.3.2.2 renewed 12 months: 2025-01-01..2025-12-31; Jan+Feb started -> 10 x 50
    r = run(ET, operator="CT", service="VoIP", monthly_fee="50", start_date="2024-01-01",
            termination_date="2025-02-10")
    assert r.amount == Decimal("500.00") and r.values["remaining_months"] == 10
    assert {c.clause_id for c in r.citations} >= {"11.4", "4.2.2"}


def test_crossing_xdsl_started_month_due_is_cited():
    r = run(ET, operator="Crossing Telecom", service="fibre", monthly_fee="40", start_date="2024-01-01",
            termination_date="2024-10-15")
    assert r.amount == Decimal("80.00")  # Oct started (due in full, billed normally), Nov + Dec remain
    assert any(c.clause_id == "11.3.1.4" for c in r.citations)


def test_lol_needs_the_contract_term_and_then_counts_remaining_fees():
    with pytest.raises(InputError) as exc:
        run(ET, operator="LOL", service="fibre", monthly_fee="40", start_date="2024-06-15",
            termination_date="2025-06-14", customer_type="consumer")
    assert exc.value.field == "commitment_months"
    r = run(ET, operator="LOL", service="fibre", monthly_fee="40", start_date="2024-06-15",
            termination_date="2025-06-14", commitment_months=24, customer_type="consumer")
    assert r.amount == Decimal("480.00")  # 12 periods started by 2025-06-14, 12 left


def test_a_request_date_counts_the_fees_from_the_date_the_notice_ends_the_contract():
    # LOL: one month's notice from the request (8A). Sent 2024-10-03 on a 24-month term from 2024-03-03: the
    # contract ends 2024-11-03, the periods from then to 2026-03-02 are owed (16), not those from the request (17)
    base = dict(operator="LOL", service="fibre", monthly_fee="30", start_date="2024-03-03", commitment_months=24,
                customer_type="consumer")
    r = run(ET, **base, request_date="2024-10-03")
    assert r.amount == Decimal("480.00")
    assert r.breakdown[0].value == "2024-11-03"
    assert run(ET, **base, termination_date="2024-10-03").amount == Decimal("510.00")


def test_a_request_before_a_notice_counted_from_the_term_end_is_the_leaving_date():
    # CT fixed line: the notice runs back from the term end, so a request cannot move the date the customer leaves
    base = dict(operator="CT", service="fixe", monthly_fee="20", start_date="2024-01-01", commitment_months=12)
    assert run(ET, **base, request_date="2024-05-01").amount == run(ET, **base, termination_date="2024-05-01").amount


def test_lol_move_abroad_is_not_stated():
    r = run(ET, operator="LOL", service="internet", monthly_fee="40", start_date="2024-06-15",
            termination_date="2025-01-14", commitment_months=24, reason="move_abroad_or_uncovered_area")
    assert r.status == FactStatus.NOT_STATED and r.amount is None


def test_cet_conflicting_term_gives_both_alternatives():
    # 11.1: 60 months vs 11.4: 36 months; 13.2 rest of the binding period; 13 periods started
    r = run(ET, operator="CE+T", service="easy2phone", monthly_fee="100", start_date="2023-01-01",
            termination_date="2024-01-15", reason="operator_for_customer_breach")
    assert r.status == FactStatus.CONFLICTING and r.amount is None
    assert sorted(a["amount"] for a in r.values["alternatives"]) == ["2300.00", "4700.00"]
    assert {c.clause_id for c in r.citations} >= {"11.1", "11.4", "13.2"}


def test_cet_customer_break_bills_only_services_supplied():
    r = run(ET, operator="Easy2Phone", service="easy2phone", monthly_fee="100", start_date="2023-01-01",
            termination_date="2024-01-15", commitment_months=60)
    assert r.amount == 0 and r.tax_basis == TaxBasis.HT


def test_cmi_ip_offer_without_commitment_flat_fee_per_line():
    r = run(ET, operator="CMI", service="centrex", monthly_fee="20", start_date="2024-01-01",
            termination_date="2024-05-01", commitment_months=0, lines=4)
    assert r.amount == Decimal("600.00") and r.tax_basis == TaxBasis.HT


def test_cmi_internet_unexpired_fraction():
    r = run(ET, operator="CMI", service="sdsl", monthly_fee="99.90", start_date="2024-01-10",
            termination_date="2024-04-09")  # 24 months (CP internet 3); periods Jan10, Feb10, Mar10 started
    assert r.amount == Decimal("2097.90")  # 21 x 99.90


# ---------------------------------------------------------------- timeline
TL = "termination_timeline"


def test_crossing_fixed_line_notice_30_days_before_term():
    base = dict(operator="CT", service="fixe", start_date="2024-01-01")
    r = run(TL, **base, request_date="2024-05-20")
    assert r.values["last_notice_day"] == "2024-05-31" and r.result_date == "2024-06-30"
    late = run(TL, **base, request_date="2024-06-05")  # too late: renewed 6 months (11.3.2.1)
    assert late.result_date == "2024-12-31" and late.values["next_renewal_date"] == "2024-07-01"


def test_proximus_30_days_from_request():
    r = run(TL, operator="Proximus", service="voip", start_date="2023-05-01", request_date="2025-03-01",
            commitment_months=0)
    assert r.result_date == "2025-03-31"


def test_a_move_abroad_runs_the_notice_of_its_own_rule():
    # LOL 8A: moving abroad, "le Client est soumis à un préavis de 3 mois", from the request; no start date needed
    r = run(TL, operator="LOL", service="internet", request_date="2026-01-10", reason="move_abroad_or_uncovered_area")
    assert r.result_date == "2026-04-10" and [c.clause_id for c in r.citations] == ["8A"]
    # without that reason the ordinary one-month notice applies, and the start date is asked for
    with pytest.raises(InputError) as exc:
        run(TL, operator="LOL", service="internet", request_date="2026-01-10")
    assert exc.value.field == "start_date"


def test_cmi_indefinite_contract_ends_on_anniversary_of_next_month():
    r = run(TL, operator="CMI", service="mobile", start_date="2024-01-15", request_date="2025-03-20",
            commitment_months=0)
    assert r.result_date == "2025-04-15"


def test_cmi_renewal_conflict_is_surfaced():
    r = run(TL, operator="CMI", service="internet", start_date="2024-01-10", request_date="2025-11-15")
    assert r.status == FactStatus.CONFLICTING and r.result_date is None
    assert {a["effective_end_date"] for a in r.values["alternatives"]} == {"2027-01-09", "2028-01-09"}


def test_lol_one_month_notice_warns_about_remaining_fees():
    r = run(TL, operator="LOL", service="internet", start_date="2024-06-15", request_date="2025-01-10",
            commitment_months=24)
    assert r.result_date == "2025-02-10" and r.values["early_termination_fees_apply"] is True
    assert r.values["last_notice_day"] == "2026-05-14"


# ---------------------------------------------------------------- late payment
LP = "late_payment"


def test_cmi_business_12_percent_plus_40_euros():
    # 8.6.1: 1000 x 12% x 60/365 = 19.73 ; + 40 EUR flat recovery indemnity
    r = run(LP, operator="CMI", amount="1000", due_date="2025-01-01", payment_date="2025-03-02")
    assert r.amount == Decimal("59.73")
    r = run(LP, operator="CMI", amount="1000", due_date="2025-01-01", payment_date="2025-03-02",
            legal_interest_rate_percent="5")  # 3 x 5% = 15% > 12%
    assert r.amount == Decimal("64.66")


def test_a_delay_in_days_needs_no_due_date_even_with_a_payment_date():
    # the delay is what counts; a payment date without its due date adds nothing and must not block
    r = run("late_payment", operator="CMI", amount="2000", payment_date="2026-02-01", days_late=45,
            customer_type="business")
    assert r.amount == Decimal("69.59")  # 2000 x 12 % x 45/365 = 29.59, + 40 flat indemnity


def test_cmi_consumer_needs_legal_rate():
    r = run(LP, operator="CMI", amount="100", due_date="2025-01-01", payment_date="2025-01-31",
            customer_type="consumer", legal_interest_rate_percent="4", reminder_date="2025-01-11")
    assert r.amount == Decimal("0.33")  # 1.5 x 4% = 6%; 100 x 6% x 20/365 = 0.329 (runs from the reminder)


def test_cet_one_percent_per_started_month():
    r = run(LP, operator="CE+T", amount="1000", due_date="2025-01-31", payment_date="2025-03-01")
    assert r.breakdown[0].value == "20.00 EUR"  # days late from 02-01: Feb + 1 Mar started = 2 months
    assert r.status == FactStatus.NOT_STATED and r.values["known_subtotal"] == "20.00"  # recovery costs unstated


def test_crossing_reminders_from_the_second():
    r = run(LP, operator="CT", amount="500", due_date="2025-01-01", payment_date="2025-02-01", reminders=3)
    assert r.values["known_subtotal"] == "10.00"  # 5 EUR HT x (3 - 1); no interest rate stated
    assert any(c.clause_id == "8.5.12" for c in r.citations)


# ---------------------------------------------------------------- fees
def test_equipment():
    assert run("equipment_return", operator="CT", days_late=3).amount == Decimal("150.00")
    r = run("equipment_return", operator="CMI", damaged_phones=2, damaged_modems=1)
    assert r.amount == Decimal("150.00") and r.tax_basis == TaxBasis.HT
    with pytest.raises(InputError):
        run("equipment_return", operator="Proximus", days_late=3)


def test_fee_lookup_statuses():
    assert run("fee_lookup", operator="CT", kind="reminder_fee").amount == Decimal("5.00")
    paper = run("fee_lookup", operator="CT", kind="paper_invoice")
    assert paper.status == FactStatus.CONFLICTING and (paper.values["min_total"], paper.values["max_total"]) == ("1.03", "2.00")
    lol = run("fee_lookup", operator="LOL", kind="cancellation_before_activation")
    assert lol.status == FactStatus.NOT_STATED and "liste des prix" in lol.values["fees"][0]["pointer"]
    surcharge = run("fee_lookup", operator="CT", kind="payment_method_surcharge")
    assert surcharge.status == FactStatus.CONFLICTING


def test_porting_cancellation_moving():
    assert run("porting_cost", operator="CMI", cancelled_requests=2).amount == Decimal("500.00")
    assert run("cancellation_cost", operator="CT", services_cancelled=2, signature_date="2025-01-01",
               cancellation_date="2025-01-21").amount == Decimal("500.00")
    assert run("cancellation_cost", operator="CT", signature_date="2025-01-01",
               cancellation_date="2025-01-10").amount == 0
    r = run("moving_cost", operator="LOL", technician=True, activation_date="2025-05-01",
            current_commitment_end="2026-12-31")
    assert r.amount == Decimal("189.00") and r.values["new_commitment_end"] == "2026-12-31"
    fibre = run("moving_cost", operator="LOL", service="fibre", activation_date="2025-05-01")
    assert fibre.status == FactStatus.NOT_STATED and fibre.values["new_commitment_end"] == "2026-04-30"


def test_call_charge_rounding():
    assert run("call_charge", operator="CE+T", duration_seconds=61, price_per_minute="0.10").amount == Decimal("0.11")
    r = run("call_charge", operator="CT", duration_seconds=61, price_per_minute="0.10")
    assert r.amount == Decimal("0.10") and r.status == FactStatus.NOT_STATED


def test_an_outage_without_the_fee_says_what_the_rule_grants_in_its_own_unit():
    # Proximus 35: more than seven days, refunded from the day reported to the day restored: 12 days here
    r = run("outage_refund", operator="Proximus", outage_start="2026-03-10", outage_end="2026-03-21")
    assert r.amount == Decimal("12") and r.unit == "days" and r.status == FactStatus.STATED
    # too short for any refund: nothing is owed, and the fee is not needed to say so
    assert run("outage_refund", operator="Proximus", outage_days=5).amount == 0
    # CMI mobile 6.1.3: two days without service give one month of subscription
    assert run("outage_refund", operator="CMI", service="mobile", outage_days=3).unit == "months"


def test_an_outage_threshold_is_said_in_the_documents_terms():
    # Proximus 35 says "more than seven days": the step compares with 7, not with the 8 it amounts to
    r = run("outage_refund", operator="Proximus", outage_start="2026-03-10", outage_end="2026-03-21")
    assert any("12 > 7 jours consécutifs" in st.formula for st in r.breakdown)
    short = run("outage_refund", operator="Proximus", outage_start="2026-03-10", outage_end="2026-03-16")
    assert any("7 <= 7 jours consécutifs" in st.formula for st in short.breakdown) and short.amount == 0
    # CMI mobile 6.1.3 says "two consecutive days": at least two
    mobile = run("outage_refund", operator="CMI", service="mobile", outage_days=2)
    assert any("2 >= 2 jours consécutifs" in st.formula for st in mobile.breakdown)


def test_an_outage_rule_has_one_threshold():
    from pydantic import ValidationError

    from assistant.tools.rules import OutageRule

    with pytest.raises(ValidationError):
        OutageRule(key="x", method="none", min_days=2, more_than_days=1)


def test_outage_refunds():
    # Proximus 35: > 7 days, reported day to restored day inclusive: 10 days x 31/31
    assert run("outage_refund", operator="Proximus", monthly_fee="31", outage_start="2025-03-01",
               outage_end="2025-03-10").amount == Decimal("10.00")
    assert run("outage_refund", operator="Proximus", monthly_fee="31", outage_start="2025-03-01",
               outage_end="2025-03-07").amount == 0  # 7 days is not more than seven
    assert run("outage_refund", operator="CMI", service="mobile", monthly_fee="30", outage_start="2025-03-01",
               outage_end="2025-03-03").amount == Decimal("30.00")
    assert run("outage_refund", operator="CMI", service="internet", monthly_fee="100", outage_start="2025-03-01",
               outage_end="2025-03-01", restoration_hours="7").amount == Decimal("20.00")
    assert run("outage_refund", operator="CE+T", monthly_fee="100", outage_start="2025-03-01",
               outage_end="2025-03-20").amount == 0


def test_deposit_ceilings():
    assert run("deposit_ceiling", operator="CT", average_monthly_bill="200").amount == Decimal("600.00")
    assert run("deposit_ceiling", operator="CMI", average_monthly_bill="200").amount == Decimal("1200.00")
    assert run("deposit_ceiling", operator="LOL", average_monthly_bill="200").status == FactStatus.NOT_STATED


# ---------------------------------------------------------------- bad input, interfaces
@pytest.mark.parametrize("payload,field", [
    ({"monthly_fee": "-5"}, "monthly_fee"),
    ({"monthly_fee": "999999999"}, "monthly_fee"),
    ({"start_date": "2025-02-30"}, "start_date"),
    ({"termination_date": "2023-01-01"}, "termination_date"),
    ({"operator": "Orange"}, "operator"),
    ({"service": "television"}, "service"),
    ({"lines": 0}, "lines"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_names_the_field(payload, field):
    base = {"operator": "Proximus", "service": "voip", "monthly_fee": "10", "start_date": "2024-01-01",
            "termination_date": "2024-03-01", "commitment_months": 12, "lines": 8}
    with pytest.raises(InputError) as exc:
        CALCULATORS[ET].run(base | payload)
    assert exc.value.field == field and exc.value.reason_en and exc.value.reason_fr


def test_cli(capsys):
    assert run_calc("deposit_ceiling", '{"operator": "CT", "average_monthly_bill": "200"}', True) == 0
    assert json.loads(capsys.readouterr().out)["amount"] == "600.00"
    assert run_calc("deposit_ceiling", '{"operator": "CT", "average_monthly_bill": "-1"}', False) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "average_monthly_bill" in err and "Traceback" not in err
    assert run_calc("nope", "{}", False) == 2
    assert run_calc("fee_lookup", "{not json", False) == 2
    assert "early_termination_cost" in list_calculators()


def test_registry_contract_and_langchain_tools():
    from assistant.tools.langchain_tools import as_langchain_tools

    for calc in CALCULATORS.values():
        schema = calc.input_model.model_json_schema()
        assert all(p.get("description") for p in schema["properties"].values()), calc.name
        assert "operator" in schema["properties"]
    tools = {t.name: t for t in as_langchain_tools()}
    assert set(tools) == set(CALCULATORS)
    out = tools["deposit_ceiling"].invoke({"operator": "CMI", "average_monthly_bill": "100"})
    assert out["amount"] == "600.00" and out["citations"][0]["clause_id"] == "6.1"
    bad = tools["deposit_ceiling"].invoke({"operator": "Orange", "average_monthly_bill": "100"})
    assert bad["error"]["field"] == "operator"


# ---------------------------------------------------------------- quantities, durations, known term ends, limits
def test_fee_lookup_quantity_counts_units_from_the_first_counted_one():
    # 8.5.12: 5 EUR HT per reminder from the second: 3 reminders -> reminders 2 and 3 = 10 EUR
    assert run("fee_lookup", operator="CT", kind="reminder_fee", quantity=3).amount == Decimal("10.00")
    # CMI CP Internet 4: 600 EUR HT per link, 2 links
    assert run("fee_lookup", operator="CMI", kind="speed_change", quantity=2).amount == Decimal("1200.00")
    # CMI CP Fixe 6: 150 EUR HT per line, 4 lines
    assert run("fee_lookup", operator="CMI", kind="termination_fee", quantity=4).amount == Decimal("600.00")


def test_fee_lookup_quantity_keeps_both_sides_of_a_conflict():
    # Crossing paper invoice: 1,03 (form, 8.3.3) vs 2 EUR HT (8.3.3): 12 invoices -> 12.36 or 24.00
    r = run("fee_lookup", operator="CT", kind="paper_invoice", quantity=12)
    assert r.amount is None and r.status == FactStatus.CONFLICTING
    assert r.values["min_total"] == "12.36" and r.values["max_total"] == "24.00"


def test_fee_lookup_per_month_counts_months():
    # Crossing form: paper call detail 5 EUR HT per month; 12 months -> 60 EUR
    assert run("fee_lookup", operator="CT", kind="itemised_bill", months=12).amount == Decimal("60.00")
    # non-SEPA surcharge 4,35/month (form) vs 4,39/invoice (8.5.1): 12 months and 12 invoices -> 52.20 or 52.68
    r = run("fee_lookup", operator="CT", kind="payment_method_surcharge", months=12, quantity=12)
    assert (r.values["min_total"], r.values["max_total"]) == ("52.20", "52.68")


def test_fee_lookup_hourly_slices_and_travel_supplement():
    # 6.1.6: 154 EUR HT/h by indivisible 30 min: 1 h 10 -> 1.5 h = 231; travel 2 EUR HT/km x 40 km = 80 -> 311
    r = run("fee_lookup", operator="CT", kind="support_intervention", hours="1.17", km="40")
    assert r.amount == Decimal("311.00")
    # without hours or km: the hourly rate, travel named but not added
    r = run("fee_lookup", operator="CT", kind="support_intervention")
    assert r.amount == Decimal("154.00") and any("km" in a for a in r.assumptions)
    # exactly 2 h -> 4 slices = 308, no travel given
    assert run("fee_lookup", operator="CT", kind="support_intervention", hours="2").amount == Decimal("308.00")


def test_fee_lookup_supplement_by_duration():
    # LOL fibre form: flat fee 240 TTC includes 2 h; complex cabling 120 TTC when 2 h < work < 4 h
    assert run("fee_lookup", operator="LOL", kind="cabling", hours="3").amount == Decimal("360.00")
    assert run("fee_lookup", operator="LOL", kind="cabling", hours="1.5").amount == Decimal("240.00")
    assert run("fee_lookup", operator="LOL", kind="cabling", hours="5").amount == Decimal("240.00")
    assert run("fee_lookup", operator="LOL", kind="cabling").amount == Decimal("240.00")


def test_late_payment_from_a_delay_without_dates():
    # CE+T 8.8: 1 % per month; 1 200 EUR, 3 months late -> 36 EUR (reminder/recovery fees not stated)
    r = run("late_payment", operator="CE+T", amount="1200", months_late=3)
    assert r.values["known_subtotal"] == "36.00" and r.status == FactStatus.NOT_STATED
    # 45 days late: a started month counts, a month = 30 days -> 2 months -> 24 EUR
    assert run("late_payment", operator="CE+T", amount="1200", days_late=45).values["known_subtotal"] == "24.00"
    # CMI business 8.6.1: 12 %/year pro rata: 1 000 x 12 % x 73/365 = 24 + 40 indemnity = 64
    assert run("late_payment", operator="CMI", amount="1000", days_late=73).amount == Decimal("64.00")
    # due date + days late = payment date: 2025-01-10 + 45 days = 2025-02-24, started months = 2 -> 24
    r = run("late_payment", operator="CE+T", amount="1200", due_date="2025-01-10", days_late=45)
    assert r.values["known_subtotal"] == "24.00"
    with pytest.raises(InputError):
        run("late_payment", operator="CE+T", amount="1200")


def test_outage_from_a_duration():
    # CMI 10.2 GTR: 6h30 < 7 h <= 8h30 -> 20 % of 300 = 60; > 10 h -> 100 % of 150
    assert run("outage_refund", operator="CMI", service="internet", monthly_fee="300",
               restoration_hours="7").amount == Decimal("60.00")
    assert run("outage_refund", operator="CMI", service="internet", monthly_fee="150",
               restoration_hours="11").amount == Decimal("150.00")
    # Proximus 35: more than 7 days; 10 days without dates at 1/30 of 60 EUR a day -> 20 EUR
    assert run("outage_refund", operator="Proximus", monthly_fee="60", outage_days=10).amount == Decimal("20.00")
    assert run("outage_refund", operator="Proximus", monthly_fee="60", outage_days=7).amount == Decimal("0.00")
    # start + days: 2025-02-01 for 10 days -> 01..10 Feb at 60/28 a day = 21.43
    assert run("outage_refund", operator="Proximus", monthly_fee="60", outage_start="2025-02-01",
               outage_days=10).amount == Decimal("21.43")
    with pytest.raises(InputError):
        run("outage_refund", operator="Proximus", monthly_fee="60")


def test_timeline_from_a_known_renewal_or_term_end():
    # Crossing 11.3.1.2: 30 days before the term end; renews 2025-06-01 -> last day 2025-05-31 -> 2025-05-01
    r = run("termination_timeline", operator="CT", service="voip", renewal_date="2025-06-01")
    assert r.result_date == "2025-05-01" and r.values["effective_end_date"] == "2025-05-31"
    # Virtual PBX 11.3.1.3: 90 days before a term ending 2025-10-01 -> 2025-07-03
    r = run("termination_timeline", operator="CT", service="virtual pbx", term_end_date="2025-10-01")
    assert r.result_date == "2025-07-03"
    # a request after the deadline: renewed for 12 months (11.3.2.2), ends 2026-10-01
    r = run("termination_timeline", operator="CT", service="virtual pbx", term_end_date="2025-10-01",
            request_date="2025-08-01")
    assert r.result_date == "2026-10-01" and r.values["next_renewal_date"] == "2025-10-02"
    with pytest.raises(InputError):
        run("termination_timeline", operator="CT", service="voip")


def test_timeline_without_commitment_runs_to_the_next_monthly_anniversary():
    # CMI 12.2.1: no commitment, no notice; effective on the monthly anniversary of the following month (M+1)
    r = run("termination_timeline", operator="CMI", service="internet", start_date="2023-09-08",
            request_date="2025-05-20", commitment_over=True)
    assert r.result_date == "2025-06-08" and not r.assumptions
    # equipment bought in instalments has no such rule at CMI: the calculator does not guess one from the others
    with pytest.raises(InputError):
        run("termination_timeline", operator="CMI", service="equipment_instalments", start_date="2023-09-08",
            request_date="2025-05-20", commitment_over=True)


def test_liability_interim_invoice_and_reduction_limits():
    # CE+T 14.3: value of the service over the last 6 months: 6 x 250 = 1 500
    assert run("liability_cap", operator="CE+T", monthly_fee="250").amount == Decimal("1500.00")
    # Proximus 52: paid in the 6 months before the event: 6 x 80 = 480; in service 4 months -> 320
    assert run("liability_cap", operator="Proximus", monthly_fee="80").amount == Decimal("480.00")
    assert run("liability_cap", operator="Proximus", monthly_fee="80", months_in_service=4).amount == Decimal("320.00")
    assert run("liability_cap", operator="CT", monthly_fee="80").status == FactStatus.NOT_STATED
    # Proximus 40: average 200 + 125 HT = 325; 310 is below it
    r = run("interim_invoice", operator="Proximus", average_monthly_bill="200", current_amount="310")
    assert r.amount == Decimal("325.00") and r.values["allowed"] is False
    # CE+T 8.5: 10 % per quarter: 40 users -> 4; 45 -> 4 (rounded down)
    assert run("reduction_allowance", operator="CE+T", current_count=40).amount == Decimal("4")
    assert run("reduction_allowance", operator="CE+T", current_count=45).amount == Decimal("4")


def test_a_fee_per_line_is_multiplied_by_the_lines_before_counting_months():
    # CMI CGV 12.2.1: the unexpired fraction of the commitment; 3 lines at 25 EUR HT each, 24 months from
    # 15/03/2024, effective 15/09/2025 -> periods from 15/09/2025 to 14/03/2026 = 6; 3 x 25 x 6 = 450
    r = run(ET, operator="CMI", service="mobile", monthly_fee="25", monthly_fee_per_line=True, lines=3,
            start_date="2024-03-15", termination_date="2025-09-15", commitment_months=24)
    assert r.amount == Decimal("450.00")
    assert r.breakdown[0].value == "75.00 EUR" and "3 lines x 25" in r.breakdown[0].formula
    same = run(ET, operator="CMI", service="mobile", monthly_fee="75", lines=3,
               start_date="2024-03-15", termination_date="2025-09-15", commitment_months=24)
    assert same.amount == r.amount


def test_the_months_left_are_counted_back_from_a_term_end_the_customer_knows():
    # no start date, but "my commitment ends on 31/12": the periods that start on or after the termination date
    r = run("early_termination_cost", operator="Proximus", service="voip", customer_type="business", lines=8,
            monthly_fee="96", termination_date="2024-07-01", term_end_date="2024-12-31")
    assert r.amount == Decimal("576.00") and r.values["remaining_months"] == 6
    mid = run("early_termination_cost", operator="Proximus", service="voip", customer_type="business", lines=8,
              monthly_fee="96", termination_date="2024-07-15", term_end_date="2024-12-31")
    assert mid.amount == Decimal("480.00")  # July's period had already started


@pytest.mark.parametrize("payload", [
    {"operator": "CMI", "service": "fixed_telephony", "request_date": "2026-03-20", "start_date": "2024-04-12",
     "commitment_months": 0},
    {"operator": "Proximus", "service": "voip", "request_date": "2026-03-20", "commitment_over": True},
])
def test_timeline_steps_are_words_not_identifiers(payload):
    # every step is read by a customer: no anchor key ("from_request"), no Python None, in either language
    r = run("termination_timeline", **payload)
    for step in r.breakdown:
        for text in (step.formula, step.value):
            assert "None" not in text and "_" not in text and not text.lower().startswith("none"), text


def test_a_reduction_asked_is_checked_against_the_limit():
    # CE+T: 10 % of the users per quarter (8.5); from 30 users, 27 is the fewest
    assert run("reduction_allowance", operator="CE+T", current_count=30, target_count=27).values["allowed"] is True
    over = run("reduction_allowance", operator="CE+T", current_count=30, target_count=20)
    assert over.values["allowed"] is False and over.amount == Decimal("3")
    assert "allowed" not in run("reduction_allowance", operator="CE+T", current_count=30).values
