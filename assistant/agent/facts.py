"""The rules files seen as one list of facts, each tagged with the selector a need asks for.

Typed facts (a service's notice, minimum term, renewal; fees by kind; interest, deposit, outage... rules) and
the open facts of the rules files are flattened into `FactView`s, so the answer path asks one question of the
knowledge: "which facts answer need N for this operator, service and customer type?". Selectors are the ones
`knowledge/needs.yaml` uses (`notice`, `minimum_term`, `fee:<kind>`, `fee:*`, ...); an open fact is selected by
its `need`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.agent.router import Embed, Need, phrase_in, stem_tokens
from assistant.index.text import figureless
from assistant.models import FactStatus
from assistant.tools.rules import Fact, OperatorRules, RuleBook, Source


@dataclass
class FactView:
    """One fact as the answer path reads it."""

    operator: str
    selector: str  # notice, minimum_term, fee:paper_invoice, need:how_to_terminate ...
    label_fr: str
    label_en: str
    fact: Fact
    services: list[str] = field(default_factory=list)  # empty: every service of the operator
    customer_types: list[str] = field(default_factory=lambda: ["business", "consumer"])
    summary_fr: str = ""
    summary_en: str = ""
    extra: dict[str, str] = field(default_factory=dict)  # notice anchor, renewal mode ...

    @property
    def status(self) -> FactStatus:
        return self.fact.status

    def label(self, language: str) -> str:
        return self.label_fr if language == "fr" else self.label_en

    def summary(self, language: str) -> str:
        return self.summary_fr if language == "fr" else self.summary_en

    def text(self, language: str) -> str:
        """What the fact is about, as matched against a question: its label and summary."""
        return f"{self.label(language)}. {self.summary(language)}".strip(". ")

    def sources(self) -> list[Source]:
        return self.fact.all_sources

    def has_content(self) -> bool:
        return bool(self.fact.values or self.summary_fr or self.fact.status != FactStatus.STATED
                    or self.extra.get("mode") in ("same_as_initial", "indefinite", "none")
                    or "legal_multiple" in self.extra)


def _service_facts(rules: OperatorRules) -> Iterable[FactView]:
    op = rules.operator
    for s in rules.services:
        svc = [s.key]
        names = {"service": s.name, "service_en": s.name_en or s.name}
        yield FactView(op, "minimum_term", "Durée minimale d'engagement", "Minimum term", s.minimum_term, svc,
                       summary_fr=s.minimum_term.summary_fr, summary_en=s.minimum_term.summary_en,
                       extra=names)
        yield FactView(op, "renewal", "Renouvellement", "Renewal", s.renewal, svc,
                       extra={"mode": s.renewal.mode, **names})
        yield FactView(op, "notice", "Préavis de résiliation", "Notice period", s.notice, svc,
                       extra={"anchor": s.notice.anchor, **names})
        if s.notice_renewed is not None:
            yield FactView(op, "notice", "Préavis après renouvellement", "Notice once renewed", s.notice_renewed,
                           svc, extra={"anchor": s.notice_renewed.anchor, **names})
        if s.notice_no_commitment is not None:
            n = s.notice_no_commitment
            yield FactView(op, "notice", "Préavis sans engagement", "Notice without a commitment", n, svc,
                           summary_fr=n.summary_fr, summary_en=n.summary_en,
                           extra={"anchor": n.anchor, **names, "no_commitment": "yes"})


def _rule_facts(rules: OperatorRules) -> Iterable[FactView]:
    op = rules.operator
    for fee in rules.fees:
        yield FactView(op, f"fee:{fee.kind}", fee.label_fr, fee.label_en, fee, list(fee.services),
                       list(fee.customer_types))
    typed: list[tuple[str, str, str, Sequence[Fact]]] = [
        ("interest", "Intérêts de retard", "Late-payment interest", rules.interest),
        ("deposit", "Plafond du dépôt de garantie (en mois de facturation)", "Deposit ceiling (in months of billing)",
         rules.deposit),
        ("outage", "Indemnisation d'une interruption", "Compensation for an outage", rules.outage),
        ("liability", "Plafond de responsabilité (en mois de redevances)", "Liability cap (in months of fees)",
         rules.liability),
        ("interim_invoice", "Facture intermédiaire", "Interim invoice", rules.interim_invoice),
        ("reduction_limit", "Réduction du nombre d'utilisateurs", "Reducing users", rules.reduction_limit),
        ("call_rating", "Tarification des appels", "Call rating", rules.call_rating),
    ]
    for selector, fr, en, facts in typed:
        for f in facts:
            services = list(getattr(f, "services", []) or [])
            types = list(getattr(f, "customer_types", ["business", "consumer"]))
            multiple = getattr(f, "legal_rate_multiple", None)
            extra = {"legal_multiple": f"{multiple.normalize():f}"} if multiple is not None else {}
            if isinstance(getattr(f, "period", None), str):  # a rate per month or per year
                extra["period"] = f.period
            yield FactView(op, selector, fr, en, f, services, types, getattr(f, "summary_fr", ""),
                           getattr(f, "summary_en", ""), extra=extra)
            cap = getattr(f, "yearly_cap", None)
            if isinstance(cap, Fact):  # a ceiling per calendar year on top of the rule's own: a fact of its own
                yield FactView(op, selector, f"{fr.split(' (')[0]} - plafond annuel",
                               f"{en.split(' (')[0]} - yearly cap", cap, services, types)
    if rules.moving_recommitment is not None:
        yield FactView(op, "moving_recommitment", "Nouvel engagement après un déménagement",
                       "New commitment after a move", rules.moving_recommitment)
    for fact in rules.facts:
        yield FactView(op, f"need:{fact.need}", fact.label_fr, fact.label_en, fact, list(fact.services),
                       list(fact.customer_types), fact.summary_fr, fact.summary_en)


def _case_facts(rules: OperatorRules) -> Iterable[FactView]:
    """Early-termination cases: the rule itself is the fact (its label says what is owed). A case for another
    reason than the customer's own request (moving abroad, a death) is a `reason_case`, said only when the
    conversation gives that reason (`FactBase.candidates`)."""
    for case in rules.early_termination:
        fact = Fact(status=FactStatus.NOT_STATED if case.formula == "not_stated" else FactStatus.STATED,
                    sources=list(case.sources), pointer="-" if case.formula == "not_stated" else None)
        extra = {k: str(v) for k, v in (("min_lines", case.min_lines), ("max_lines", case.max_lines)) if v}
        if "customer_request" in case.reasons:
            yield FactView(rules.operator, "early_termination", case.label_fr, case.label_en, fact,
                           list(case.services), list(case.customer_types), summary_fr=case.label_fr,
                           summary_en=case.label_en, extra=extra)
        reasons = [r for r in case.reasons if r != "customer_request"]
        if reasons:  # the case is stated even when its amount is not: its summary says what applies
            fact = Fact(status=FactStatus.STATED, sources=[*case.sources, *(case.notice.all_sources if case.notice
                                                                            else [])])
            yield FactView(rules.operator, "reason_case", case.label_fr, case.label_en, fact, list(case.services),
                           list(case.customer_types), summary_fr=case.summary_fr or case.label_fr,
                           summary_en=case.summary_en or case.label_en,
                           extra={**extra, "reasons": ",".join(reasons), "own_notice": "yes" if case.notice else ""})


def _by_reason(views: list[FactView], reason: str | None) -> list[FactView]:
    """The facts that hold for why the contract ends: a case for the reason given replaces the cases of the
    customer's own request; without such a case (or a reason) the reason cases are left out."""
    def covers(v: FactView) -> bool:
        return v.selector == "reason_case" and bool(reason) and reason in v.extra.get("reasons", "").split(",")

    covering = [v for v in views if covers(v)]
    if covering:
        replaced = {"early_termination", "reason_case", *(["notice"] if any(v.extra["own_notice"] for v in covering)
                                                          else [])}
        return [v for v in views if v.selector not in replaced or covers(v)]
    return [v for v in views if v.selector != "reason_case"]


def serves(need: Need, view: FactView) -> bool:
    """The need asks for this fact (by its selector, its open-fact need, or any fee for a generic fee need)."""
    return (view.selector in need.facts or view.selector == f"need:{need.id}"
            or ("fee:*" in need.facts and view.selector.startswith("fee:")))


def _fits(view: FactView, answer: str, language: str) -> bool:
    """The fact is of the kind the answer type calls for: a summary for a procedure, an amount for an amount,
    a duration for a duration or a date; a fact the documents leave unstated fits any figure question."""
    if answer in ("procedure", "yes_no", "list"):
        return bool(view.summary(language))
    kinds = {v.kind for v in view.fact.values}
    if answer == "amount":
        return bool(kinds & {"amount", "percent"}) or "legal_multiple" in view.extra or (
            not kinds and view.selector.startswith("fee:") and not view.summary(language))
    # a duration or a date: a fact giving one, or a summary (delays are often told in words); never a price
    return bool(kinds & {"days", "months", "hours"}) or (not kinds and not view.selector.startswith("fee:"))


def _first_kinds(views: list[FactView], kinds: int = 4) -> list[FactView]:
    """The facts of the first `kinds` different labels: the same rule for several services is one answer (its
    sentence names the services), so it does not crowd out a different rule ("notice once renewed")."""
    labels: list[str] = []
    out: list[FactView] = []
    for v in views:
        if v.label_en not in labels:
            if len(labels) == kinds:
                continue
            labels.append(v.label_en)
        out.append(v)
    return out


class FactBase:
    """Every operator's facts, queried by need."""

    def __init__(self, book: RuleBook, stop_words: Sequence[str] = (), embed: Embed | None = None,
                 min_similarity: float = 0.87, margin: float = 0.03,
                 centroid: Callable[[str], np.ndarray | None] | None = None, need_weight: float = 0.5,
                 keyword_hits: Callable[[str, str], int] | None = None, keyword_bonus: float = 0.01,
                 ask_offset: float = 0.0):
        self.book = book
        self._ask_offset = ask_offset
        self._embed = embed
        self._min_similarity, self._margin = min_similarity, margin
        self._centroid, self._need_weight = centroid, need_weight
        self._keyword_hits, self._keyword_bonus = keyword_hits, keyword_bonus
        self._label_vectors: dict[str, np.ndarray] = {}
        self._words: dict[tuple[int, str], frozenset[str]] = {}
        self._stacks: dict[tuple[str, tuple[int, ...]], tuple[np.ndarray, np.ndarray, np.ndarray, tuple]] = {}
        # words that say nothing about *which* fact is meant ("combien", "frais"): from the needs file
        self._stop = frozenset(s for w in stop_words for tok in stem_tokens(w) for s in tok)
        self._by_operator: dict[str, list[FactView]] = {}
        for op in book.operators():
            rules = book.for_operator(op)
            views = [*_service_facts(rules), *_rule_facts(rules), *_case_facts(rules)]
            self._by_operator[op] = [v for v in views if v.has_content()]

    def _embed_labels(self, labels: Sequence[str]) -> None:
        missing = [t for t in dict.fromkeys(labels) if t not in self._label_vectors]
        if missing and self._embed is not None:
            self._label_vectors.update(zip(missing, self._embed(missing), strict=True))

    def warm(self, cache_dir: Path | None = None) -> None:
        """Embed every fact label once (both languages), from a cache file when one matches: a first
        question must not pay for a hundred labels."""
        if self._embed is None:
            return
        labels = sorted({v.text(lang) for views in self._by_operator.values() for v in views for lang in ("fr", "en")}
                        | {a for views in self._by_operator.values() for v in views for a in v.fact.asks})
        path = None
        if cache_dir is not None:
            digest = hashlib.sha1("\n".join(labels).encode()).hexdigest()[:16]
            path = cache_dir / f"fact-labels-{digest}.npy"
            if path.is_file():
                try:
                    self._label_vectors.update(zip(labels, np.load(path), strict=True))
                    return
                except (OSError, ValueError):
                    pass
        self._embed_labels(labels)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, np.asarray([self._label_vectors[t] for t in labels]))
            except OSError:  # a read-only data dir costs the embedding at the next start only
                pass

    def _without_services(self, operator: str, question: str) -> str:
        """The question without the names of the operator's services: they filter facts (by service), they
        must not make every fact that mentions the service look relevant."""
        if operator not in self._by_operator:
            return question
        names = sorted({n for s in self.book.for_operator(operator).services for n in (s.name, *s.aliases)
                        if len(n) > 2}, key=len, reverse=True)
        out = question
        for name in names:
            out = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", " ", out, flags=re.IGNORECASE)
        return re.sub(r"\s+", " ", out).strip() or question

    def operators_with(self, words: str) -> list[str]:
        """Operators one of whose services or products is named in `words` (for inferring the operator)."""
        tokens = stem_tokens(words)
        found = []
        for op in self.book.operators():
            rules = self.book.for_operator(op)
            names = [n for s in rules.services for n in (s.name, *s.aliases) if len(n) > 3]
            if any(phrase_in(stem_tokens(n), tokens) for n in names):
                found.append(op)
        return found

    def candidates(self, operator: str, service: str | None = None, customer_type: str | None = None,
                   lines: int | None = None, views: list[FactView] | None = None,
                   reason: str | None = None) -> list[FactView]:
        """The operator's facts that can apply to this service, customer type, number of lines and reason."""
        picked = self._by_operator.get(operator, []) if views is None else views
        if service:
            picked = [v for v in picked if not v.services or service in v.services] or picked
        if customer_type:
            picked = [v for v in picked if customer_type in v.customer_types] or picked
        if lines:
            picked = [v for v in picked if int(v.extra.get("min_lines", 0)) <= lines
                      <= int(v.extra.get("max_lines", 10**6))] or picked
        return _by_reason(picked, reason)

    def for_need(self, operator: str, need: Need, question: str, service: str | None = None,
                 customer_type: str | None = None, lines: int | None = None,
                 language: str = "fr", support: Mapping[int, float] | None = None,
                 reason: str | None = None, asked: str | None = None, uncommitted: bool = False,
                 ) -> list[FactView]:
        """The facts answering `need`, best match to the question first; at most a handful. `support` (by
        `id(view)`) is the evidence beyond the fact's wording (retrieval, router) added to its similarity.
        `asked` is the kind of figure the question itself asks for (a date, a duration), when it says so;
        `uncommitted`, that the customer says no commitment is running.
        The case of the reason the customer gave (moving abroad...) leads: it is the rule that applies to them."""
        views = self._by_operator.get(operator, [])
        question = self._without_services(operator, question)
        picked = self.candidates(operator, service, customer_type, lines, views=[v for v in views if serves(need, v)],
                                 reason=reason)
        # the customer's case leads: the reason they leave, a contract without (or past) its commitment
        first = [v for v in picked if v.selector == "reason_case" or (uncommitted and v.extra.get("no_commitment"))]
        rest = [v for v in picked if v not in first]
        return [*first, *self._rank(rest, question, need, "fee:*" in need.facts, language, support or {}, asked)]

    def question_text(self, operator: str, question: str) -> str:
        return self._without_services(operator, question)

    def lexical(self, views: Sequence[FactView], question: str, language: str) -> list[float]:
        """Share of the question's content words (stems, stop words out) found in each fact's label and summary."""
        q = self._content_stems(question, language)
        if not q:
            return [0.0] * len(views)
        return [len(q & self._fact_words(v, language)) / len(q) for v in views]

    def _content_stems(self, text: str, language: str) -> set[str]:
        """The stems of a text's words, less those that say nothing about which fact is meant."""
        return {s for tok in stem_tokens(text, language) for s in tok} - self._stop

    def names(self, view: FactView, question: str, language: str) -> bool:
        """The question names the fact: one of its content words (not "combien", "frais") is in the fact's label,
        summary or the questions it answers. A generic need ("how much is X?") with no such word asks for an X the
        terms do not price, however close the embeddings of two fee questions are."""
        q = {s for s in self._content_stems(question, language) if len(s) > 2 and not s.isdigit()}
        if not q:
            return True
        key = (id(view), "asks")
        if key not in self._words:
            text = " ".join([view.text("fr"), view.text("en"), *view.fact.asks])
            self._words[key] = frozenset().union(*(self._content_stems(text, lang) for lang in ("fr", "en")))
        return bool(q & self._words[key])

    def _fact_words(self, view: FactView, language: str) -> frozenset[str]:
        key = (id(view), language)
        if key not in self._words:  # facts never change while the process runs: stem each once
            self._words[key] = frozenset(self._content_stems(view.text(language), language))
        return self._words[key]

    def _rank(self, views: list[FactView], question: str, need: Need, wildcard: bool,
              language: str, support: Mapping[int, float], asked: str | None = None) -> list[FactView]:
        """Order facts by the question's words found in their labels and summaries; for a generic need
        ("which fee?") keep only facts the question actually names."""
        q = self._content_stems(question, language)
        scored = []
        for i, v in enumerate(views):  # label and summary, stemmed once per process
            scored.append((len(q & self._fact_words(v, language)), -i, v))
        scored.sort(key=lambda x: (-x[0], -x[1]))
        if wildcard:
            return self._pick_one(views, question, language, scored, support)
        if self._embed is None or len(views) <= 1:
            return [v for _, _, v in scored][:4]
        sims = self.similarities(views, question, language)
        if self._centroid is not None:  # a generic question ("je veux résilier") gets the need's main fact
            centre = self._centroid(need.id)
            if centre is not None:
                sims = sims + self._need_weight * np.array([float(self._label_vectors[v.text(language)] @ centre)
                                                            for v in views])
                sims = sims / (1 + self._need_weight)
        if self._keyword_hits is not None:  # a fact that speaks the need's own words is its main answer
            sims = sims + self._keyword_bonus * np.array([min(self._keyword_hits(need.id, v.text("fr")), 3)
                                                          for v in views])
        sims = sims + np.array([support.get(id(v), 0.0) for v in views])
        # the kind of fact the answer type calls for first (a procedure is told by a summary, an amount or a
        # duration by a figure), then the closest to the question; a fact far behind the best is off topic
        # a fact the need names by its selector (its early-termination rule, its notice) is the need's own
        # a question that says which kind of figure it wants ("within how many days?") outranks the need's usual kind
        kind_first = ([_fits(v, asked, language) for v in views] if asked else
                      [v.selector in need.facts or _fits(v, need.answer, language) for v in views])
        order = sorted(range(len(views)), key=lambda i: (not kind_first[i], -sims[i]))
        best = max(sims[i] for i in order if kind_first[i] == kind_first[order[0]])
        kept = [i for i in order if sims[i] >= best - self._margin * 1.5]
        # among facts about equally close to the question, one that states its answer leads one that does not
        close = [i for i in kept if kind_first[i] == kind_first[kept[0]] and sims[i] >= best - self._margin]
        close.sort(key=lambda i: (views[i].status == FactStatus.NOT_STATED, -sims[i]))  # two figures answer too
        return _first_kinds([views[i] for i in [*close, *(i for i in kept if i not in close)]])

    def is_clearly_about(self, views: list[FactView], question: str, language: str) -> bool:
        """The first fact is closer to the question than a generic need requires of the fact it picks (by one
        margin: this fact answers a need the router did not choose)."""
        if not views or self._embed is None:
            return False
        return float(self.similarities(views[:1], question, language)[0]) >= self._min_similarity + self._margin

    def similarities(self, views: list[FactView], question: str, language: str) -> np.ndarray:
        """Per fact, the cosine of the question with its label and summary, or with the closest of the questions
        it answers (`asks`) less `ask_offset`: two questions are more alike than a question and a statement."""
        assert self._embed is not None
        matrix, owners, offsets = self._stacked(views, language)
        q = self._embed([figureless(question)])[0]
        best = np.full(len(views), -np.inf)
        np.maximum.at(best, owners, matrix @ q - offsets)  # per fact, its closest text
        return best

    def _stacked(self, views: list[FactView], language: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One matrix of every text a list of facts is compared by (label and summary, then its `asks`), the
        fact each row belongs to and the row's offset: a turn compares a question with hundreds of facts several
        times, row by row that was the slowest part of a turn. Kept per list (operators' candidate lists recur)."""
        key = (language, tuple(id(v) for v in views))
        if key not in self._stacks:
            texts, owners, offsets = [], [], []
            for i, v in enumerate(views):
                for n, text in enumerate([v.text(language), *v.fact.asks]):
                    texts.append(text)
                    owners.append(i)
                    offsets.append(self._ask_offset if n else 0.0)
            self._embed_labels(texts)
            if len(self._stacks) >= 256:  # candidate lists vary with service and customer type: bounded
                self._stacks.pop(next(iter(self._stacks)))
            matrix = np.asarray([self._label_vectors[t] for t in texts]) if texts else np.zeros((0, 1))
            # the views themselves are kept with their matrix: while the entry lives, no other view can take an id
            self._stacks[key] = (matrix, np.asarray(owners, dtype=int), np.asarray(offsets), tuple(views))
        matrix, owners, offsets, _ = self._stacks[key]
        return matrix, owners, offsets

    def _pick_one(self, views: list[FactView], question: str, language: str,
                  scored: list[tuple[int, int, FactView]], support: Mapping[int, float]) -> list[FactView]:
        """A generic need ("what does this cost?") names one fact among many: the fact whose label is closest
        to the question, only when it is close enough and clearly ahead of the next one; else none (abstain).
        Without an embedding model, the facts sharing the most words with the question."""
        if self._embed is None:
            best = scored[0][0] if scored else 0
            return [v for o, _, v in scored if best and o == best][:3]
        if not views:
            return []
        labels = [v.label(language) for v in views]
        raw = self.similarities(views, question, language)
        # closeness in words decides whether any fee is meant; the evidence (retrieval) which one leads
        sims = raw + np.array([support.get(id(v), 0.0) for v in views])
        order = np.argsort(-sims)
        top = int(order[0])
        runner_up = next((int(i) for i in order[1:] if labels[int(i)] != labels[top]), None)
        gap = sims[top] - sims[runner_up] if runner_up is not None else 1.0
        if raw[top] < self._min_similarity or not self.names(views[top], question, language):
            return []
        if gap >= self._margin:
            return [views[top]]
        # two facts equally close: both when the question is clearly about them, else none (abstain)
        if runner_up is not None and sims[top] >= self._min_similarity + self._margin:
            return [views[top], views[runner_up]]
        return []
