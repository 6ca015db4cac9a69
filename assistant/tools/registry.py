"""The calculators the agent, the UI and the CLI can call, by stable snake_case name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from assistant.models import CalcResult
from assistant.tools import fees, limits, payment, termination, timeline, usage
from assistant.tools.common import validate
from assistant.tools.rules import RuleBook, load_rules


@dataclass(frozen=True)
class Calculator:
    name: str
    title_fr: str
    title_en: str
    description: str
    input_model: type[BaseModel]
    func: Callable[[Any, RuleBook], CalcResult]

    def run(self, payload: dict[str, Any] | BaseModel, rules: RuleBook | None = None) -> CalcResult:
        """Validate the payload (InputError on bad input, never a traceback) and compute."""
        data = validate(self.input_model, payload)
        return self.func(data, rules or load_rules())


_ALL = [
    Calculator("early_termination_cost", "Coût de résiliation anticipée", "Early-termination cost",
               "How much it costs to end a contract before its commitment ends: remaining monthly fees, "
               "first-six-months rule, flat fee per line... per the operator's clause for the customer's case.",
               termination.EarlyTerminationInput, termination.early_termination_cost),
    Calculator("termination_timeline", "Calendrier de résiliation", "Termination timeline",
               "When a contract really ends: last day to send notice, effective end date, next tacit renewal.",
               timeline.TimelineInput, timeline.termination_timeline),
    Calculator("late_payment", "Retard de paiement", "Late payment",
               "Interest, fixed recovery indemnities and reminder fees an operator may charge on a late invoice.",
               payment.LatePaymentInput, payment.late_payment),
    Calculator("equipment_return", "Restitution du matériel", "Equipment return",
               "Charges for equipment returned late (per day), damaged or incomplete (per item) or not returned.",
               fees.EquipmentInput, fees.equipment_return),
    Calculator("fee_lookup", "Montant des frais", "Fee amount",
               "The amount of one kind of fee (paper invoice, reminder, moving...), or where the text points "
               "when it gives no figure, or both figures when the text contradicts itself.",
               fees.FeeLookupInput, fees.fee_lookup),
    Calculator("porting_cost", "Frais de portabilité", "Porting costs",
               "Costs of number porting: cancelled porting request, partial porting, taking over a number.",
               fees.PortingInput, fees.porting_cost),
    Calculator("cancellation_cost", "Annulation avant activation", "Cancellation before activation",
               "Cost of cancelling an order before the service is activated.",
               fees.CancellationInput, fees.cancellation_cost),
    Calculator("moving_cost", "Coût du déménagement", "Moving costs",
               "Fees for moving services to a new address, and the commitment a move restarts.",
               fees.MovingInput, fees.moving_cost),
    Calculator("call_charge", "Prix d'un appel", "Call charge",
               "Price of one call from its duration and per-minute price, with the operator's rounding.",
               usage.CallChargeInput, usage.call_charge),
    Calculator("outage_refund", "Remboursement d'interruption", "Outage refund",
               "Refund owed for a service interruption (pro rata per day, a month's fee, GTR penalty tiers).",
               usage.OutageInput, usage.outage_refund),
    Calculator("deposit_ceiling", "Plafond du dépôt de garantie", "Deposit ceiling",
               "The highest deposit or advance an operator may ask, in months of the average bill.",
               fees.DepositInput, fees.deposit_ceiling),
    Calculator("liability_cap", "Plafond de responsabilité", "Liability cap",
               "The most the operator pays when it is liable for a damage: the fees of the last months the "
               "clause names, computed from the customer's monthly fee.",
               limits.LiabilityInput, limits.liability_cap),
    Calculator("interim_invoice", "Facture intermédiaire", "Interim invoice",
               "Above which amount the operator may send an intermediate invoice or ask an advance, from the "
               "customer's average bill.",
               limits.InterimInvoiceInput, limits.interim_invoice),
    Calculator("reduction_allowance", "Réduction du nombre d'utilisateurs", "Reducing users",
               "How many users or lines the customer may remove in one period.",
               limits.ReductionInput, limits.reduction_allowance),
]

CALCULATORS: dict[str, Calculator] = {c.name: c for c in _ALL}
