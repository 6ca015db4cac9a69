"""Telecom T&C support assistant: clause-exact retrieval, deterministic calculators, cited answers."""

from assistant import config as _config  # noqa: F401  (sets the offline environment first)

__version__ = "0.1.0"
