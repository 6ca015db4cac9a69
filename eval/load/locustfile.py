"""Locust users that hold support conversations through the OpenAI-compatible API of several app processes.

Each user replays one conversation of eval/load/conversations.yaml after another (French and English, two to
three turns) in a fresh API session (`session_id`), sending each turn to the next process of LOAD_HOSTS in
turn, as a load balancer without sticky sessions would: every conversation is continued on another process
than the one that started it. A reply counts as a failure unless it is HTTP 200 with a non-empty answer for the
same session. Run by assistant/evaluation/load_test.py (`make bench-load`), which starts the processes.

    LOAD_HOSTS=http://127.0.0.1:7861,http://127.0.0.1:7862 locust -f eval/load/locustfile.py --headless ...
"""

from __future__ import annotations

import itertools
import os
import random
import uuid
from datetime import date, timedelta
from pathlib import Path

import yaml
from locust import FastHttpUser, constant, task

SCRIPT = yaml.safe_load((Path(__file__).with_name("conversations.yaml")).read_text(encoding="utf-8"))
CONVERSATIONS = SCRIPT["conversations"]
MONTHS_FR = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre"]
HOSTS = [h.strip().rstrip("/") for h in os.environ.get("LOAD_HOSTS", "").split(",") if h.strip()]
_next_host = itertools.cycle(range(max(1, len(HOSTS))))


def _date(day: date, lang: str) -> str:
    if lang == "fr":
        return random.choice([f"{day.day} {MONTHS_FR[day.month - 1]} {day.year}", day.strftime("%d/%m/%Y")])
    return random.choice([day.strftime("%d %B %Y").lstrip("0"), day.isoformat()])


def fill(conversation: dict, rng: random.Random = random._inst) -> list[str]:  # type: ignore[attr-defined]
    """The conversation's turns with its placeholders filled at random (one operator for the whole exchange)."""
    lang = conversation["lang"]
    start = date(2023, 1, 1) + timedelta(days=rng.randrange(900))
    values = {"operator": rng.choice(SCRIPT["operators"]), "hello": rng.choice(SCRIPT["hello"][lang]),
              "fee": str(rng.randrange(15, 121)), "start": _date(start, lang),
              "end": _date(start + timedelta(days=rng.randrange(60, 800)), lang)}
    turns = [turn.format(**values) for turn in conversation["turns"]]
    return [turns[0][:1].upper() + turns[0][1:], *turns[1:]]


class SupportConversation(FastHttpUser):
    # closed loop without think time: the throughput measured is what the processes can serve
    wait_time = constant(0)
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.hosts = HOSTS or [self.host.rstrip("/")]
        self.offset = next(_next_host)  # users start on different processes

    @task
    def conversation(self) -> None:
        chosen = random.choice(CONVERSATIONS)
        session = f"load-{uuid.uuid4().hex[:16]}"
        for n, text in enumerate(fill(chosen)):
            host = self.hosts[(self.offset + n) % len(self.hosts)]
            body = {"model": "telecom-assistant", "session_id": session,
                    "messages": [{"role": "user", "content": text}]}
            name = f"/v1/chat/completions [{chosen['lang']}, turn {min(n + 1, 3)}]"
            with self.client.post(f"{host}/v1/chat/completions", json=body, name=name,
                                  catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")
                    return
                reply = (response.json() or {}).get("assistant") or {}
                if not reply.get("answer") or reply.get("session_id") != session:
                    response.failure("empty answer or another session")
                    return
                response.success()
