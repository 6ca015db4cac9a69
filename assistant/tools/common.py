"""What every calculator shares: input base models, validation errors, money, citations, fee totals."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import InputError
from assistant.models import CalcResult, CalcStep, Citation, FactStatus, TaxBasis
from assistant.tools.rules import Fact, Fee, OperatorRules, RuleBook, Source, Value

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("10000000")  # anything above is a typo, not a telecom bill

Money = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2,
                                 description="Amount in euros (max 2 decimals), e.g. 49.90")]
Count = Annotated[int, Field(ge=0, le=10000)]

CustomerTypeField = Field("business", description="'business' (professionnel) or 'consumer' (particulier)")


class CalcInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OperatorInput(CalcInput):
    operator: str = Field(min_length=1, max_length=80,
                          description="Operator name or alias (e.g. 'Proximus', 'LOL', 'CMI', 'CE+T')")


def money(x: Decimal) -> Decimal:
    """Round half up to the cent: every amount a calculator returns goes through here."""
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_UP)


_REASONS_FR = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu",
    "literal_error": "valeur non autorisée",
    "greater_than_equal": "valeur trop petite",
    "greater_than": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "less_than": "valeur trop grande",
    "decimal_max_places": "trop de décimales (2 au plus)",
    "date_from_datetime_parsing": "date invalide (format AAAA-MM-JJ attendu)",
    "date_parsing": "date invalide (format AAAA-MM-JJ attendu)",
    "date_type": "date invalide (format AAAA-MM-JJ attendu)",
    "date_from_datetime_inexact": "date invalide (format AAAA-MM-JJ attendu)",
    "int_parsing": "nombre entier attendu",
    "int_from_float": "nombre entier attendu",
    "decimal_parsing": "montant numérique attendu",
    "bool_parsing": "vrai/faux attendu",
    "string_too_short": "texte vide",
}


def validate(model: type[BaseModel], payload: dict[str, Any] | BaseModel) -> BaseModel:
    """Validate a payload; any problem becomes one InputError naming the field, in English and French."""
    if isinstance(payload, model):
        return payload
    data = payload.model_dump() if isinstance(payload, BaseModel) else payload
    if not isinstance(data, dict):
        raise InputError("payload", "a JSON object is expected", "un objet JSON est attendu")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        reason_fr = _REASONS_FR.get(err["type"], "valeur invalide")
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            reason_fr += f" ; attendu : {ctx['expected']}"
        for bound in ("ge", "gt", "le", "lt"):
            if bound in ctx:
                reason_fr += f" (limite : {ctx[bound]})"
        raise InputError(where, err["msg"], reason_fr) from None


def cite(book: RuleBook, rules: OperatorRules, src: Source) -> Citation:
    return Citation(doc_id=src.doc_id, operator=rules.operator, clause_id=src.clause_id, part=src.part,
                    doc_title=book.doc_title(src.doc_id), quote=src.quote)


def cite_all(book: RuleBook, rules: OperatorRules, sources: list[Source]) -> list[Citation]:
    out: list[Citation] = []
    for src in sources:
        c = cite(book, rules, src)
        if c not in out:
            out.append(c)
    return out


def worst(*statuses: FactStatus) -> FactStatus:
    """Combined status: one conflicting figure makes the result conflicting, else one missing makes it not_stated."""
    if FactStatus.CONFLICTING in statuses:
        return FactStatus.CONFLICTING
    return FactStatus.NOT_STATED if FactStatus.NOT_STATED in statuses else FactStatus.STATED


def describe_fact(fact: Fact, label: str) -> str:
    """One sentence saying why a fact gives no single figure (used in warnings)."""
    if fact.status == FactStatus.NOT_STATED:
        where = f" (they refer to: {fact.pointer})" if fact.pointer else ""
        return f"{label}: not stated in the documents{where} / non chiffré dans les documents"
    alts = "; ".join(f"{v.number} ({v.source.clause_id})" for v in fact.distinct_values())
    return f"{label}: the documents disagree - {alts} / les documents sont contradictoires"


@dataclass
class FeeLine:
    """A fee and how many units of it: `quantity`, or for values priced per one of `per_units` (month, hour,
    km...) that count instead."""

    fee: Fee
    quantity: int | Decimal
    per_units: dict[str, Decimal] = field(default_factory=dict)

    def counted(self, value: Value) -> Decimal:
        qty = Decimal(self.per_units.get(value.per, self.quantity))
        return max(Decimal(0), qty - (self.fee.applies_from - 1))


def fmt_qty(x: Decimal) -> str:
    """A quantity as a reader writes it: 3, 1.5 (not 3.00)."""
    x = Decimal(x)
    return str(x.quantize(Decimal(1))) if x == x.to_integral_value() else f"{x.normalize():f}"


def counted(n: int | Decimal, one_en: str, many_en: str, one_fr: str, many_fr: str) -> str:
    """'12 days ‖ 12 jours', '1 day ‖ 1 jour': a count with its noun in both languages, singular for one."""
    en, fr = (one_en, one_fr) if n == 1 else (many_en, many_fr)
    return f"{n} {en} ‖ {n} {fr}"


@dataclass
class Totals:
    """Sum of fee lines; amounts only when every line has one figure (otherwise alternatives are kept)."""

    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    status: FactStatus = FactStatus.STATED
    steps: list[CalcStep] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    bases: set[TaxBasis] = field(default_factory=set)
    assumptions: list[str] = field(default_factory=list)

    def add_amount(self, label: str, formula: str, amount: Decimal, basis: TaxBasis | None = None) -> None:
        amount = money(amount)
        self.low += amount
        self.high += amount
        if basis is not None:
            self.bases.add(basis)
        self.steps.append(CalcStep(label=label, formula=formula, value=f"{amount} EUR"))

    def add_fee(self, line: FeeLine) -> None:
        fee = line.fee
        self.sources += fee.all_sources
        if fee.note:
            self.assumptions.append(f"{fee.label_en}: {fee.note}")
        if fee.status != FactStatus.STATED or not fee.values:
            self.status = worst(self.status, fee.status if fee.status != FactStatus.STATED else FactStatus.NOT_STATED)
            self.warnings.append(describe_fact(fee, fee.label_en))
            if fee.status == FactStatus.CONFLICTING:
                figures = [money(v.number * line.counted(v)) for v in fee.distinct_values()]
                self.low += min(figures)
                self.high += max(figures)
                self.bases.update(v.tax_basis for v in fee.values)
                self.steps.append(CalcStep(label=f"{fee.label_en} ‖ {fee.label_fr}", formula=" | ".join(
                    f"{v.number} x {fmt_qty(line.counted(v))} (art. {v.source.clause_id})"
                    f" = {money(v.number * line.counted(v))}" for v in fee.distinct_values()),
                    value="conflicting ‖ contradictoire"))
            else:
                where = (f"see {fee.pointer} ‖ voir {fee.pointer}" if fee.pointer
                         else "no amount in the documents ‖ aucun montant dans les documents")
                self.steps.append(CalcStep(label=f"{fee.label_en} ‖ {fee.label_fr}", formula=where,
                                           value="not stated ‖ non chiffré"))
            return
        v = fee.values[0]
        counted = line.counted(v)
        # numbers and units only: a formula in one language would be hidden from readers of the other
        extra = f" (n° ≥ {fee.applies_from})" if fee.applies_from > 1 else ""
        basis = f" {v.tax_basis}" if v.tax_basis in (TaxBasis.HT, TaxBasis.TTC) else ""  # never a bare "none"
        self.add_amount(f"{fee.label_en} ‖ {fee.label_fr}", f"{v.number} EUR{basis} x {fmt_qty(counted)}{extra}",
                        v.number * counted, v.tax_basis)

    def result(self, tool: str, book: RuleBook, rules: OperatorRules, **extra: Any) -> CalcResult:
        """Build the CalcResult: an amount only when every component has one figure."""
        values: dict[str, Any] = dict(extra.pop("values", {}))
        amount: Decimal | None = money(self.low)
        if self.status == FactStatus.CONFLICTING:
            values.update(min_total=str(money(self.low)), max_total=str(money(self.high)))
            amount = None
        elif self.status == FactStatus.NOT_STATED:
            values["known_subtotal"] = str(money(self.low))
            amount = None
        bases = self.bases - {TaxBasis.NONE}
        basis = next(iter(bases)) if len(bases) == 1 else TaxBasis.NONE
        if len(bases) > 1:
            self.warnings.append("components mix tax bases: " + ", ".join(sorted(b.value for b in bases)))
        return CalcResult(tool=tool, amount=amount, currency=rules.currency, unit="EUR", tax_basis=basis,
                          status=self.status, values=values, breakdown=self.steps,
                          assumptions=extra.pop("assumptions", []) + self.assumptions,
                          warnings=self.warnings + extra.pop("warnings", []),
                          citations=cite_all(book, rules, self.sources + extra.pop("sources", [])))


def fees_for(rules: OperatorRules, kind: str, service: str | None = None, customer_type: str | None = None,
             item: str | None = None) -> list[Fee]:
    return [f for f in rules.fees_of_kind(kind, service)
            if (customer_type is None or customer_type in f.customer_types)
            and (item is None or f.item in (None, item))]
