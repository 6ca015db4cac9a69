"""Web front ends: customer chat, agent sidebar and the OpenAI-compatible HTTP API (see docs/ui.md)."""
