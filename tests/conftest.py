"""Shared test settings: everything runs offline."""

import os

for var, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
                   ("ANONYMIZED_TELEMETRY", "False")):
    os.environ[var] = value
# Conversations in the process unless a test asks for the durable store (tests/test_conversations.py): tests
# reuse fixed session ids, which must not continue a conversation left by an earlier run.
os.environ.setdefault("ASSISTANT_CONVERSATION_STORE", "memory")

# Real servers on loopback (PostgreSQL, `chroma run`), started once per module by the tests that ask for them.
pytest_plugins = ["tests.conftest_services"]
