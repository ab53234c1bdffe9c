"""python -m roomsim.lessons rebuild [LESSON ...]   rerun lessons (default all), fill every number
python -m roomsim.lessons fill                  fill the numbers from the committed results only
python -m roomsim.lessons check [--no-runs]     list what is stale (exit 1), or say all is current
"""

from __future__ import annotations

import sys

from roomsim.errors import ScenarioError
from roomsim.lessons.rebuild import check, rebuild


def main(argv: list[str]) -> int:
    """Rebuild lessons or check them; exit 1 when something is stale, 2 on bad input."""
    if not argv or argv[0] not in ("rebuild", "fill", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        if argv[0] in ("rebuild", "fill"):
            rebuild(argv[1:] or None, only_fill=argv[0] == "fill")
            return 0
        problems = check(runs="--no-runs" not in argv)
    except ScenarioError as exc:
        print(f"roomsim: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    print("lessons: stale" if problems else "lessons: current")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
