"""Child processes of the test run that cannot outlive it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence


def dying_with_parent(argv: Sequence[str]) -> list[str]:
    """`argv` prefixed so the child gets SIGKILL when the test process dies.

    A `preexec_fn` would do the same from Python, but it forks the whole
    interpreter while gRPC threads run, and gRPC's fork handlers then abort the
    child now and then. setpriv sets PR_SET_PDEATHSIG and execs, with no Python
    in between."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]
