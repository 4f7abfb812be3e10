"""Photos of cases as files under ``GRIDGEO_HOME/incidents/photos``, named by their SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from gridgeo.errors import InputError, Problem
from gridgeo.i18n import _

# magic bytes → (content type, suffix)
_KINDS = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def sniff(data: bytes) -> tuple[str, str]:
    """Content type and suffix of a JPEG, PNG or WebP photo; :class:`InputError` otherwise."""
    for magic, ctype, suffix in _KINDS:
        if data.startswith(magic):
            return ctype, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    raise InputError(
        _("a photo must be a JPEG, PNG or WebP image"),
        [
            Problem(
                _("the file is not an image of a supported format"),
                field="photo",
                rule="incident.photo.type",
            )
        ],
    )


def store_photo(home: Path, data: bytes, *, max_bytes: int) -> tuple[str, int, str, str]:
    """Write a photo once (atomic; same content = same file).

    Returns
    -------
    tuple
        ``(sha256, size, content type, path relative to home)``.
    """
    if not data:
        raise InputError(
            _("the photo is empty"),
            [Problem(_("0 bytes"), field="photo", rule="incident.photo.empty")],
        )
    if len(data) > max_bytes:
        raise InputError(
            _("the photo is too large"),
            [
                Problem(
                    _("{n} bytes, at most {max_bytes}").format(n=len(data), max_bytes=max_bytes),
                    field="photo",
                    rule="incident.photo.size",
                )
            ],
        )
    ctype, suffix = sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    rel = Path("incidents") / "photos" / digest[:2] / f"{digest}{suffix}"
    target = Path(home) / rel
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, len(data), ctype, str(rel)


def photo_path(home: Path, rel: str) -> Path:
    """The file of a stored photo (checked to lie under ``home``)."""
    path = (Path(home) / rel).resolve()
    if not path.is_relative_to(Path(home).resolve()):
        raise InputError(
            _("invalid photo path"), [Problem(rel, field="path", rule="incident.photo.path")]
        )
    return path
