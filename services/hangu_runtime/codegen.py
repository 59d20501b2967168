"""Generate the Python gRPC code for every proto under protos/.

`python -m hangu_runtime.codegen OUT` writes OUT/hangu/<service>/v1/*_pb2*.py
(and .pyi stubs for the messages, the clients and the servicers). The output
is committed; tests/unit/test_codegen.py runs this into a temporary folder
and fails if the committed copy differs."""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

REPO = Path(__file__).resolve().parents[2]
PROTOS = REPO / "protos"


def generate(out: Path) -> list[Path]:
    out = out.resolve()
    files = sorted(PROTOS.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    plugins = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTOS}",
        f"-I{include}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        # Typed stubs for the generated clients and servicers, so no stub
        # call is `Any` under mypy --strict.
        f"--mypy_grpc_out={out}",
        *[str(f.relative_to(PROTOS)) for f in files],
    ]
    out.mkdir(parents=True, exist_ok=True)
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Packages need __init__.py so setuptools and mypy see them.
    generated = []
    for proto in files:
        pkg = out / proto.relative_to(PROTOS).parent
        for parent in pkg.relative_to(out).parents:
            if parent != Path("."):
                (out / parent / "__init__.py").touch()
        (pkg / "__init__.py").touch()
        generated.extend(sorted(pkg.glob("*_pb2*.py*")))
    return generated


if __name__ == "__main__":
    generate(Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "services"))
