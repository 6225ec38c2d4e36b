"""The `interviewer` console script: no arguments opens the TUI, anything else is the CLI.

It lives outside the core so that `interviewer` (the library) never imports the TUI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        try:
            from tui.app import run  # noqa: PLC0415 - Textual is imported only when the TUI opens
        except ImportError:
            pass
        else:
            run()
            return
    from interviewer.cli import app  # noqa: PLC0415

    app(args=args, prog_name="interviewer")


if __name__ == "__main__":
    main()
