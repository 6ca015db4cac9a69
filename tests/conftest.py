"""Shared test settings: everything runs offline."""

import os

for var, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("GRADIO_ANALYTICS_ENABLED", "False"),
                   ("ANONYMIZED_TELEMETRY", "False")):
    os.environ[var] = value
