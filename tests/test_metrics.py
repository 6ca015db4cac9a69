"""Metrics, aggregation, diff, gate and report on synthetic replies: no model, no index, no network."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from assistant.evaluation.dataset import EvalItem
from assistant.evaluation.diff import comparable, diff_runs
from assistant.evaluation.gate import check_gate
from assistant.evaluation.metrics import (
    MRR,
    AnswerCorrect,
    CitationPrecision,
    CitationRecall,
    FigureStated,
    HitAtK,
    LanguageMatch,
    MetricContext,
    NoWrongPhrase,
    NumericExact,
    QuotesVerified,
    Sample,
    StatusAccuracy,
    TurnStatusAccuracy,
    answer_issues,
    own_text,
    percentile,
)
from assistant.evaluation.metrics.answer import missing_key_facts, normalise
from assistant.evaluation.metrics.numeric import dates_in_text, numbers_in_text, parse_number
from assistant.evaluation.report import write_report
from assistant.evaluation.runner import breakdown, evaluate, summarise
from assistant.models import Citation, PassageOut, Reply, ReplyStatus, ToolTrace

DOC = "003_px"
TEXT = "66. Indemnités ... jusqu'au terme de la période contractuelle en cours. 65. Le Client peut résilier."
CTX = MetricContext(doc_texts={DOC: TEXT})
QUOTE = "jusqu'au terme de la période contractuelle en cours"


def make_item(**kw) -> EvalItem:
    base = {"id": "t-1", "category": "early_termination_cost", "language": "fr", "question": "combien ?",
            "expected_status": "answered", "gold": [{"doc_id": DOC, "clause_id": "66", "quote": QUOTE}],
            "gold_number": "1080.00", "gold_unit": "EUR", "notes": "9 x 120", "wrong_phrases": ["720"]}
    base.update(kw)
    return EvalItem.model_validate(base)


def passage(clause: str, text: str = "autre texte", doc: str = DOC) -> PassageOut:
    return PassageOut(doc_id=doc, clause_id=clause, text=text, score=1.0)


def cite(clause: str, quote: str = QUOTE) -> Citation:
    return Citation(doc_id=DOC, operator="Proximus", clause_id=clause, quote=quote)


def reply(**kw) -> Reply:
    base = {"answer": "Indemnité : 1 080,00 € (9 x 120 €).", "language": "fr", "status": ReplyStatus.ANSWERED}
    base.update(kw)
    return Reply(**base)


def test_hit_at_k_and_mrr_by_quote_clause_and_child():
    item = make_item()
    by_quote = Sample(item, [reply(passages=[passage("12"), passage("40", f"... {QUOTE} ...")])])
    assert HitAtK(1).score(by_quote, CTX) == 0.0
    assert HitAtK(5).score(by_quote, CTX) == 1.0
    assert MRR().score(by_quote, CTX) == 0.5
    by_clause = Sample(item, [reply(passages=[passage("66")])])
    assert HitAtK(1).score(by_clause, CTX) == 1.0
    child = Sample(make_item(gold=[{"doc_id": DOC, "clause_id": "8.5", "quote": QUOTE}]),
                   [reply(passages=[passage("1"), passage("2"), passage("8.5.12")])])
    assert MRR().score(child, CTX) == pytest.approx(1 / 3)
    not_child = Sample(make_item(gold=[{"doc_id": DOC, "clause_id": "8.5", "quote": QUOTE}]),
                       [reply(passages=[passage("8.51")])])
    assert HitAtK(5).score(not_child, CTX) == 0.0
    wrong_doc = Sample(item, [reply(passages=[passage("66", doc="other")])])
    assert MRR().score(wrong_doc, CTX) == 0.0


def test_retrieval_metrics_skip_items_without_gold():
    item = make_item(category="injection", expected_status="refused", gold=[], gold_number=None, gold_unit=None)
    assert HitAtK(5).score(Sample(item, [reply()]), CTX) is None


def test_citation_precision_recall_and_quote_verification():
    item = make_item(gold=[{"doc_id": DOC, "clause_id": "66", "quote": QUOTE},
                           {"doc_id": DOC, "clause_id": "65", "quote": "Le Client peut résilier."}])
    s = Sample(item, [reply(citations=[cite("66"), cite("12", "texte inventé")])])
    assert CitationPrecision().score(s, CTX) == 0.5
    assert CitationRecall().score(s, CTX) == 0.5
    assert QuotesVerified().score(s, CTX) == 0.5
    none_cited = Sample(item, [reply()])
    assert CitationPrecision().score(none_cited, CTX) == 0.0
    assert QuotesVerified().score(none_cited, CTX) is None


def test_first_paragraph_and_part_are_compared_leniently():
    item = make_item(gold=[{"doc_id": DOC, "clause_id": "57 §1", "part": "Service de téléphonie fixe",
                            "quote": QUOTE}])
    c = Citation(doc_id=DOC, operator="x", clause_id="57", part="Service de telephonie fixe", quote=QUOTE)
    assert CitationRecall().score(Sample(item, [reply(citations=[c])]), CTX) == 1.0


@pytest.mark.parametrize(("token", "value"), [("1 080,00", "1080.00"), ("1,080.00", "1080.00"), ("12,36", "12.36"),
                                              ("2.500", "2500"), ("270", "270"), ("1\u202f602", "1602")])
def test_parse_number_formats(token, value):
    assert parse_number(token) == Decimal(value)


def test_numbers_and_dates_in_text():
    assert Decimal("299.40") in numbers_in_text("vous devez 299,40 € (6 x 49,90 €)")
    assert Decimal("49.90") in numbers_in_text("vous devez 299,40 € (6 x 49,90 €)")
    assert [d.isoformat() for d in dates_in_text("au plus tard le 02/05/2025 ou 2025-07-03")] == ["2025-05-02",
                                                                                                "2025-07-03"]


def test_numeric_exact_from_text_tools_and_dates():
    item = make_item()
    assert NumericExact().score(Sample(item, [reply()]), CTX) == 1.0
    assert NumericExact().score(Sample(item, [reply(answer="Indemnité : 1 080,01 €")]), CTX) == 0.0
    tool = ToolTrace(name="early_termination", output={"amount": "1080", "currency": "EUR"})
    assert NumericExact().score(Sample(item, [reply(answer="voir calcul", tools=[tool])]), CTX) == 1.0
    dated = make_item(gold_number=None, gold_unit="date", gold_date="2025-05-02")
    assert NumericExact().score(Sample(dated, [reply(answer="avant le 02/05/2025")]), CTX) == 1.0
    assert NumericExact().score(Sample(dated, [reply(answer="avant le 03/05/2025")]), CTX) == 0.0
    assert NumericExact().score(Sample(make_item(gold_number=None, gold_unit=None), [reply()]), CTX) is None
    assert NumericExact().score(Sample(item, []), CTX) == 0.0


def test_status_language_turns_and_wrong_phrases():
    item = make_item(question=None, turns=["je veux résilier", "Proximus, 8 numéros..."],
                     turn_expectations=[{"status": "clarify"}, {"status": "answered"}])
    good = Sample(item, [reply(status=ReplyStatus.CLARIFY, answer="Quel opérateur ?"), reply()])
    assert StatusAccuracy().score(good, CTX) == 1.0
    assert TurnStatusAccuracy().score(good, CTX) == 1.0
    assert LanguageMatch().score(good, CTX) == 1.0
    assert NoWrongPhrase().score(good, CTX) == 1.0
    bad = Sample(item, [reply(), reply(answer="Vous devez 720 €", language="en", status=ReplyStatus.NOT_FOUND)])
    assert StatusAccuracy().score(bad, CTX) == 0.0
    assert TurnStatusAccuracy().score(bad, CTX) == 0.0
    assert LanguageMatch().score(bad, CTX) == 0.0
    assert NoWrongPhrase().score(bad, CTX) == 0.0


def test_percentile_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([10, 20, 30, 40], 50) == 20
    assert percentile(list(range(1, 101)), 95) == 95


class FakeAssistant:
    """Answers from a script; a missing entry raises to check that one failing item never stops the run."""

    def __init__(self, script: dict[str, Reply]):
        self.script = script
        self.sessions: list[str | None] = []

    def ask(self, question, session_id=None, operator=None):
        self.sessions.append(session_id)
        return self.script[question].model_copy()


def _run(script: dict[str, Reply], items: list[EvalItem]):
    fake = FakeAssistant(script)
    return fake, evaluate(fake, items, CTX, progress=False)


def test_runner_sessions_errors_and_summary():
    items = [make_item(), make_item(id="t-2", question=None, turns=["a?", "b?"], language="en"),
             make_item(id="t-3", question="boom")]
    script = {"combien ?": reply(latency_ms=100.0, passages=[passage("66")], citations=[cite("66")]),
              "a?": reply(status=ReplyStatus.CLARIFY, latency_ms=50.0),
              "b?": reply(language="en", answer="1,080.00 EUR", latency_ms=70.0)}
    fake, results = _run(script, items)
    assert fake.sessions[1] == fake.sessions[2] != fake.sessions[0]  # one session per item, kept across turns
    by_id = {r.id: r for r in results}
    assert by_id["t-1"].passed and by_id["t-2"].passed
    assert by_id["t-3"].error and not by_id["t-3"].passed
    assert by_id["t-2"].latency_ms == 120.0
    summary = summarise(results)
    # per item the two turns add up (120 ms); per answer each turn counts on its own (50, 70, 100 ms)
    assert summary["latency_p95_ms"] == 120.0 and summary["answer_p95_ms"] == 100.0
    assert summary["answer_p50_ms"] == 70.0
    assert summary["n"] == 3 and summary["passed"] == 2 and summary["errors"] == 1
    assert summary["status_accuracy"] == pytest.approx(2 / 3, abs=1e-3)
    assert summary["hit@1_n"] == 3
    assert set(breakdown(results, "language")) == {"fr", "en"}


def test_diff_gate_and_report_files(tmp_path):
    items = [make_item(), make_item(id="t-2")]
    good = reply(passages=[passage("66")], citations=[cite("66")])
    _, before = _run({"combien ?": good}, items)
    previous = {"items": [r.to_json() for r in before], "summary": {"overall": summarise(before)}}
    _, now = _run({"combien ?": reply(answer="720 €")}, items[:1])
    summary = summarise(now)
    diff = diff_runs(previous, "test", now, summary)
    assert [r["id"] for r in diff.regressions] == ["t-1"] and diff.removed_items == ["t-2"]
    failures = check_gate({"min": {"status_accuracy": 0.9, "numeric_exact": 0.9}, "regressions": {"max": 0}},
                          summary, diff)
    assert len(failures) == 2  # numeric floor + one regression; status is still right
    fixed = diff_runs({"items": [r.to_json() for r in now]}, "test", before, summarise(before))
    assert [r["id"] for r in fixed.fixes] == ["t-1"]
    files = write_report(tmp_path, {"mode": "offline"}, summary, breakdown(now, "category"),
                         breakdown(now, "language"), now, diff, {"systems": {"bm25": {"hit@5": 0.5}}}, "")
    md = files["md"].read_text(encoding="utf-8")
    assert "Regressions (1)" in md and "t-1" in md and "bm25" in md
    assert "<table>" in files["html"].read_text(encoding="utf-8")
    assert files["categories_png"].stat().st_size > 0 and files["latency_png"].stat().st_size > 0
    assert json.loads(files["results"].read_text(encoding="utf-8"))["items"][0]["id"] == "t-1"


def test_durations_spelt_out_count_as_numbers():
    assert Decimal("1") in numbers_in_text("le préavis est d'un mois")
    assert Decimal("3") in numbers_in_text("un préavis de trois (3) mois")
    assert Decimal("14") in numbers_in_text("within fourteen days")
    assert Decimal("1") not in numbers_in_text("un client a écrit")


def test_report_number_format_keeps_integer_zeros():
    from assistant.evaluation.report import fmt

    assert fmt(730.4, 0) == "730" and fmt(0.500, 3) == "0.5" and fmt(1.0) == "1" and fmt(None) == "–"


# --------------------------------------------------------------------------- answer_correct (strict rule)

OWN = "Indemnité : 1 080,00 € (9 x 120 €), non soumise à la TVA."


def strict(item: EvalItem, **kw) -> tuple[float | None, list[str]]:
    base = {"answer": OWN, "citations": [cite("66")]}
    base.update(kw)
    sample = Sample(item, [reply(**base)])
    return AnswerCorrect().score(sample, CTX), answer_issues(sample)


def test_own_text_drops_block_quotes_guillemets_curly_and_straight_quotes():
    text = ('Le préavis est d\'un mois.\n> « trois mois »\n— art. 12, *CMI – Conditions*\n'
            'Le texte dit « deux mois », “six months” et "dix jours" ; fin.')
    own = own_text(text)
    assert "un mois" in own and "fin." in own
    for quoted in ("trois", "deux", "six", "dix", "CMI"):
        assert quoted not in own


@pytest.mark.parametrize("written", ["1 080,00", "1080,00", "1,080.00", "1080", "1.080,00", "1\u202f080,00 €"])
def test_key_fact_figures_ignore_separators(written):
    assert normalise(written).split()[0] == "1080"
    assert missing_key_facts(f"Vous devez {written}.", [["1080"]]) == []
    assert missing_key_facts(f"Vous devez {written}.", [["1 080,00"]]) == []


def test_key_facts_are_prefixes_and_accent_case_whitespace_insensitive():
    assert missing_key_facts("Par LETTRE RECOMMANDÉE   signée.", [["recommande"], ["sign"]]) == []
    assert missing_key_facts("50 % du solde, 30jours", [["50%"], ["30 jours"]]) == []
    assert missing_key_facts("déconseillé", [["conseil"]]) == [["conseil"]]  # a word must start there
    assert missing_key_facts("nonobstant", [["non"]]) == [["non"]]  # three letters or less: a whole word
    assert missing_key_facts("1 180,00 €", [["180"]]) == [["180"]]  # a figure inside another figure
    assert missing_key_facts("It doesn't state it.", [["n't state"]]) == []


def test_answer_correct_passes_a_clean_grounded_reply():
    assert strict(make_item()) == (1.0, [])
    kf = make_item(key_facts=[["1080"], ["TVA", "VAT"]])
    assert strict(kf) == (1.0, [])


def test_answer_correct_each_check_fails_on_its_own():
    item = make_item(key_facts=[["1080"], ["TVA"]])
    assert strict(item, status=ReplyStatus.NOT_FOUND)[1] == ["status not_found (expected answered)"]
    score, issues = strict(item, answer="Voir ci-dessous.\n> « 1 080,00 € non soumise à la TVA »")
    assert score == 0.0 and issues == ["key fact missing: 1080", "key fact missing: TVA"]  # only quoted
    assert strict(item, citations=[cite("12")])[1] == ["no gold clause cited"]
    assert strict(item, citations=[])[1] == ["no gold clause cited"]
    score, issues = strict(item, answer=OWN + "\nRègle : remaining_periods")
    assert score == 0.0 and issues == ["internal tokens: remaining_periods"]
    assert AnswerCorrect().score(Sample(item, [], error="boom"), CTX) == 0.0


def test_answer_correct_falls_back_to_the_gold_figure_outside_quotes():
    item = make_item()  # no key facts: gold_number 1080.00
    assert strict(item, answer="Le calcul donne 1 080 €.")[0] == 1.0
    assert strict(item, answer="Voir : « 1 080,00 € »")[1] == ["figure not stated: 1080.00"]
    tool = ToolTrace(name="early_termination", output={"amount": "1080"})
    assert strict(item, answer="Voir le calcul.", tools=[tool])[0] == 0.0  # a tool output is not a statement
    dated = make_item(gold_number=None, gold_unit="date", gold_date="2025-05-02")
    assert strict(dated, answer="au plus tard le 02/05/2025")[0] == 1.0
    assert strict(dated, answer="> au plus tard le 02/05/2025")[0] == 0.0
    plain = make_item(gold_number=None, gold_unit=None)  # nothing to state: status + citation + hygiene
    assert strict(plain, answer="Oui, c'est prévu à l'article 66.")[0] == 1.0


def test_answer_correct_needs_no_citation_for_refusals_and_uses_the_last_turn():
    refused = make_item(category="injection", expected_status="refused", gold=[], gold_number=None,
                        gold_unit=None, key_facts=[])
    assert strict(refused, status=ReplyStatus.REFUSED, answer="Je ne peux pas faire cela.", citations=[])[0] == 1.0
    dialogue = make_item(question=None, turns=["résilier ?", "Proximus"], key_facts=[["1080"]])
    s = Sample(dialogue, [reply(status=ReplyStatus.CLARIFY, answer="Quel opérateur ?"),
                          reply(answer=OWN, citations=[cite("66")])])
    assert AnswerCorrect().score(s, CTX) == 1.0


def test_figure_stated_applies_to_gold_numbers_only():
    item = make_item()
    assert FigureStated().score(Sample(item, [reply()]), CTX) == 1.0
    assert FigureStated().score(Sample(item, [reply(answer="> « 1 080,00 € »")]), CTX) == 0.0
    assert FigureStated().score(Sample(item, []), CTX) == 0.0
    dated = make_item(gold_number=None, gold_unit="date", gold_date="2025-05-02")
    assert FigureStated().score(Sample(dated, [reply()]), CTX) is None


def test_runner_records_strict_issues_and_breakdowns(tmp_path):
    items = [make_item(), make_item(id="t-2", persona="agent", question=None, turns=["a?", "b?"]),
             make_item(id="t-3", question="c?", language="en")]
    script = {"combien ?": reply(citations=[cite("66")]), "a?": reply(status=ReplyStatus.CLARIFY),
              "b?": reply(citations=[cite("66")]),
              "c?": reply(language="en", answer="Fee: 1,080.00 EUR, tax basis: none", citations=[cite("66")])}
    _, results = _run(script, items)
    by_id = {r.id: r for r in results}
    assert by_id["t-1"].scores["answer_correct"] == 1.0 and by_id["t-2"].dialogue
    assert by_id["t-3"].answer_issues == ["internal tokens: none"]
    summary = summarise(results)
    assert summary["answer_correct"] == pytest.approx(2 / 3, abs=1e-3) and summary["figure_stated"] == 1.0
    files = write_report(tmp_path, {"mode": "offline"}, summary, breakdown(results, "category"),
                         breakdown(results, "language"), results, diff_runs(None, "none", results, summary), None, "")
    md = files["md"].read_text(encoding="utf-8")
    head = md.split("## Overall")[0]
    assert "## Answer correctness (strict)" in head and "**answer_correct: 66.7% (2/3)**" in head
    for group in ("| language | en |", "| persona | agent |", "| kind | dialogue |"):
        assert group in head
    saved = json.loads(files["results"].read_text(encoding="utf-8"))
    assert set(saved["summary"]) >= {"by_persona", "by_kind"}
    assert saved["items"][2]["answer_issues"] == ["internal tokens: none"]


def test_diff_only_against_the_same_dataset():
    items = [make_item()]
    _, before = _run({"combien ?": reply(citations=[cite("66")])}, items)
    _, now = _run({"combien ?": reply(answer="720 €")}, items)
    meta = {"dataset": "eval/dataset.jsonl", "dataset_sha256": "abc"}
    previous = {"meta": dict(meta), "items": [r.to_json() for r in before], "summary": {"overall": {}}}
    assert len(diff_runs(previous, "prev", now, summarise(now), meta).regressions) == 1
    other = {**previous, "meta": {"dataset": "eval/blind_a.jsonl + eval/blind_b.jsonl"}}
    diff = diff_runs(other, "prev", now, summarise(now), meta)
    assert not diff.has_previous and "another dataset" in diff.note
    assert not diff_runs({**previous, "meta": {}}, "prev", now, summarise(now), meta).has_previous
    edited = comparable({**previous, "meta": {**meta, "dataset_sha256": "old"}}, meta)  # same file, edited
    assert not edited[0] and "another dataset" in edited[1]
    moved = {**previous, "meta": {**meta, "dataset": "/tmp/copy.jsonl"}}  # same content elsewhere
    assert comparable(moved, meta)[0]
    assert comparable({**previous, "meta": {"dataset": "eval/dataset.jsonl"}}, meta)[0]  # a report without hash
    assert not check_gate({"regressions": {"max": 0}}, summarise(now), diff)


def test_eval_cli_splits_report_dirs_and_dataset_labels(tmp_path):
    from assistant.config import get_settings
    from assistant.evaluation import cli
    from assistant.evaluation.dataset import BLIND_DATASETS, DEFAULT_DATASET

    settings = get_settings()
    assert cli._default_out("dev", None, settings) == cli.DEFAULT_REPORT_DIR
    assert cli._default_out("blind", None, settings) == cli.ROOT / "eval" / "reports" / "blind"
    assert cli._default_out("blind", "calculation", settings).name == "blind-calculation"
    assert cli._default_out(None, None, settings).name == "custom"
    assert cli.dataset_label([DEFAULT_DATASET]) == "eval/dataset.jsonl"
    assert cli.dataset_label(list(BLIND_DATASETS)) == "eval/blind_a.jsonl + eval/blind_b.jsonl"
    assert cli.dataset_label([tmp_path / "x.jsonl"]).endswith("x.jsonl")
    assert cli.run_eval(tmp_path / "x.jsonl", "offline", None, split="blind") == 2  # exclusive, nothing is run
    with pytest.raises(SystemExit):
        cli.main(["--split", "blind", "--dataset", "x.jsonl"])
