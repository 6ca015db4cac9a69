"""QA runs as a QA analyst uses them: a small `--dataset` run is quick, alone and diffed only against a report
of the same content; the API path (`--via-api`) asks a running app; the README's figures are the reports'."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest_ui import RunningApp, running_app

from assistant.evaluation import cli, figures
from assistant.evaluation.api_asker import ApiAsker, api_session_id
from assistant.evaluation.dataset import DEFAULT_DATASET, ROOT, load_datasets, load_subset
from assistant.evaluation.diff import dataset_fingerprint
from assistant.models import Reply

ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
       "NO_PROXY": "127.0.0.1,localhost"}
# Hang guards only: how long these runs take is measured in reports, never asserted (shared cores vary).
SMALL_RUN_TIMEOUT_S = 300.0
API_RUN_TIMEOUT_S = 900.0


def run_cli(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    import os

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "assistant.evaluation.cli", "--no-progress", *args], cwd=ROOT,
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=timeout)
    return done, time.monotonic() - started


# --------------------------------------------------------------------------- README figures

def test_readme_figures_are_the_committed_reports() -> None:
    readme = figures.README.read_text(encoding="utf-8")
    assert figures.render() in readme, "README figures differ from eval/reports: run `assistant eval figures`"
    assert figures.main(["--check"]) == 0


def test_figures_block_is_rewritten_in_place_and_needs_its_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{figures.START} old -->\n| stale | 0.1 |\n{figures.END}\n\nafter\n", encoding="utf-8")
    assert figures.main(["--readme", str(readme), "--check"]) == 1
    assert figures.main(["--readme", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "stale" not in text and text.startswith("intro") and text.endswith("after\n") and "`assistant eval --split blind`" in text
    assert figures.main(["--readme", str(readme), "--check"]) == 0
    readme.write_text("no markers\n", encoding="utf-8")
    assert figures.main(["--readme", str(readme)]) == 2


# --------------------------------------------------------------------------- which report a run is diffed against

def test_a_run_is_diffed_against_the_report_of_the_same_content(tmp_path: Path) -> None:
    same_content = {"dataset": str(tmp_path / "copy.jsonl"), "dataset_sha256": dataset_fingerprint([DEFAULT_DATASET])}
    previous, source = cli.previous_report(tmp_path / "out", same_content)
    assert previous is not None and source.endswith("eval/reports/latest/results.json")
    ten_items = {"dataset": str(tmp_path / "ten.jsonl"), "dataset_sha256": "0" * 64}
    previous, _ = cli.previous_report(tmp_path / "out", ten_items)
    assert previous is None


# --------------------------------------------------------------------------- the API path, unit level

def fake_api(calls: list[dict[str, object]]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        body = json.loads(request.content)
        calls.append(body)
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}})
        if body["messages"][0]["content"] == "bad":
            return httpx.Response(400, json={"error": {"message": "Your message is empty."}})
        reply = Reply(answer="ok", operator=body.get("operator"), session_id=body.get("session_id"))
        return httpx.Response(200, json={"choices": [], "assistant": reply.model_dump(mode="json")})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_api_asker_sends_operator_and_session_waits_when_rate_limited_and_reports_errors() -> None:
    calls: list[dict[str, object]] = []
    asker = ApiAsker("http://app.test", client=fake_api(calls))
    assert asker.check() == {"status": "ok"}
    reply = asker.ask("préavis ?", session_id="eval-ab12-item.01/x", operator="Proximus")
    assert (reply.answer, reply.operator) == ("ok", "Proximus")
    assert calls[-1]["session_id"] == "eval-ab12-item-01-x" and len(calls) == 2  # 429 retried once
    with pytest.raises(RuntimeError, match="HTTP 400: Your message is empty"):
        asker.ask("bad")
    assert len(api_session_id("x" * 100) or "") == 64


def test_via_api_to_nothing_is_one_clear_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--dataset", str(DEFAULT_DATASET), "--via-api", "http://127.0.0.1:9", "--out",
                     str(tmp_path / "out"), "--no-progress"])
    assert code == 2 and "cannot reach the app at http://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- real runs

@pytest.mark.slow
def test_a_ten_item_dataset_run_runs_alone_and_is_not_diffed_against_the_dev_report(tmp_path: Path) -> None:
    ten = tmp_path / "ten.jsonl"
    ten.write_text("".join(DEFAULT_DATASET.read_text(encoding="utf-8").splitlines(keepends=True)[:10]),
                   encoding="utf-8")
    out = tmp_path / "report"
    done, _elapsed = run_cli("--dataset", str(ten), "--out", str(out), timeout=SMALL_RUN_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["meta"]["items"] == 10 and len(saved["items"]) == 10
    assert saved["meta"]["dataset_sha256"] == dataset_fingerprint([ten])
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Not measured in this run" in report  # no baselines unless asked
    assert "no diff" in done.stderr and "regressions:" not in done.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    # The API's rate limit protects a public deployment; one evaluation client asks faster than that.
    yield from running_app(tmp_path_factory, "eval-api", env={"ASSISTANT_API_RATE_PER_MINUTE": "0"})


def quality_gate(tmp_path: Path) -> Path:
    """eval/gate.yaml without its latency ceiling: the answers through the API must pass the same floors and
    regression limit as in process; latency is measured by the reports, not by a test on shared cores."""
    gate = yaml.safe_load((ROOT / "eval" / "gate.yaml").read_text(encoding="utf-8"))
    gate["max"] = {key: value for key, value in (gate.get("max") or {}).items() if not key.startswith("latency")}
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(gate), encoding="utf-8")
    return path


@pytest.mark.server
def test_the_ci_subset_through_the_http_api_passes_the_gate(served: RunningApp, tmp_path: Path) -> None:
    out = tmp_path / "api-ci"
    done, _elapsed = run_cli("--via-api", served.url, "--subset", "ci", "--gate", str(quality_gate(tmp_path)),
                             "--out", str(out), timeout=API_RUN_TIMEOUT_S)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    expected = len(load_subset(load_datasets([DEFAULT_DATASET]), "ci"))
    assert saved["meta"]["path"] == "api" and saved["meta"]["via"] == served.url
    assert saved["meta"]["items"] == expected and saved["summary"]["overall"]["errors"] == 0
    assert "regressions:" in done.stderr  # diffed against the committed dev report (same content)
