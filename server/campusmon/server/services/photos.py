"""Photos taken during an inspection: images only, size-capped, private files under the data dir.

One photo per checklist item (a new one replaces the old): `<data_dir>/inspection-photos/<inspection
id>/<item id>.<jpg|png|webp>`, directories 0700, files 0600, written to a temporary name and renamed so a
reader never sees half a file. What arrives is decoded by Pillow before it is kept: a file that only
claims to be an image, or one whose pixel count would make a decompression bomb, is refused.
"""

from __future__ import annotations

import logging
import os
import secrets
from io import BytesIO
from pathlib import Path
from typing import Final

from PIL import Image, UnidentifiedImageError

from campusmon.private_files import FILE_MODE, private_dir

from . import Invalid, NotFound

_log = logging.getLogger(__name__)

#: the largest photo kept (a phone's full-size JPEG is 2-6 MiB)
MAX_PHOTO_BYTES: Final = 12 * 1024 * 1024
#: the most pixels a photo may have (a 50-megapixel phone camera is 8,160 x 6,120)
MAX_PHOTO_PIXELS: Final = 64_000_000
#: Pillow format -> (file suffix, media type)
FORMATS: Final = {"JPEG": ("jpg", "image/jpeg"), "PNG": ("png", "image/png"), "WEBP": ("webp", "image/webp")}
_MEDIA = {suffix: media for suffix, media in FORMATS.values()}


class PhotoStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "inspection-photos"

    def _dir(self, inspection_id: int) -> Path:
        return self.root / str(int(inspection_id))

    @staticmethod
    def check(data: bytes) -> str:
        """The file suffix of an acceptable photo; Invalid (saying why) otherwise."""
        if not data:
            raise Invalid("the photo is empty")
        if len(data) > MAX_PHOTO_BYTES:
            raise Invalid(f"a photo is at most {MAX_PHOTO_BYTES // 1024 // 1024} MiB")
        try:
            with Image.open(BytesIO(data)) as img:
                fmt = img.format or ""
                width, height = img.size
                if fmt not in FORMATS:
                    raise Invalid(f"a photo is a JPEG, PNG or WebP image, not {fmt or 'this file'}")
                if width * height > MAX_PHOTO_PIXELS:
                    raise Invalid(f"the photo has more than {MAX_PHOTO_PIXELS // 1_000_000} million pixels")
                img.verify()
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            OSError,
            SyntaxError,
            ValueError,
        ) as exc:
            if isinstance(exc, Invalid):
                raise
            raise Invalid("the file is not an image (JPEG, PNG or WebP)") from None
        return FORMATS[fmt][0]

    def save(self, inspection_id: int, item_id: int, data: bytes) -> Path:
        """Keep the photo of one item (replacing an earlier one); the file's path."""
        suffix = self.check(data)
        private_dir(self.root)  # mkdir(parents=True) would leave the parent to the umask
        folder = private_dir(self._dir(inspection_id))
        for old in folder.glob(f"{int(item_id)}.*"):
            old.unlink(missing_ok=True)
        final = folder / f"{int(item_id)}.{suffix}"
        tmp = folder / f".{int(item_id)}.{secrets.token_hex(6)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        _log.info("photo of inspection #%s item %s kept (%d bytes)", inspection_id, item_id, len(data))
        return final

    def discard(self, inspection_id: int, item_id: int) -> None:
        """Remove the photo of one item (kept for a record that was then refused)."""
        folder = self._dir(inspection_id)
        for path in folder.glob(f"{int(item_id)}.*") if folder.is_dir() else ():
            path.unlink(missing_ok=True)

    def find(self, inspection_id: int, item_id: int) -> tuple[Path, str]:
        """The stored photo of one item and its media type; NotFound when there is none."""
        folder = self._dir(inspection_id)
        for path in sorted(folder.glob(f"{int(item_id)}.*")) if folder.is_dir() else ():
            media = _MEDIA.get(path.suffix.lstrip("."))
            if media is not None:
                return path, media
        raise NotFound(f"no photo for item {item_id} of inspection #{inspection_id}")
