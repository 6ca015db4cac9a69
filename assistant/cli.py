"""`assistant ingest | retrieve | corpus | rules draft | calc | ask | chat | serve | eval`.

Every user error ends as one line on stderr naming the problem and a non-zero exit, never a traceback.
Questions, from an argument or from `ask --jsonl`, pass the same input gate as the web app and the API
(assistant/validation.py): a question that is not valid UTF-8, is binary, empty or over the length limit is
refused with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from assistant.config import Settings, get_settings
from assistant.errors import AssistantError
from assistant.validation import check_message, field_problem, has_lone_surrogate

MAX_OPERATOR_CHARS = 100


class InvalidInput(AssistantError):
    """A command-line question or name the input gate refused."""


def _checked_question(question: str | None, what: str = "the question", *, empty_ok: bool = False) -> str | None:
    """The gated question; `empty_ok` passes an empty one on for the command to name in its own words."""
    if question is None:
        return None
    checked = check_message(question)
    if checked.rejection == "empty" and empty_ok:
        return question
    if checked.rejection:
        raise InvalidInput(checked.explanation.replace("the message", what, 1))
    return checked.text


def _checked_operator(operator: str | None) -> str | None:
    problem = field_problem(operator, "--operator", MAX_OPERATOR_CHARS) if operator is not None else None
    if problem:
        raise InvalidInput(problem)
    return operator


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.index import ingest

    report = ingest(settings, rebuild=args.rebuild, progress=not args.quiet)
    if args.json:
        print(report.model_dump_json(indent=2))
    elif report.unchanged:
        print(f"index up to date: {report.chunks} chunks in {report.collection} ({report.seconds:.2f} s)")
    else:
        print(f"indexed {report.chunks} chunks into {report.collection}: {report.embedded} embedded, "
              f"{report.cached} from the embedding cache, {report.reused} reused, {report.removed} removed "
              f"({report.seconds:.1f} s, {report.embedding})")
    return 0


def _cmd_retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.index import Retriever

    question, operator = _checked_question(args.question, empty_ok=True), _checked_operator(args.operator)
    passages = Retriever(settings).retrieve(question, k=args.k, operator=operator)
    if args.json:
        print(json.dumps([{"rank": p.rank, "score": p.score, "doc_id": p.chunk.doc_id, "operator": p.chunk.operator,
                           "clause_id": p.chunk.clause_id, "part": p.chunk.part, "title": p.chunk.title,
                           "sources": p.sources, "text": p.chunk.text} for p in passages], ensure_ascii=False, indent=2))
        return 0
    for p in passages:
        where = f"{p.chunk.part}, " if p.chunk.part else ""
        print(f"#{p.rank} [{p.score:.4f}] {p.chunk.operator} — {where}{p.chunk.clause_id} {p.chunk.title}".rstrip())
        print("    " + " ".join(p.chunk.text.split())[:300])
    if not passages:
        print("no passage found")
    return 0


def _cmd_corpus(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.corpus import load_corpus_from

    corpus = load_corpus_from(settings.knowledge_dir)
    if args.coverage or args.health:
        return _corpus_checks(args, settings, corpus)
    rows = []
    for doc in corpus.documents.values():
        seg = doc.segmentation
        rows.append({"doc_id": doc.meta.doc_id, "operator": doc.meta.operator, "clauses": len(seg.clauses),
                     "chunks": len(doc.chunks), "parts": seg.parts, "collapsed_runs": seg.collapsed_runs,
                     "gaps": seg.gaps, "clauses_without_text": seg.empty})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Knowledge base")
    for col in ("document", "operator", "clauses", "chunks", "collapsed runs", "numbering gaps", "empty headings"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["doc_id"], r["operator"], str(r["clauses"]), str(r["chunks"]),
                      "\n".join(r["collapsed_runs"]) or "—", "\n".join(r["gaps"]) or "—",
                      str(len(r["clauses_without_text"])))
    Console().print(table)
    return 0


def _corpus_checks(args: argparse.Namespace, settings: Settings, corpus) -> int:
    """`corpus --coverage`: figure sentences quoted by the rules; `corpus --health`: the knowledge health check."""
    from assistant.tools.rules import load_rules

    rules = load_rules(settings.rules_dir)
    if args.coverage:
        from assistant.corpus.coverage import EXCLUSIONS_FILE, load_exclusions, measure

        report = measure(corpus, rules, load_exclusions(settings.knowledge_dir / EXCLUSIONS_FILE))
        if args.json:
            print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        else:
            from assistant.corpus.report import print_coverage

            print_coverage(report)
        return 0
    from assistant.corpus.health import check

    health = check(corpus, rules)
    if args.json:
        print(json.dumps({"counts": health.counts(), "findings": health.model_dump()["findings"]},
                         ensure_ascii=False, indent=2))
    else:
        from assistant.corpus.report import print_health

        print_health(health)
    return 0


def _cmd_rules_draft(args: argparse.Namespace, settings: Settings) -> int:
    """`rules draft DOC`: a draft rules file (candidate open facts for every figure sentence) for review."""
    from assistant.corpus.draft import draft_rules, load_draft_document
    from assistant.errors import CorpusError

    for value, what in ((args.doc, "the document"), (args.out and str(args.out) or "", "--out")):
        if has_lone_surrogate(value):
            raise InvalidInput(f"{what} is not valid UTF-8 text")
    operator = _checked_operator(args.operator)
    document = load_draft_document(args.doc, settings.knowledge_dir, operator)
    draft = draft_rules(document, settings.knowledge_dir / "needs.yaml", operator)
    text = draft.to_yaml(document.meta.file)
    if args.out is None:
        print(text, end="")
        return 0
    out = args.out.resolve()
    if out.exists() and out.parent == settings.rules_dir.resolve():
        raise CorpusError(f"{args.out} is a rules file in use: write the draft elsewhere and review it before it "
                          f"replaces anything")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CorpusError(f"cannot write {args.out}: {exc.strerror}") from exc
    amounts = sum(f.figure.kind == "amount" for f in draft.facts)
    print(f"wrote {args.out}: {len(draft.facts)} draft facts ({amounts} amounts) from {draft.figure_sentences} "
          f"figure sentences of {draft.doc_id}; {len(draft.unread)} without a readable figure", file=sys.stderr)
    return 0


def _cmd_calc(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.tools.cli import list_calculators, run_calc

    if args.list or not args.tool:
        print(list_calculators())
        return 0
    for value, what in ((args.tool, "the calculator name"), (args.payload or "", "the calculator input")):
        if has_lone_surrogate(value):
            raise InvalidInput(f"{what} is not valid UTF-8 text")
    return run_calc(args.tool, args.payload or "{}", args.json)


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.agent.cli import run_ask

    if args.jsonl is not None:
        from assistant.jsonl_input import run_checked_jsonl

        return run_checked_jsonl(args.jsonl, args.out, settings)
    question, operator = _checked_question(args.question), _checked_operator(args.operator)
    return run_ask(question, operator, args.json, None, args.out, settings)


def _cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.agent.cli import run_chat

    return run_chat(settings)


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.ui.server import serve

    if args.port:
        settings = settings.model_copy(update={"port": args.port})
    serve(settings)
    return 0


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    if args.target == "figures":
        from assistant.evaluation.figures import main as figures_main

        return figures_main(["--check"] if args.check else [])
    if args.target == "retrieval":
        from assistant.evaluation.retrieval import run_retrieval_cli

        return run_retrieval_cli(settings, args.dataset, args.out)
    from assistant.evaluation.cli import run_eval

    return run_eval(args.dataset, args.mode, args.out, settings, subset=args.subset, gate=args.gate,
                    baselines=args.baselines, progress=not args.no_progress, split=args.split,
                    via_api=args.via_api, api_key=args.api_key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="build or refresh the vector index")
    p.add_argument("--rebuild", action="store_true", help="re-embed everything into a new collection")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("retrieve", help="show the passages retrieved for a question")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=None)
    p.add_argument("--operator")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_retrieve)

    p = sub.add_parser("corpus", help="per document: clauses, chunks, collapsed runs, numbering gaps")
    p.add_argument("--json", action="store_true")
    check = p.add_mutually_exclusive_group()
    check.add_argument("--coverage", action="store_true",
                       help="share of the sentences stating an amount, a duration or a percentage that a rules "
                            "quote covers (knowledge/coverage_exclusions.yaml: sentences left out on purpose)")
    check.add_argument("--health", action="store_true",
                       help="numbering gaps, repeated runs, references to missing articles, empty headings, "
                            "price-list pointers, conflicting figures")
    p.set_defaults(func=_cmd_corpus)

    p = sub.add_parser("rules", help="rules-file authoring: `rules draft DOC` drafts a rules file from a document")
    rules_sub = p.add_subparsers(dest="rules_command", required=True)
    d = rules_sub.add_parser("draft", help="draft a rules file (one candidate fact per figure of the text) for review")
    d.add_argument("doc", help="a document id of the manifest, or the path of a T&C text file")
    d.add_argument("--operator", help="the operator's name (default: the manifest's; required for a file outside it)")
    d.add_argument("--out", type=Path, help="where to write the draft YAML (default: stdout)")
    d.set_defaults(func=_cmd_rules_draft)

    p = sub.add_parser("calc", help="run a calculator: assistant calc <tool> '<json input>' [--json]")
    p.add_argument("tool", nargs="?")
    p.add_argument("payload", nargs="?", help="the calculator input as a JSON object")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--list", action="store_true", help="list the calculators and their inputs")
    p.set_defaults(func=_cmd_calc)

    p = sub.add_parser("ask", help="ask one question, or a JSONL file of questions")
    p.add_argument("question", nargs="?")
    p.add_argument("--operator")
    p.add_argument("--json", action="store_true")
    p.add_argument("--jsonl", type=Path, help='input lines {"id","question","operator"?,"history"?}')
    p.add_argument("--out", type=Path, help="where to write the replies (default: stdout)")
    p.set_defaults(func=_cmd_ask)

    p = sub.add_parser("chat", help="terminal conversation")
    p.set_defaults(func=_cmd_chat)

    p = sub.add_parser("serve", help="start the web app and the HTTP API")
    p.add_argument("--port", type=int)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("eval", help="run the evaluation set (or `eval retrieval`) and write a report; "
                                    "`eval figures` writes the README's figures from the committed reports")
    p.add_argument("target", nargs="?", choices=["all", "retrieval", "figures"], default="all")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--split", choices=["blind", "dev", "tune"],
                       help="dev = eval/dataset.jsonl (default, report in eval/reports/latest); tune = "
                            "eval/tune_a.jsonl + tune_b + tune_c + tune_d (eval/reports/tune); blind = "
                            "eval/blind_a.jsonl + eval/blind_b.jsonl (report in eval/reports/blind)")
    which.add_argument("--dataset", type=Path, help="run only this dataset file")
    p.add_argument("--mode", choices=["offline", "llm"], default="offline")
    p.add_argument("--out", type=Path)
    p.add_argument("--subset", help="a named subset, e.g. ci")
    p.add_argument("--gate", type=Path, help="thresholds file: fail (exit 1) when a metric is below")
    p.add_argument("--baselines", action=argparse.BooleanOptionalAction, default=None,
                   help="also measure the retrieval baselines (a few minutes; off unless asked)")
    p.add_argument("--via-api", metavar="URL", help="send the items through the HTTP API of the app running at "
                                                    "URL (e.g. http://127.0.0.1:7860): the served path is measured")
    p.add_argument("--api-key", help="API key for --via-api (default $ASSISTANT_EVAL_API_KEY; an agent key)")
    p.add_argument("--check", action="store_true", help="eval figures: only check README.md (exit 1 if stale)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        return func(args, get_settings())
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: one line, never a traceback for a user
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
