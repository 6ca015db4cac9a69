"""`assistant ask --jsonl` behind the shared input gate.

The JSONL loop itself is the agent's (`assistant.agent.cli._run_jsonl`: one Reply line per input line, same
id). This module puts the gate of assistant/validation.py in front of it without changing that loop:

- the file is read as bytes; a line that is not valid UTF-8 is decoded the way Python decodes command-line
  arguments (undecodable bytes become lone surrogates), so the gate refuses the question it carries as
  "not valid UTF-8 text" instead of the whole run stopping on a UnicodeDecodeError;
- every question (and every `history` message) goes through `check_message` before it reaches the
  assistant: a refused one gets a reply line `invalid input: <reason>` with status `clarify`, the other lines
  are answered as usual, and the command exits 1 with one summary line on stderr.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.models import Reply, ReplyStatus
from assistant.validation import check_message, field_problem, has_lone_surrogate

MAX_OPERATOR_CHARS = 100


class GuardedAssistant:
    """Wraps anything with the Assistant's `ask()`; refused input never reaches it."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.refused_sessions: set[str | None] = set()
        self._poisoned: dict[str, str] = {}  # session -> why an earlier (history) message was refused

    @property
    def refused(self) -> int:
        return len(self.refused_sessions)

    def ask(self, question: str | None, session_id: str | None = None, operator: str | None = None) -> Reply:
        checked = check_message(question)
        problem = checked.explanation if checked.rejection else None
        if problem is None and operator is not None:
            problem = field_problem(operator, "operator", MAX_OPERATOR_CHARS)
        if problem is None and session_id in self._poisoned:
            problem = self._poisoned[session_id]
        if problem is not None:
            self.refused_sessions.add(session_id)
            if session_id is not None:
                self._poisoned.setdefault(session_id, f"an earlier message of this line: {problem}")
            return Reply(answer=f"invalid input: {problem}", status=ReplyStatus.CLARIFY, session_id=session_id)
        return self.inner.ask(checked.text, session_id=session_id, operator=operator)


def _without_surrogates(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


def transcode_line(raw: bytes) -> str:
    """One input line as valid UTF-8 text that keeps what the gate must see.

    Valid lines come back unchanged. Otherwise undecodable bytes become lone surrogates (written as JSON
    escapes, so the file stays UTF-8); the `id` is cleaned instead (it is echoed in the output, which must
    stay valid UTF-8); a line that is not JSON even then stays invalid JSON and gets the loop's usual
    "invalid input" reply.
    """
    try:
        text = raw.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        text, valid = raw.decode("utf-8", errors="surrogateescape"), False
    try:
        item = json.loads(text)
    except (ValueError, RecursionError):
        return text if valid else _without_surrogates(text)
    if not isinstance(item, dict):
        return text if valid else _without_surrogates(text)
    item_id = item.get("id")
    if valid and not (isinstance(item_id, str) and has_lone_surrogate(item_id)):
        return text
    if isinstance(item_id, str):
        item["id"] = _without_surrogates(item_id)
    return json.dumps(item, ensure_ascii=True)


def run_checked_jsonl(jsonl_in: Path, out: Path | None, settings: Settings, assistant: Any = None) -> int:
    from assistant.agent.cli import _assistant, _run_jsonl

    if not jsonl_in.is_file():
        print(f"error: input file not found: {jsonl_in}", file=sys.stderr)
        return 2
    lines = [transcode_line(line) for line in jsonl_in.read_bytes().split(b"\n")]
    guard = GuardedAssistant(assistant if assistant is not None else _assistant(settings))
    with tempfile.TemporaryDirectory(prefix="assistant-jsonl-") as folder:
        checked = Path(folder) / "questions.jsonl"
        checked.write_text("\n".join(lines), encoding="utf-8")
        code = _run_jsonl(guard, checked, out)
    if guard.refused:
        print(f"error: {guard.refused} question(s) refused by the input check; their reply lines say why "
              "(status clarify, answer 'invalid input: ...')", file=sys.stderr)
        return code or 1
    return code
