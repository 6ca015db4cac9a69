"""The assistant: understanding, planning, composing and citation checking, offline or with an LLM."""

from assistant.agent.assistant import Assistant

__all__ = ["Assistant"]
