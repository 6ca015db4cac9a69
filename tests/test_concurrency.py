"""Answers run concurrently; only turns of one conversation take turns, in one process and across processes
(a lock file for the SQLite store, PostgreSQL advisory locks for a shared database); on the real pipeline,
conversations answered by 16 threads at once get the replies they get one after another."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assistant.config import Settings
from assistant.models import Reply
from assistant.ui.backend import Backend
from assistant.ui.conversation_locks import ConversationLocks
from assistant.ui.feedback import FeedbackStore


class SlowStore:
    """A turn as the checkpointer sees it: read the conversation, work, write it back (a lost update if two
    turns of one conversation overlap)."""

    def __init__(self, work_s: float = 0.01):
        self.turns: dict[str, int] = {}
        self.work_s = work_s
        self.inside = 0
        self.most_inside = 0
        self._count = threading.Lock()
        self.barrier: threading.Barrier | None = None

    def ask(self, question: str, session_id: str | None = None, operator: str | None = None) -> Reply:
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # every conversation must be inside at once: no global lock
        seen = self.turns.get(session_id or "", 0)
        time.sleep(self.work_s)
        self.turns[session_id or ""] = seen + 1
        with self._count:
            self.inside -= 1
        return Reply(answer=str(seen + 1), session_id=session_id)


def _backend(tmp_path: Path, assistant: SlowStore, locks: ConversationLocks | None = None) -> Backend:
    return Backend(settings=Settings(data_dir=tmp_path), assistant=assistant, find_clause=lambda *a: None,
                   calculators={}, feedback=FeedbackStore(tmp_path / "feedback.sqlite3"), operators=[],
                   locks=locks or ConversationLocks())


def test_different_conversations_are_answered_at_the_same_time(tmp_path):
    store = SlowStore()
    store.barrier = threading.Barrier(8)
    backend = _backend(tmp_path, store)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: backend.ask("q", f"conv-{i}", None), range(8)))
    assert store.most_inside == 8 and all(r.answer == "1" for r in replies)


def test_turns_of_one_conversation_never_overlap(tmp_path):
    store = SlowStore()
    backend = _backend(tmp_path, store)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: backend.ask("q", "same", None), range(24)))
    assert store.turns["same"] == 24  # no turn lost to an overlapping one


def test_without_the_conversation_lock_overlapping_turns_lose_updates(tmp_path):
    """The test above can fail: the same load without the lock loses turns."""
    store = SlowStore()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.ask("q", "same"), range(24)))
    assert store.turns["same"] < 24


# --------------------------------------------------------------------------- across processes

def _count_turns(locks_args: dict, counter: str, turns: int) -> None:
    """In another process: `turns` read-modify-write turns of one conversation on a shared counter file."""
    locks = ConversationLocks(**locks_args)
    path = Path(counter)
    for _ in range(turns):
        with locks.hold("shared-conversation"):
            seen = int(path.read_text() or "0")
            time.sleep(0.005)
            path.write_text(str(seen + 1))
    locks.close()


def _two_processes(locks_args: dict, tmp_path: Path) -> int:
    counter = tmp_path / "counter"
    counter.write_text("0")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_count_turns, args=(locks_args, str(counter), 15)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    return int(counter.read_text())


def test_processes_sharing_the_sqlite_store_take_turns(tmp_path):
    assert _two_processes({"lock_file": tmp_path / "conversations.lock"}, tmp_path) == 30


@pytest.mark.server
def test_replicas_sharing_postgresql_take_turns(postgres_url, tmp_path):
    assert _two_processes({"database_url": postgres_url}, tmp_path) == 30


def test_the_lock_follows_the_conversation_store(tmp_path):
    assert ConversationLocks.for_settings(Settings(data_dir=tmp_path, conversation_store="sqlite"))._fd is not None
    assert ConversationLocks.for_settings(Settings(data_dir=tmp_path, conversation_store="memory"))._fd is None


# --------------------------------------------------------------------------- the real pipeline

CONVERSATIONS = [
    ["Quel préavis faut-il respecter pour résilier chez Proximus ?", "et pour un particulier ?"],
    ["Luxembourg Online: what notice applies when terminating?", "what does it cost?"],
    ["Combien coûte la portabilité sortante chez CMI ?", "et le délai ?"],
    ["Can I keep my phone number if I move away from Easy2Phone?", "will they bill me for that?"],
    ["Bonjour", "je souhaite mettre fin à mon abonnement", "Crossing Telecom"],
    ["What if my bill is paid late at CMI?", "how much interest?"],
]


@pytest.mark.slow
def test_concurrent_answers_equal_sequential_answers_on_the_real_pipeline():
    from assistant.agent import Assistant

    def replies(workers: int) -> dict[str, list[tuple[str, str, list[str]]]]:
        try:
            assistant = Assistant(Settings(llm_base_url=None, conversation_store="memory")).warm()
        except Exception as exc:  # no index on this machine
            pytest.skip(f"index not available: {exc}")
        jobs = [(f"c{rep}-{i}", turns) for rep in range(3) for i, turns in enumerate(CONVERSATIONS)]

        def run(job: tuple[str, list[str]]) -> tuple[str, list[tuple[str, str, list[str]]]]:
            sid, turns = job
            out = [assistant.ask(t, session_id=sid) for t in turns]
            return sid[sid.index("-"):], [(r.status.value, r.answer, [c.clause_id for c in r.citations]) for r in out]

        with ThreadPoolExecutor(workers) as pool:
            return dict(pool.map(run, jobs))  # the three copies of a conversation share a key: all must agree

    together = replies(16)  # first, while every cache is cold
    assert together == replies(1)
