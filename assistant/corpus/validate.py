"""Refuse broken knowledge before anything is indexed: one line naming the file and the problem.

`check_knowledge(knowledge_dir)` loads the corpus (manifest, documents) and parses every rules file, then makes
the checks the rules tests make: every document yields clauses, every rules file validates and is named after
its operator, every quote is verbatim in its document and in the clause its id resolves to. The first problem
is raised as a `CorpusError` whose message is a single line; ingest calls this before it touches the index, so
a refused ingest leaves the serving collection as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from assistant.corpus.loader import Corpus, load_corpus_from
from assistant.errors import CorpusError

if TYPE_CHECKING:
    from assistant.tools.rules import OperatorRules


@dataclass
class KnowledgeCheck:
    corpus: Corpus
    rules_files: list[str] = field(default_factory=list)  # checked
    skipped_rules: list[str] = field(default_factory=list)  # operator without documents here: nothing to check


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _short(quote: str, n: int = 90) -> str:
    q = _one_line(quote)
    return repr(q if len(q) <= n else q[:n] + "…")


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~7x faster on the rules


def _read_yaml(path: Path) -> tuple[object, str | None]:
    """The parsed file, or why it is not YAML (with its line)."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER), None  # a safe loader
    except UnicodeDecodeError as exc:
        return None, f"is not UTF-8 text (byte {exc.start})"
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, f"is not valid YAML: {problem}" + (f" (line {mark.line + 1})" if mark else "")
    except OSError as exc:
        return None, f"is unreadable: {exc.strerror}"


def _parse_rules(path: Path) -> tuple[OperatorRules | None, str | None]:
    """Validate a rules file the way `parse_rules_file` does (same defaults, same messages), parsing it once."""
    from pydantic import ValidationError

    from assistant.tools.rules import OperatorRules, _fill_doc_ids, parse_rules_file

    raw, problem = _read_yaml(path)
    if problem:
        return None, problem
    if isinstance(raw, dict) and "doc_id" in raw:
        try:
            body = {k: v for k, v in raw.items() if not str(k).startswith("x-")}
            return OperatorRules.model_validate(_fill_doc_ids(body, raw["doc_id"])), None
        except ValidationError:
            pass
    try:  # the loader's own message for what does not validate
        return parse_rules_file(path), None
    except CorpusError as exc:
        message, prefix = _one_line(str(exc)), f"rules file {path.name}: "
        return None, message[len(prefix):] if message.startswith(prefix) else message


def check_knowledge(knowledge_dir: Path) -> KnowledgeCheck:
    try:
        corpus = load_corpus_from(knowledge_dir)
    except CorpusError as exc:
        raise CorpusError(_one_line(str(exc))) from exc
    for doc in corpus.documents.values():
        if not doc.clauses:
            raise CorpusError(f"document {doc.meta.file}: segmentation found no clause (no numbered article, "
                              f"no heading line): nothing could be cited")
    result = KnowledgeCheck(corpus)
    rules_dir = knowledge_dir / "rules"
    for path in sorted(rules_dir.glob("*.yaml")):
        problems = _rules_problems(corpus, path, result)
        if problems:
            more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
            raise CorpusError(_one_line(f"rules file {path.name}: {problems[0]}{more}"))
    return result


def _rules_problems(corpus: Corpus, path: Path, result: KnowledgeCheck) -> list[str]:
    from assistant.tools.rules import file_slug

    rules, problem = _parse_rules(path)
    if rules is None:
        return [problem or "does not validate"]
    operator = corpus.resolve_operator(rules.operator)
    if operator is None:
        result.skipped_rules.append(path.name)  # no document of this operator in the manifest: nothing to cite
        return []
    if path.stem != file_slug(rules.operator):
        return [f"the file of operator {rules.operator!r} must be named {file_slug(rules.operator)}.yaml"]
    problems: list[str] = []
    for src in rules.all_sources():
        doc = corpus.documents.get(src.doc_id)
        where = f"clause {src.part + ' › ' if src.part else ''}{src.clause_id}"
        if doc is None:
            problems.append(f"{where} cites unknown document {src.doc_id!r}")
        elif src.quote not in doc.text:
            problems.append(f"quote not in document {src.doc_id} ({where}): {_short(src.quote)}")
        elif (clause := corpus.find_clause(src.doc_id, src.clause_id, src.part)) is None:
            problems.append(f"{where} does not resolve in document {src.doc_id} (quote {_short(src.quote, 40)})")
        elif src.quote not in clause.text:
            problems.append(f"quote not in {where} of {src.doc_id}: {_short(src.quote)}")
    result.rules_files.append(path.name)
    return problems
