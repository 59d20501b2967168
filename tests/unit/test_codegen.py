"""The committed gRPC code must be exactly what protos/ generates."""

from pathlib import Path

from hangu_runtime import codegen


def test_generated_code_is_current(tmp_path: Path) -> None:
    fresh = codegen.generate(tmp_path)
    assert fresh, "no protos found"
    committed_root = codegen.REPO / "services"
    for path in fresh:
        rel = path.relative_to(tmp_path)
        committed = committed_root / rel
        assert committed.exists(), f"{rel} is not committed: run `make protos`"
        assert committed.read_bytes() == path.read_bytes(), f"{rel} is stale: run `make protos`"
