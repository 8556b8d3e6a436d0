"""Uploaded files, bounded: a spreadsheet larger than the register accepts is refused while reading."""

from __future__ import annotations

from fastapi import UploadFile

from ..services import Invalid
from ..services.assets import MAX_UPLOAD_BYTES


async def read_upload(file: UploadFile) -> bytes:
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Invalid(f"the file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MiB")
    return data
