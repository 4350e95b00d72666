"""Content parts of multimodal messages: text and images.

An image is given by URL (sent as is) or by a path under the project, read and sent inline as
a ``data:`` URL, so the rendered messages (and so the cache key and ``messages_hash``) cover
the image bytes. A literal path in a prompt file also enters the prompt's digest
(:func:`image_digests`); a path that comes from a case's vars is covered by the dataset.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import PromptSpec

MAX_IMAGE_BYTES = 20 * 1024 * 1024


def content_text(content: Any) -> str:
    """Message content as text: a string as is, text parts joined, images as ``[image]``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(
        str(p.get("text", "")) if p.get("type") == "text" else "[image]"
        for p in content
        if isinstance(p, dict)
    )


def project_root(prompt_path: Path) -> Path:
    """The project a prompt file belongs to (its nearest project directory upwards)."""
    from .paths import find_root

    return find_root(prompt_path.parent)


def image_file(root: Path, rel: str) -> Path:
    """``rel`` resolved under ``root``; raises ValueError when it leaves the project or is
    not a readable image file."""
    if not rel.strip():
        raise ValueError("empty image path")
    from .paths import OutsideProject, confine

    try:
        path = confine(root, rel)
    except OutsideProject as e:
        raise ValueError(f"image path {e}") from None
    if not path.is_file():
        raise ValueError(f"image file {rel!r} not found")
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ValueError(f"image file {rel!r} is over {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    mime, _ = mimetypes.guess_type(path.name)
    if not mime or not mime.startswith("image/"):
        raise ValueError(f"{rel!r} is not an image file (png, jpeg, gif, webp...)")
    with path.open("rb") as fh:
        head = fh.read(16)
    if not _looks_like_image(head):
        # the name alone is not enough: a pull request could name any project file (or a
        # link to one) `x.png` and have its bytes sent to the model
        raise ValueError(f"{rel!r} does not hold image data (png, jpeg, gif, webp, avif, heic)")
    return path


def _looks_like_image(head: bytes) -> bool:
    """The file starts like a raster image format a vision model takes."""
    return (
        head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[4:12] in (b"ftypavif", b"ftypheic", b"ftypheix", b"ftypmif1")
    )


def data_url(path: Path) -> str:
    mime, _ = mimetypes.guess_type(path.name)
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def image_digests(spec: PromptSpec, prompt_path: Path) -> dict[str, str]:
    """sha256 of each image file a prompt names by a literal path (templated paths excluded),
    so a changed image changes the prompt's digest. Missing files are left to render."""
    paths = [
        part.path
        for msg in spec.chat()
        if isinstance(msg.content, list)
        for part in msg.content
        if part.path is not None and "{" not in part.path
    ]
    if not paths:
        return {}
    root = project_root(prompt_path)
    out = {}
    for rel in paths:
        try:
            out[rel] = "sha256:" + hashlib.sha256(image_file(root, rel).read_bytes()).hexdigest()
        except (ValueError, OSError):
            continue
    return out
