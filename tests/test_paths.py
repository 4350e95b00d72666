"""paths.confine: the one rule for every file a project names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from conftest import assert_no_traceback
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


@pytest.mark.parametrize("field", ["prompts_dir", "runs_dir", "cache_dir"])
def test_promptops_yaml_directories_stay_inside_the_project(
    project: Path, cli: Callable[..., Result], tmp_path_factory: pytest.TempPathFactory, field: str
) -> None:
    """A branch's promptops.yaml may not point prompt reads, records or the cache outside."""
    outside = tmp_path_factory.mktemp("outside")
    (project / "promptops.yaml").write_text(f"allow_unpinned: []\n{field}: {outside}\n")
    result = cli("eval", "summarize@1.0.0")
    assert_no_traceback(result)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"promptops.yaml:2: {field}: '{outside}' is outside the project"
    )
    assert list(outside.iterdir()) == []
