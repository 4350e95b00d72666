"""Everything git, through gitpython; the only module that imports it (lazily)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _maybe_in_git(path: Path) -> bool:
    """Whether ``path`` or a parent has a ``.git`` (or is a bare repository), the places
    gitpython's search looks: outside git, gitpython (tens of ms) is not imported at all."""
    where = Path(os.path.abspath(path))  # as gitpython searches: no symlinks resolved
    for p in (where, *where.parents):
        if (p / ".git").exists() or ((p / "HEAD").is_file() and (p / "objects").is_dir()):
            return True
    return False


def _repo(path: Path) -> Any:
    if not _maybe_in_git(path):
        return None
    import git

    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None


def revision(path: Path) -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the repository holding ``path`` (None outside git)."""
    repo = _repo(path)
    if repo is None:
        return None
    try:
        commit = repo.head.commit.hexsha
    except ValueError:  # no commits yet
        commit = None
    try:
        branch = repo.active_branch.name
    except TypeError:  # detached HEAD
        branch = None
    return {"commit": commit, "branch": branch, "dirty": repo.is_dirty(untracked_files=False)}


# --------------------------------------------------------------------------- registry history
# Used by registry.py: the log of one file with its text at each commit, and committing one file.


def _rel(repo: Any, path: Path) -> str:
    return path.resolve().relative_to(Path(repo.working_tree_dir).resolve()).as_posix()


def file_log(path: Path, limit: int | None = None) -> list[dict[str, Any]] | None:
    """Commits that changed ``path``, newest first, each with the file's text at that commit
    (``None`` where the commit deleted it). ``None`` outside git; ``[]`` before the first commit."""
    import git

    repo = _repo(path.parent)
    if repo is None:
        return None
    rel = _rel(repo, path)
    try:
        commits = list(repo.iter_commits(paths=rel, max_count=limit))
    except (ValueError, git.GitCommandError):  # no commits yet
        return []
    out = []
    for c in commits:
        try:
            text: str | None = (c.tree / rel).data_stream.read().decode("utf-8", "replace")
        except KeyError:
            text = None
        out.append(
            {
                "commit": c.hexsha,
                "author": c.author.name,
                "email": c.author.email,
                "date": c.authored_datetime.isoformat(),
                "message": c.message,
                "text": text,
            }
        )
    return out


def in_repo(path: Path) -> bool:
    """Whether ``path`` lies in a git working tree."""
    return _repo(path) is not None


def head_text(path: Path) -> str | None:
    """The text of ``path`` as committed at HEAD (None outside git, before the first commit,
    or when HEAD has no such file)."""
    repo = _repo(path.parent)
    if repo is None:
        return None
    try:
        entry = repo.head.commit.tree / _rel(repo, path)
    except (KeyError, ValueError):
        return None
    data: bytes = entry.data_stream.read()
    return data.decode("utf-8", "replace")


def init_repo(path: Path, branch: str = "main") -> bool:
    """``git init`` at ``path`` (first branch ``branch``) unless it already lies in a work tree;
    True when it created one."""
    import git

    from .errors import GitError

    if _repo(path) is not None:
        return False
    try:
        git.Repo.init(path, initial_branch=branch)
    except git.GitCommandError as e:
        raise GitError(f"git init {path} failed: {(e.stderr or str(e)).strip()}") from None
    return True


def commit_file(path: Path, message: str, also: tuple[Path, ...] = ()) -> str | None:
    """Commit ``path`` (and the files ``also``) alone (changes staged for other files stay
    staged). Returns the new commit's sha, or None when they already match HEAD."""
    import git

    from .errors import GitError

    repo = _repo(path.parent)
    if repo is None:
        raise GitError(f"{path.parent}: not a git repository; run git init, or leave out --commit")
    rel = _rel(repo, path)
    rels = [rel, *(_rel(repo, p) for p in also)]
    try:
        repo.git.add("--", *rels)
        if not repo.git.status("--porcelain", "--", *rels).strip():
            return None
        repo.git.commit("--only", "-m", message, "--", *rels)
    except git.GitCommandError as e:
        detail = (e.stderr or e.stdout or str(e)).strip().removeprefix("stderr:").strip().strip("'")
        raise GitError(f"git commit of {rel} failed: {detail}") from None
    return str(repo.head.commit.hexsha)


def _require(path: Path) -> Any:
    from .errors import GitError

    repo = _repo(path)
    if repo is None:
        raise GitError(
            f"{path}: not inside a git repository; `promptops check` compares against git history"
        )
    return repo


def repo_root(path: Path) -> Path:
    """The working tree root of the repository holding ``path``."""
    return Path(_require(path).working_tree_dir).resolve()


# git's empty tree: what ``check --base none`` compares against (every file is new there)
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
NO_BASE = "none"


def no_base(base: str) -> bool:
    """``--base none``, or the all-zeros sha GitHub gives as the "before" of a branch's first
    push: there is no earlier commit to judge against."""
    return base == NO_BASE or (len(base) in (40, 64) and set(base) == {"0"})


def merge_base(path: Path, base: str, head: str = "HEAD") -> str:
    """The commit where ``head`` branched off ``base`` (hex sha); :data:`EMPTY_TREE` when
    :func:`no_base` says there is none."""
    import git

    from .errors import GitError

    repo = _require(path)
    if no_base(base):
        return EMPTY_TREE
    try:
        repo.commit(base)
    except (git.BadName, ValueError):
        raise GitError(
            f"unknown git revision {base!r}; fetch it first (in CI: actions/checkout with fetch-depth: 0)"
        ) from None
    try:
        bases = repo.merge_base(base, head)
    except git.GitCommandError as e:
        raise GitError(f"git merge-base {base} {head} failed: {e.stderr.strip() or e}") from None
    if not bases:
        raise GitError(
            f"{base} and {head} have no common ancestor, so there is nothing to judge {head} "
            f"against; on a branch's first push or after a force-push, --base {NO_BASE} "
            "evaluates every prompt version on its own"
        )
    return str(bases[0].hexsha)


def changed_files(path: Path, since: str, under: str | None = None) -> list[tuple[str, str]]:
    """(status, repo-relative path) of files that differ between commit ``since`` and the
    working tree, uncommitted and untracked (not ignored) files included. Status is git's
    letter: A added, M modified, D deleted, T type change; renames show as D + A."""
    import git

    from .errors import GitError

    repo = _require(path)
    spec = [under] if under else []
    try:
        out = repo.git.diff("--name-status", "--no-renames", "-z", since, "--", *spec)
        untracked = repo.git.ls_files("--others", "--exclude-standard", "-z", "--", *spec)
    except git.GitCommandError as e:
        raise GitError(f"git diff {since} failed: {e.stderr.strip() or e}") from None
    parts = [p for p in out.split("\0") if p]
    changes = [(parts[i][0], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    changes += [("A", p) for p in untracked.split("\0") if p]
    return sorted(set(changes), key=lambda t: t[1])


def _tree_entry(repo: Any, commit: str, relpath: str) -> Any:
    try:
        return repo.tree(commit) / relpath  # a commit's tree, or a tree (EMPTY_TREE)
    except KeyError:
        return None


def current_branch(path: Path) -> str | None:
    """The branch checked out in the repository holding ``path`` (unborn ones too), or None
    outside git or on a detached HEAD."""
    repo = _repo(path)
    if repo is None:
        return None
    try:
        return str(repo.git.symbolic_ref("--short", "-q", "HEAD")).strip() or None
    except Exception:  # detached HEAD
        return None


def default_branch_name() -> str:
    """The branch ``git init`` would create: ``init.defaultBranch`` if set, else main."""
    import git

    try:
        name = str(git.Git().config("--get", "init.defaultBranch")).strip()
    except git.GitCommandError:  # not set
        name = ""
    return name or "main"


def read_file_at(path: Path, commit: str, relpath: str) -> str | None:
    """The text of a repo-relative file in a commit's tree (None when it isn't there)."""
    entry = _tree_entry(_require(path), commit, relpath)
    if entry is None or entry.type != "blob":
        return None
    data: bytes = entry.data_stream.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        from .errors import Problem, SpecError

        line = data[: e.start].count(b"\n") + 1
        problem = Problem(
            relpath,
            line,
            None,
            f"not valid UTF-8 (byte 0x{data[e.start]:02x}) in commit {commit[:10]}; "
            f"save the file as UTF-8",
        )
        raise SpecError(str(problem), [problem]) from None


def read_bytes_at(path: Path, commit: str, relpath: str) -> bytes | None:
    """The bytes of a repo-relative file in a commit's tree (None when it isn't there)."""
    entry = _tree_entry(_require(path), commit, relpath)
    if entry is None or entry.type != "blob":
        return None
    data: bytes = entry.data_stream.read()
    return data


def list_dir_at(path: Path, commit: str, reldir: str) -> list[str]:
    """File names directly inside a repo-relative directory of a commit's tree."""
    entry = _tree_entry(_require(path), commit, reldir)
    if entry is None or entry.type != "tree":
        return []
    return sorted(b.name for b in entry.blobs)


def identity(path: Path) -> str | None:
    """``Name <email>`` from git config (the repository's, then the user's); None if unset."""
    repo = _repo(path)
    if repo is None:
        return None
    reader = repo.config_reader()
    name = reader.get_value("user", "name", "") or ""
    email = reader.get_value("user", "email", "") or ""
    out = f"{name} <{email}>" if name and email else str(name or email)
    return out or None
