"""Launch the product: customer chat at /, agent sidebar at /agent, OpenAI-compatible API at /v1.

    python app.py [--host 127.0.0.1] [--port 7860]

Settings come from the environment (ASSISTANT_*, see assistant/config.py); the index is built on first
start, with a progress bar, when it is missing.
"""

from __future__ import annotations

import argparse
import sys

from assistant.config import get_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=settings.host, help=f"interface to bind (default {settings.host})")
    parser.add_argument("--port", type=int, default=settings.port, help=f"port (default {settings.port})")
    args = parser.parse_args(argv)

    from assistant.errors import AssistantError
    from assistant.ui.server import serve  # after parsing, so --help is instant

    try:
        serve(settings.model_copy(update={"host": args.host, "port": args.port}))
    except AssistantError as error:  # a configuration the app cannot run with: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
