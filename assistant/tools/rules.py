"""Operator rules as data: the pydantic schema of `knowledge/rules/<operator>.yaml` and its loader.

Every figure a calculator uses comes from a *fact* of these files, and every fact carries the clause it
rests on (document id, clause id, optional part, verbatim quote). A fact is ``stated`` (one figure, maybe
cited several times), ``not_stated`` (the text only points elsewhere, e.g. "selon la liste des prix") or
``conflicting`` (two clauses give different figures; every value keeps its own citation). Nothing
operator-specific lives in code: a new operator is a text file, a manifest entry and a rules file.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import CorpusError, InputError
from assistant.models import FactStatus, TaxBasis

CustomerType = Literal["business", "consumer"]
TerminationReason = Literal["customer_request", "customer_death", "move_abroad_or_uncovered_area",
                            "operator_for_customer_breach"]
# Fee kinds are open keys (snake_case): a new operator's fee needs a rules entry, never a code change. The
# labels customers and agents read come from each fee's label_fr / label_en.
KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
FeeKind = Annotated[str, Field(pattern=KEY_PATTERN, max_length=60)]


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(Rule):
    """Where a fact is written: the quote is copied verbatim from the normalised document."""

    doc_id: str
    clause_id: str
    part: str | None = None
    quote: str = Field(min_length=3)


class Value(Rule):
    """One figure with its own citation. Exactly one of amount / months / days / percent is set."""

    source: Source
    amount: Decimal | None = None
    months: int | None = None
    days: int | None = None
    percent: Decimal | None = None
    hours: int | None = None
    tax_basis: TaxBasis = TaxBasis.NONE
    per: str = ""  # unit of an amount: invoice, month, day, reminder, line, service, request, item, hour...
    condition: str = ""
    # a period that runs to the last day of the month it ends in ("au plus tard le dernier jour du mois suivant"
    # = 1 month, month_end): a date computed from it is that month's last day
    month_end: bool = False

    @model_validator(mode="after")
    def _one_figure(self) -> Value:
        set_ = [x for x in (self.amount, self.months, self.days, self.percent, self.hours) if x is not None]
        if len(set_) != 1:
            raise ValueError("a value carries exactly one of amount, months, days, hours, percent")
        if self.month_end and self.months is None:
            raise ValueError("`month_end` applies to a value in months")
        return self

    @property
    def number(self) -> Decimal:
        return Decimal(next(x for x in (self.amount, self.months, self.days, self.percent, self.hours)
                            if x is not None))

    @property
    def kind(self) -> str:
        return next(k for k in ("amount", "months", "days", "percent", "hours") if getattr(self, k) is not None)

    @property
    def figure_key(self) -> tuple[str, Decimal, str]:
        """What makes two values 'the same figure' (two citations of it do not conflict)."""
        return self.kind, self.number, self.per


class Wording(Rule):
    """One side of a contradiction that is a rule rather than a figure ("billed in arrears" against "billed in
    advance"), said in both languages, with its own citation."""

    fr: str = Field(min_length=3)
    en: str = Field(min_length=3)
    source: Source


class Fact(Rule):
    status: FactStatus = FactStatus.STATED
    values: list[Value] = Field(default_factory=list)
    worded: list[Wording] = Field(default_factory=list)  # a conflict's sides that are rules, not figures
    sources: list[Source] = Field(default_factory=list)  # pointers ("liste des prix") and context clauses
    pointer: str | None = None  # where the text sends the reader when it gives no figure
    note: str = ""
    # questions this fact answers, as customers and agents ask them (French or English): a question is compared
    # with questions better than with the fact's own wording, so these help pick the fact that answers
    asks: list[str] = Field(default_factory=list)
    # the fact counts a monthly fee per day of a period ("au prorata de la mensualité"): applied to the fee and the
    # dates the customer gives
    pro_rata: bool = False

    def _alternatives(self) -> int:
        """How many different answers the fact's citations give."""
        return len({v.figure_key for v in self.values}) + len(self.worded)

    @model_validator(mode="after")
    def _status_matches_values(self) -> Fact:
        figures = {v.figure_key for v in self.values}
        if self.status == FactStatus.STATED and (len(figures) > 1 or not (self.values or self.sources)):
            raise ValueError(f"a stated fact has at most one figure and at least one citation, got {len(figures)}")
        if self.status == FactStatus.CONFLICTING and self._alternatives() < 2:
            raise ValueError("a conflicting fact needs at least two different answers")
        if self.worded and self.status != FactStatus.CONFLICTING:
            raise ValueError("`worded` sides belong to a conflicting fact")
        if self.status == FactStatus.NOT_STATED and (self.values or not (self.pointer or self.sources)):
            raise ValueError("a not_stated fact has no value and says where the text points (pointer/sources)")
        return self

    @property
    def all_sources(self) -> list[Source]:
        return [v.source for v in self.values] + [w.source for w in self.worded] + list(self.sources)

    @property
    def value(self) -> Value | None:
        """The figure of a stated fact (None when not stated, conflicting, or a rule without a figure)."""
        return self.values[0] if self.status == FactStatus.STATED and self.values else None

    def distinct_values(self) -> list[Value]:
        """One value per different figure (first citation of each) - the alternatives of a conflict."""
        seen: dict[tuple[str, Decimal, str], Value] = {}
        for v in self.values:
            seen.setdefault(v.figure_key, v)
        return list(seen.values())


class Fee(Fact):
    key: str
    kind: FeeKind
    label_fr: str
    label_en: str
    item: str | None = None  # equipment item the fee is about (phone, modem...)
    services: list[str] = Field(default_factory=list)  # empty: every service
    customer_types: list[CustomerType] = Field(default_factory=lambda: ["business", "consumer"])
    applies_from: int = 1  # first counted unit, e.g. 2 = "à partir du deuxième rappel"
    applies_after_days: int | None = None  # e.g. cancellation fee only "plus de 14 jours après la signature"
    increment_minutes: int | None = Field(None, ge=1)  # per-hour fees billed by indivisible slices ("tranches de 30 minutes")
    above_hours: Decimal | None = None  # applies only when the work lasts more than this many hours
    below_hours: Decimal | None = None  # ... and less than this many hours
    supplement: bool = False  # charged on top of the base fee of the same kind ("en outre", "en supplément")


class Summarised(Fact):
    """A fact the text may state in words rather than as a figure: its summary in both languages."""

    summary_fr: str = ""
    summary_en: str = ""


class Notice(Summarised):
    """How long before what the customer must give notice. Values carry months or days; the summary says what the
    notice is when it has no figure ("sans préavis, prise d'effet au M+1")."""

    anchor: Literal["before_term_end", "from_request", "monthly_anniversary_next_month", "none"]


class Term(Summarised):
    """A service's minimum term. Values carry months; a term the text states in words only (a contract for an
    indefinite duration) is a stated fact with its summary and no value."""


class Renewal(Fact):
    mode: Literal["same_as_initial", "fixed", "indefinite", "none"]

    def _alternatives(self) -> int:
        # "same as the initial term" is an answer without a figure: it conflicts with a fixed length.
        return super()._alternatives() + (1 if self.mode == "same_as_initial" and self.sources else 0)


class Service(Rule):
    key: str
    name: str
    name_en: str = ""  # how an English reply names it (the French name when empty)
    aliases: list[str] = Field(default_factory=list)
    minimum_term: Term  # months
    renewal: Renewal
    notice: Notice  # during the initial term
    notice_renewed: Notice | None = None  # during renewed / indefinite periods (default: same as notice)
    notice_no_commitment: Notice | None = None  # contract signed without a minimum term (default: notice)
    started_month_due: Source | None = None  # where the text says "tout mois entamé est dû"


class EarlyTerminationCase(Rule):
    key: str
    label_fr: str
    label_en: str
    reasons: list[TerminationReason] = Field(default_factory=lambda: ["customer_request"])
    services: list[str] = Field(default_factory=list)
    customer_types: list[CustomerType] = Field(default_factory=lambda: ["business", "consumer"])
    min_lines: int | None = None
    max_lines: int | None = None
    formula: Literal["remaining_periods", "flat_fee_per_line", "none", "not_stated"]
    cap_months: Fact | None = None  # remaining_periods counted only up to the end of the first N months
    flat_fee: Fact | None = None
    requires_no_commitment: bool = False
    tax_basis: TaxBasis | None = None  # None: the basis of the monthly fee the user gives
    sources: list[Source] = Field(min_length=1)  # the clauses that state the rule itself
    note: str = ""
    # a case for another reason than the customer's request: what it means for them, in words, and the notice
    # that replaces the service's own (termination_timeline uses it when the customer gives this reason)
    summary_fr: str = ""
    summary_en: str = ""
    notice: Notice | None = None

    def applies(self, reason: str, service: str, customer_type: str, lines: int, committed: bool) -> bool:
        return (reason in self.reasons and (not self.services or service in self.services)
                and customer_type in self.customer_types
                and (self.min_lines is None or lines >= self.min_lines)
                and (self.max_lines is None or lines <= self.max_lines)
                and (not self.requires_no_commitment or not committed)
                # remaining fees only exist while a commitment runs
                and (self.formula != "remaining_periods" or committed))


class InterestRule(Fact):
    """Late-payment interest: rate per period = max(rate, legal_multiple x legal rate) of those given."""

    key: str
    customer_types: list[CustomerType] = Field(default_factory=lambda: ["business", "consumer"])
    period: Literal["month", "year"] = "year"
    started_period_counts: bool = False  # month rates: does a started month of delay count in full?
    legal_rate_multiple: Decimal | None = None
    runs_from: Literal["due_date", "reminder"] = "due_date"


class DepositRule(Fact):
    """Ceiling of a deposit / advance, in months of the customer's average bill (values carry months)."""


class OutageRule(Fact):
    key: str
    services: list[str] = Field(default_factory=list)
    method: Literal["pro_rata_days", "fixed_months", "tiers_by_hours", "none"]
    min_days: int = 0  # the outage must last AT LEAST this many consecutive calendar days ...
    more_than_days: int = 0  # ... or MORE than this many (the document's own words are said back)
    tiers: list[tuple[Decimal, Decimal]] = Field(default_factory=list)  # (up to hours, % of monthly fee)
    yearly_cap_months: Decimal | None = None
    summary_fr: str = ""  # the rule in words, for a question that gives no figures to compute with
    summary_en: str = ""

    @model_validator(mode="after")
    def _one_threshold(self) -> OutageRule:
        if self.min_days and self.more_than_days:
            raise ValueError("an outage rule has `min_days` or `more_than_days`, not both")
        return self

    def threshold(self, days: int) -> tuple[bool, str, str] | None:
        """Whether `days` opens the right, and the comparison in the document's terms (en, fr); None without one."""
        if self.more_than_days:
            limit, reached = self.more_than_days, days > self.more_than_days
            sign = ">" if reached else "<="
        elif self.min_days:
            limit, reached = self.min_days, days >= self.min_days
            sign = ">=" if reached else "<"
        else:
            return None
        return reached, f"{days} {sign} {limit} consecutive days", f"{days} {sign} {limit} jours consécutifs"


class LiabilityRule(Fact):
    """Ceiling of the operator's liability: the fees of the last N months (values carry months), maybe a yearly cap."""

    per_event: bool = True
    yearly_cap: Fact | None = None  # an amount per calendar year, whatever the number of events


class InterimInvoiceRule(Fact):
    """An intermediate invoice / advance may be sent when the bill exceeds the average by this amount."""

    reference_months: int | None = None  # months the average is computed on


class ReductionLimit(Fact):
    """How much of a countable subscription (users, lines) may be removed per period (values carry percent)."""

    unit: str = "user"
    period: Literal["month", "quarter", "year"] = "quarter"


class CallRating(Fact):
    """How calls are charged: billing increment and rounding of the call price."""

    increment_seconds: int = 1
    rounding: Literal["up", "half_up"] = "half_up"


class OpenFact(Fact):
    """A fact any need of `knowledge/needs.yaml` can be answered with, beyond what calculators use.

    The value is a figure (`values`: amount, months, days, hours or percent, each with its clause) or, for a
    procedure or a yes/no answer, a short summary in French and English (`summary_fr` / `summary_en`) resting on
    `sources`. `need` is an id of the needs file (checked when both are loaded).
    """

    key: str = Field(pattern=KEY_PATTERN)
    need: str = Field(pattern=KEY_PATTERN)
    label_fr: str = Field(min_length=2)
    label_en: str = Field(min_length=2)
    services: list[str] = Field(default_factory=list)  # empty: every service
    customer_types: list[CustomerType] = Field(default_factory=lambda: ["business", "consumer"])
    summary_fr: str = ""
    summary_en: str = ""
    draft: bool = False  # written by `assistant rules draft`, not yet reviewed; answered like any other fact

    @model_validator(mode="after")
    def _summary_pair(self) -> OpenFact:
        if bool(self.summary_fr) != bool(self.summary_en):
            raise ValueError(f"fact {self.key}: give the summary in both French and English")
        return self


class OperatorRules(Rule):
    operator: str
    doc_id: str  # default document of every source that does not name one
    currency: str = "EUR"
    customer_types: list[CustomerType]
    services: list[Service]
    early_termination: list[EarlyTerminationCase] = Field(default_factory=list)
    interest: list[InterestRule] = Field(default_factory=list)
    fees: list[Fee] = Field(default_factory=list)
    deposit: list[DepositRule] = Field(default_factory=list)
    outage: list[OutageRule] = Field(default_factory=list)
    call_rating: list[CallRating] = Field(default_factory=list)
    liability: list[LiabilityRule] = Field(default_factory=list)
    interim_invoice: list[InterimInvoiceRule] = Field(default_factory=list)
    reduction_limit: list[ReductionLimit] = Field(default_factory=list)
    moving_recommitment: Fact | None = None  # months of new commitment a move to a new address starts
    facts: list[OpenFact] = Field(default_factory=list)  # open facts, each answering a need of the needs file

    @model_validator(mode="after")
    def _keys_are_unique(self) -> OperatorRules:
        for label, keys in (("service", [s.key for s in self.services]), ("fee", [f.key for f in self.fees]),
                            ("fact", [f.key for f in self.facts])):
            dup = {k for k in keys if keys.count(k) > 1}
            if dup:
                raise ValueError(f"duplicate {label} keys: {sorted(dup)}")
        known = {s.key for s in self.services}
        for case in [*self.early_termination, *self.fees, *self.facts]:
            unknown = set(case.services) - known
            if unknown:
                raise ValueError(f"case {case.key} names unknown services {sorted(unknown)}")
        return self

    def service(self, name_or_alias: str) -> Service:
        wanted = slug(name_or_alias)
        for s in self.services:
            if wanted in {slug(s.key), slug(s.name), *(slug(a) for a in s.aliases)}:
                return s
        names = ", ".join(s.key for s in self.services)
        raise InputError("service", f"unknown service '{name_or_alias}' for {self.operator}; known: {names}",
                         f"service « {name_or_alias} » inconnu chez {self.operator} ; connus : {names}")

    def fees_of_kind(self, kind: str, service: str | None = None) -> list[Fee]:
        return [f for f in self.fees if f.kind == kind and (not service or not f.services or service in f.services)]

    def every_fact(self) -> list[Fact]:
        """Every fact of the file (for the quote-verification test)."""
        out: list[Fact] = [*self.facts, *self.fees, *self.interest, *self.deposit, *self.outage, *self.call_rating,
                           *self.liability, *self.interim_invoice, *self.reduction_limit]
        out += [r.yearly_cap for r in self.liability if r.yearly_cap is not None]
        out += [self.moving_recommitment] if self.moving_recommitment else []
        for s in self.services:
            out += [s.minimum_term, s.renewal, s.notice]
            out += [n for n in (s.notice_renewed, s.notice_no_commitment) if n is not None]
        for c in self.early_termination:
            out += [f for f in (c.cap_months, c.flat_fee) if f is not None]
        return out

    def all_sources(self) -> list[Source]:
        """Every citation of the file: facts, rule clauses of the termination cases, "started month" clauses."""
        sources = [src for fact in self.every_fact() for src in fact.all_sources]
        sources += [src for c in self.early_termination for src in c.sources]
        return sources + [s.started_month_due for s in self.services if s.started_month_due]


def slug(text: str) -> str:
    """Accent-, case- and punctuation-insensitive key: 'CE+T Télécommunications' -> 'cetelecommunications'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


def file_slug(operator: str) -> str:
    """File name of an operator's rules: 'Crossing Telecom' -> 'crossing-telecom'."""
    decomposed = unicodedata.normalize("NFKD", operator.casefold())
    words = "".join(ch if ch.isalnum() else " " for ch in decomposed if not unicodedata.combining(ch)).split()
    return "-".join(words)


class Manifest(BaseModel):
    """The part of knowledge/manifest.yaml the tools need: operators, aliases and document titles."""

    aliases: dict[str, str]  # slug(name or alias) -> operator
    doc_titles: dict[str, str]
    doc_operator: dict[str, str]


def load_manifest(path: Path) -> Manifest:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read manifest {path}: {exc}") from exc
    aliases: dict[str, str] = {}
    titles: dict[str, str] = {}
    owners: dict[str, str] = {}
    for doc in raw.get("documents", []):
        operator = doc["operator"]
        for name in [operator, *doc.get("operator_aliases", [])]:
            aliases.setdefault(slug(str(name)), operator)  # YAML may read an alias like NO as a bool
        titles[doc["doc_id"]] = doc.get("title", "")
        owners[doc["doc_id"]] = operator
    return Manifest(aliases=aliases, doc_titles=titles, doc_operator=owners)


class RuleBook:
    """All operators' rules, resolvable by operator name or any manifest alias."""

    def __init__(self, rules: list[OperatorRules], manifest: Manifest | None = None):
        self._rules = {r.operator: r for r in rules}
        self.manifest = manifest or Manifest(aliases={}, doc_titles={}, doc_operator={})
        self._aliases = {slug(op): op for op in self._rules}
        for alias, op in self.manifest.aliases.items():
            if op in self._rules:
                self._aliases.setdefault(alias, op)

    def operators(self) -> list[str]:
        return sorted(self._rules)

    def for_operator(self, name_or_alias: str) -> OperatorRules:
        op = self._aliases.get(slug(name_or_alias or ""))
        if op is None:
            known = ", ".join(self.operators())
            raise InputError("operator", f"unknown operator '{name_or_alias}'; known: {known}",
                             f"opérateur « {name_or_alias} » inconnu ; connus : {known}")
        return self._rules[op]

    def doc_title(self, doc_id: str) -> str:
        return self.manifest.doc_titles.get(doc_id, "")


def _fill_doc_ids(node: Any, doc_id: str) -> Any:
    """Sources may omit doc_id in YAML: it defaults to the operator's main document."""
    if isinstance(node, dict):
        out = {k: _fill_doc_ids(v, doc_id) for k, v in node.items()}
        if "clause_id" in out and "quote" in out:
            out.setdefault("doc_id", doc_id)
        return out
    if isinstance(node, list):
        return [_fill_doc_ids(v, doc_id) for v in node]
    return node


def parse_rules_file(path: Path) -> OperatorRules:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CorpusError(f"cannot read rules file {path}: {exc}") from exc
    if not isinstance(raw, dict) or "doc_id" not in raw:
        raise CorpusError(f"rules file {path} must be a mapping with operator and doc_id")
    # Top-level "x-..." keys hold YAML anchors shared by several services; they are not rules themselves.
    raw = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
    try:
        return OperatorRules.model_validate(_fill_doc_ids(raw, raw["doc_id"]))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CorpusError(f"rules file {path.name}: {where}: {first['msg']}") from exc


@lru_cache(maxsize=8)
def _load(rules_dir: str) -> RuleBook:
    directory = Path(rules_dir)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CorpusError(f"no rules files in {directory}")
    rules = [parse_rules_file(p) for p in files]
    manifest_path = directory.parent / "manifest.yaml"
    manifest = load_manifest(manifest_path) if manifest_path.exists() else None
    if manifest is not None:
        known = set(manifest.aliases.values())
        for r, p in zip(rules, files, strict=True):
            if r.operator not in known:
                raise CorpusError(f"{p.name}: operator '{r.operator}' is not a manifest operator")
            if p.stem != file_slug(r.operator):
                raise CorpusError(f"{p.name}: file name must be {file_slug(r.operator)}.yaml")
    return RuleBook(rules, manifest)


def load_rules(rules_dir: Path | None = None) -> RuleBook:
    """Load and validate every rules file of `rules_dir` (default: settings.rules_dir); cached per dir."""
    if rules_dir is None:
        from assistant.config import get_settings

        rules_dir = get_settings().rules_dir
    return _load(str(Path(rules_dir).resolve()))
