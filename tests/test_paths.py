"""paths.confine: the one rule for every file a project names."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptops.paths import OutsideProject, confine


def test_confine_follows_symlinks_and_refuses_anything_outside(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "evals").mkdir(parents=True)
    (root / "evals/ok.jsonl").write_text("{}\n")
    outside = tmp_path / "secret.txt"
    outside.write_text("SECRET-MARKER\n")
    (root / "evals/link.jsonl").symlink_to(outside)
    (tmp_path / "elsewhere").mkdir()
    (root / "linked").symlink_to(tmp_path / "elsewhere")
    (root / "loop").symlink_to(root / "loop")
    assert confine(root, "evals/ok.jsonl") == (root / "evals/ok.jsonl").resolve()
    assert confine(root, "evals/../evals/ok.jsonl") == (root / "evals/ok.jsonl").resolve()
    for name in ("../secret.txt", str(outside), "evals/link.jsonl", "linked/x.jsonl", "a\0b"):
        with pytest.raises(OutsideProject) as e:
            confine(root, name)
        assert "SECRET" not in str(e.value)
    with pytest.raises(OutsideProject, match=r"cannot be resolved|outside"):
        confine(root, "loop/x")
