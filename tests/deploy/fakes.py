"""Stand-ins for the five hangu services, so the supervisor's own logic
(ordering, readiness, restart policy, purge pass) is tested fast and apart
from the real services. `install(folder)` writes packages hangu_<svc>/main.py
there; put `folder` first on PYTHONPATH and `python -m hangu_<svc>.main`
runs the stand-in."""

from __future__ import annotations

from pathlib import Path

SERVICE_MAIN = """
import os, sys, time
from pathlib import Path
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

NAME = {name!r}

def main():
    settings = load_settings()
    marks = settings.root / "marks"
    marks.mkdir(parents=True, exist_ok=True)
    if (marks / (NAME + ".fail")).exists():
        print(NAME + ": refusing to start (fail marker)", flush=True)
        sys.exit(7)
    with open(marks / "order", "a") as fh:
        fh.write(NAME + ("+purge" if os.environ.get("HANGU_PURGE_ON_STOP") == "1" else "")
                 + "\\n")
    if (marks / (NAME + ".crash")).exists():
        # Crash (as by a fatal signal) soon after answering: restart policy.
        import threading
        threading.Timer(0.3, lambda: os.kill(os.getpid(), 9)).start()

    def on_stop():
        if os.environ.get("HANGU_PURGE_ON_STOP") == "1":
            (marks / (NAME + ".purged")).touch()
        with open(marks / "stops", "a") as fh:
            fh.write(NAME + "\\n")

    serve(NAME, settings.grpc_socket(NAME), lambda server: [], on_stop=on_stop)

if __name__ == "__main__":
    main()
"""

GATEWAY_MAIN = """
import os
from aiohttp import web
from hangu_runtime.config import load_settings

def main():
    settings = load_settings()
    marks = settings.root / "marks"
    with open(marks / "order", "a") as fh:
        fh.write("gateway\\n")
    app = web.Application()
    app.router.add_get("/_ping", lambda request: web.Response(text="OK"))
    path = settings.docker_socket
    if path.exists():
        path.unlink()
    web.run_app(app, path=str(path), print=None)

if __name__ == "__main__":
    main()
"""


def install(folder: Path) -> None:
    for name in ("image", "container", "network", "volume", "gateway"):
        package = folder / f"hangu_{name}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        text = GATEWAY_MAIN if name == "gateway" else SERVICE_MAIN.format(name=name)
        (package / "main.py").write_text(text)
