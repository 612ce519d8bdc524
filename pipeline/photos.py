"""Photos of 民情事件: checked by content (JPEG, PNG, WebP), re-encoded without any metadata (EXIF GPS
is personal data), stored by the SHA-256 of the clean bytes under the photo folder, with a thumbnail.

Layout: ``<folder>/<first two hex digits>/<sha256>.<ext>`` and ``<sha256>.thumb.jpg`` next to it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from layers.errors import ValidationFailed
from pipeline.errors import TooLarge

FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
MAX_PIXELS = 40_000_000
"""Larger images are refused before decoding (a small file can decode to gigabytes)."""
THUMB_PX = 320


@dataclass(frozen=True)
class StoredPhoto:
    sha256: str
    content_type: str
    width: int
    height: int
    size_bytes: int


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format not in FORMATS:
                raise ValidationFailed(f"照片格式 {image.format} 不支持: 请上传 JPEG、PNG 或 WebP 图片")
            if image.width * image.height > MAX_PIXELS:
                raise ValidationFailed(
                    f"照片 {image.width}×{image.height} 像素太大: 请缩小到 4000 万像素以内"
                )
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ValidationFailed("文件不是可读的图片: 请上传 JPEG、PNG 或 WebP 照片") from None
    return image


def clean(data: bytes, *, max_bytes: int) -> tuple[bytes, str, Image.Image]:
    """The image re-encoded in its own format without metadata (EXIF, XMP, text chunks, ICC), turned
    upright by its EXIF orientation first; returns bytes, format and the decoded image."""
    if len(data) > max_bytes:
        raise TooLarge(
            f"照片 {len(data) / 1024 / 1024:.1f} MB 超过上限 {max_bytes / 1024 / 1024:g} MB",
            fix="请压缩或缩小照片后再上传",
        )
    image = _open(data)
    fmt = image.format or "JPEG"
    upright = ImageOps.exif_transpose(image)
    if fmt == "JPEG" and upright.mode not in ("RGB", "L"):
        upright = upright.convert("RGB")
    bare = Image.new(upright.mode, upright.size)  # a new image: no info dict, no EXIF carried over
    bare.paste(upright)
    palette = upright.getpalette() if upright.mode == "P" else None
    if palette:
        bare.putpalette(palette)
    out = io.BytesIO()
    bare.save(out, format=fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    return out.getvalue(), fmt, bare


def store(folder: Path, data: bytes, *, max_bytes: int) -> StoredPhoto:
    """Clean ``data`` and write it (and its thumbnail) under ``folder`` by content hash."""
    clean_bytes, fmt, image = clean(data, max_bytes=max_bytes)
    digest = hashlib.sha256(clean_bytes).hexdigest()
    content_type, ext = FORMATS[fmt]
    target = path_of(folder, digest, content_type)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(clean_bytes)
        tmp.replace(target)
        thumb = image.convert("RGB")
        thumb.thumbnail((THUMB_PX, THUMB_PX))
        thumb.save(thumb_of(folder, digest), format="JPEG", quality=80)
    return StoredPhoto(digest, content_type, image.width, image.height, len(clean_bytes))


def path_of(folder: Path, digest: str, content_type: str) -> Path:
    ext = next(e for t, e in FORMATS.values() if t == content_type)
    return Path(folder) / digest[:2] / f"{digest}.{ext}"


def thumb_of(folder: Path, digest: str) -> Path:
    return Path(folder) / digest[:2] / f"{digest}.thumb.jpg"
