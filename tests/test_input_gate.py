"""The one input gate (assistant/validation.py) and the entry points that use it: CLI argument, `ask --jsonl`.

The web chat, sidebar and API use the same `check_message` (tests/test_ui_units.py, tests/test_api_security.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import cli
from assistant.config import ROOT, Settings
from assistant.jsonl_input import GuardedAssistant, run_checked_jsonl, transcode_line
from assistant.models import Reply
from assistant.validation import MAX_MESSAGE_CHARS, check_message, field_problem

QUESTION = "Quel est le préavis de résiliation chez Proximus ?"


# --------------------------------------------------------------------------- the gate

@pytest.mark.parametrize("raw", [
    "pr\udce9avis Proximus",  # a Latin-1 "é" decoded with surrogateescape (how argv carries bad bytes)
    "préavis \ud800 Proximus",  # a lone high surrogate (e.g. a JSON "\ud800" escape)
    QUESTION + "\udfff",
    "pr\xe9avis".encode("latin-1"),  # raw bytes that are not UTF-8
])
def test_invalid_unicode_is_refused_not_stripped(raw: str | bytes) -> None:
    checked = check_message(raw)
    assert checked.rejection == "invalid_unicode" and checked.text == ""
    assert "UTF-8" in checked.explanation and "\n" not in checked.explanation


def test_bytes_that_are_utf8_pass() -> None:
    assert check_message(QUESTION.encode()).text == QUESTION


def test_invisible_and_control_characters_are_cleaned_and_text_is_nfc() -> None:
    raw = "\ufeffQuel est le pre\u0301avis\u200b de re\u0301siliation chez \u202eProximus\u202c ?\x1b"
    checked = check_message(raw)
    assert checked.rejection is None
    assert checked.text == "Quel est le préavis de résiliation chez Proximus ?"


def test_only_invisible_characters_is_empty() -> None:
    assert check_message("\u200b\u200e\ufeff").rejection == "empty"


@pytest.mark.parametrize(("raw", "rejection", "words"), [
    ("", "empty", "empty"),
    ("a" * (MAX_MESSAGE_CHARS + 1), "too_long", str(MAX_MESSAGE_CHARS)),
    ("\x00\x01\x02binary" * 10, "binary", "binary"),
])
def test_every_rejection_has_a_one_line_explanation(raw: str, rejection: str, words: str) -> None:
    checked = check_message(raw)
    assert checked.rejection == rejection and words in checked.explanation and "\n" not in checked.explanation


def test_the_length_limit_can_be_set_per_use() -> None:
    assert check_message("a" * 30, max_chars=20).rejection == "too_long"
    assert "limit is 20" in check_message("a" * 30, max_chars=20).explanation


@pytest.mark.parametrize(("value", "fragment"), [
    ("Pro\udcffximus", "UTF-8"), ("Proximus\x00", "control"), ("Pro\u202eximus", "control"), ("P" * 101, "101"),
])
def test_field_problems(value: str, fragment: str) -> None:
    problem = field_problem(value, "operator", 100)
    assert problem is not None and fragment in problem
    assert field_problem("Crossing Télécom", "operator", 100) is None


# --------------------------------------------------------------------------- `assistant ask` / `retrieve`

@pytest.mark.parametrize(("argv", "fragment"), [
    (["ask", "pr\udce9avis chez Proximus"], "not valid UTF-8"),
    (["ask", "   "], "empty"),
    (["ask", "a" * 5000], "5000 characters"),
    (["ask", "\x01\x02\x03\x04 binary"], "binary"),
    (["ask", QUESTION, "--operator", "Prox\udcffimus"], "--operator is not valid UTF-8"),
    (["retrieve", "pr\udce9avis"], "not valid UTF-8"),
    (["calc", "early_termination_cost", '{"operator": "\udcff"}'], "not valid UTF-8"),
])
def test_cli_refuses_bad_arguments_with_one_line(argv: list[str], fragment: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]


def test_ask_with_a_non_utf8_argument_in_a_real_process() -> None:
    """The bytes go through the OS as they would from a shell: one line on stderr, exit 2, no traceback."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "LC_ALL": "C.UTF-8"}
    done = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", b"Quel pr\xe9avis chez Proximus ?"],
                          cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 2
    err = done.stderr.decode()
    assert err.count("\n") == 1 and "not valid UTF-8" in err and "Traceback" not in err
    assert done.stdout == b""


# --------------------------------------------------------------------------- `ask --jsonl`

class RecordingAssistant:
    def __init__(self) -> None:
        self.questions: list[tuple[str, str | None]] = []

    def ask(self, question: str, session_id: str | None = None, operator: str | None = None) -> Reply:
        self.questions.append((question, operator))
        return Reply(answer=f"réponse à {question}", session_id=session_id)


def test_jsonl_lines_go_through_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join([
        json.dumps({"id": "ok", "question": QUESTION}).encode(),
        b'{"id": "latin1", "question": "Quel pr\xe9avis ?"}',  # a Latin-1 byte in the file
        b'{"id": "escaped", "question": "pr\\udce9avis"}',  # a lone surrogate escape
        b'{"id": "bad\xffid", "question": "Frais de portabilit\xc3\xa9 ?"}',  # bad byte in the id only
        json.dumps({"id": "history", "question": "et le préavis ?", "history": ["chez Pro\udcffximus"]}).encode(),
        json.dumps({"id": "op", "question": QUESTION, "operator": "Prox\x00imus"}).encode(),
        json.dumps({"id": "long", "question": "a" * 5000}).encode(),
        b"not json \xff",
        b"",
    ]) + b"\n")
    out = tmp_path / "out.jsonl"
    recorder = RecordingAssistant()
    code = run_checked_jsonl(source, out, Settings(data_dir=tmp_path), assistant=recorder)

    assert code == 1
    replies = {reply["id"]: reply for reply in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert replies["ok"]["status"] == "answered" and replies["ok"]["answer"] == f"réponse à {QUESTION}"
    assert replies["bad\ufffdid"]["answer"] == "réponse à Frais de portabilité ?"
    for refused in ("latin1", "escaped", "history"):
        assert replies[refused]["status"] == "clarify" and "not valid UTF-8" in replies[refused]["answer"]
    assert "control" in replies["op"]["answer"] and "5000 characters" in replies["long"]["answer"]
    assert "invalid input" in replies[None]["answer"]  # the non-JSON line, as the loop always reported it
    # Only the two good questions reached the assistant.
    assert recorder.questions == [(QUESTION, None), ("Frais de portabilité ?", None)]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "5 question(s) refused" in err[0]


def test_a_clean_jsonl_file_exits_0(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "1", "question": QUESTION}) + "\n", encoding="utf-8")
    assert run_checked_jsonl(source, tmp_path / "out.jsonl", Settings(data_dir=tmp_path),
                             assistant=RecordingAssistant()) == 0


def test_valid_lines_are_passed_on_unchanged() -> None:
    line = json.dumps({"id": "é", "question": QUESTION}, ensure_ascii=False)
    assert transcode_line(line.encode()) == line


def test_guard_refuses_a_whole_conversation_after_a_bad_history_message() -> None:
    inner = RecordingAssistant()
    guard = GuardedAssistant(inner)
    guard.ask("chez Pro\udcffximus", session_id="s1")
    reply = guard.ask(QUESTION, session_id="s1")
    assert reply.status == "clarify" and "earlier message" in reply.answer
    assert guard.ask(QUESTION, session_id="s2").answer.startswith("réponse")
    assert guard.refused == 1 and inner.questions == [(QUESTION, None)]


# --------------------------------------------------------------------------- the web views' wording

def test_web_chat_explains_invalid_unicode_in_the_interface_language() -> None:
    from assistant.ui.chat import rejection_text

    checked = check_message("pr\udce9avis")
    bubble_fr, explanation_fr = rejection_text(checked, "fr")
    bubble_en, explanation_en = rejection_text(checked, "en")
    assert "UTF-8" in explanation_fr and "caractères invalides" in explanation_fr
    assert "UTF-8" in explanation_en and "invalid characters" in explanation_en
    assert bubble_fr and "\udce9" not in bubble_fr  # the bad text itself is never echoed
