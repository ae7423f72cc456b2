"""``python -m mailspec.testing COMMAND [ARGS...]``: the lab's entry points (the docker lab runs them).

``serve``   the lab's servers (:mod:`mailspec.testing.serve`; ``serve --help``)
``health``  whether the lab announced in a state folder serves (:func:`mailspec.testing.serve.health`:
            the lab container's healthcheck; ``health --help``)
``run``     the shipped checks against a lab that serves (:mod:`mailspec.labrun`, the survey's side:
            pytest and the plugin; ``run --help``)
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

PROG = "python -m mailspec.testing"
USAGE = f"""\
usage: {PROG} COMMAND [ARGS...]

commands:
  serve [NAME[,NAME...]] [--state-dir DIR] ...   serve lab scenarios (serve --help says more)
  health --state-dir DIR [--timeout SECONDS]     exit 0 if the lab announced in DIR serves
  run --state-dir DIR [--reports DIR] [-- PYTEST ARGS...]
                                                 run the shipped checks against a serving lab"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    command, rest = (args[0], args[1:]) if args else ("", [])
    if command == "serve":
        from .serve import main as serve

        return serve(rest, prog=f"{PROG} serve")
    if command == "health":
        from .serve import health_main

        return health_main(rest, prog=f"{PROG} health")
    if command == "run":
        from mailspec.labrun import main as run

        return run(rest, prog=f"{PROG} run")
    print(USAGE, file=sys.stderr)
    print(
        f"{PROG}: error: {'unknown command ' + repr(command) if command else 'name a command'}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
