"""Attachments: photos, documents and evidence sent with a filing or an action.

A file is checked before anything is written: its type is sniffed from its bytes
(never taken from the name or the client's content type), and its name must not claim
another type. Blobs are stored first, rows are written by the caller inside its
transaction (``record``), and the caller ``discard``s the blobs when that fails.
Downloads go through short-lived HMAC-signed hub URLs.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
import secrets
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import filetype

from hub.errors import DomainError, FieldError
from hub.models import Attachment
from hub.settings import Settings
from hub.storage import BlobMissing, make_storage

logger = logging.getLogger("hub.attachments")

FILENAME_MAX = 200
_JOINERS = {"\u200c", "\u200d"}  # ZWNJ and ZWJ: part of Indic spellings


class Purpose(enum.StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"
    EVIDENCE = "evidence"  # an ATR's proof


# sniffed content type -> (what to call it, the file name extensions that may name it)
ALLOWED: dict[str, tuple[str, tuple[str, ...]]] = {
    "image/jpeg": ("JPEG", ("jpg", "jpeg", "jpe", "jfif")),
    "image/png": ("PNG", ("png",)),
    "image/webp": ("WebP", ("webp",)),
    "image/heic": ("HEIC", ("heic", "heif")),
    "application/pdf": ("PDF", ("pdf",)),
}
_CLAIMED = {ext: label for label, exts in ALLOWED.values() for ext in exts}
_KINDS = "JPEG, PNG, WebP, HEIC or PDF"


@dataclass(frozen=True)
class Incoming:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Stored:
    key: str
    filename: str
    content_type: str
    size: int
    sha256: str
    purpose: str


def _size(size: int) -> str:
    for unit, scale in (("MiB", 1_048_576), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def _extension(filename: str) -> str:
    """The name's extension, lower-case; '' when there is none worth reading (``scan.2024``)."""
    stem, dot, ext = filename.rpartition(".")
    ext = ext.lower()
    if not dot or not stem.strip(". ") or not ext.isalnum() or ext.isdigit() or len(ext) > 5:
        return ""
    return ext


def clean_filename(raw: str, content_type: str) -> str:
    """A display name safe to store and to echo in a header: no path, no control characters.

    Letters of every script stay, with the joiners Indic scripts need; bidi overrides that
    could make ``gpj.exe`` read as ``exe.jpg`` go.
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    kept: list[str] = []
    for char in name:
        category = unicodedata.category(char)
        if char in _JOINERS:
            kept.append(char)
        elif category.startswith("Z") or category == "Cc":
            kept.append(" ")
        elif not category.startswith("C") and char not in '<>:"|?*':
            kept.append(char)
    name = " ".join("".join(kept).split()).lstrip(". ")
    if not name:
        name = f"attachment.{ALLOWED[content_type][1][0]}"
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 5:
            name = f"{stem[: FILENAME_MAX - len(ext) - 1].rstrip()}.{ext}"
        else:
            name = name[:FILENAME_MAX]
    return name


def _check(settings: Settings, file: Incoming, field: str) -> tuple[FieldError | None, str]:
    """(the problem or None, the sniffed content type)."""
    name = file.filename or "the file"
    size = len(file.data)
    if size == 0:
        return FieldError(field, "empty", f"{name} is empty."), ""
    if size > settings.max_attachment_bytes:
        return FieldError(
            field,
            "too_large",
            f"{name} is larger than the {_size(settings.max_attachment_bytes)} limit per file.",
        ), ""
    kind = filetype.guess(file.data)
    sniffed: str = kind.mime if kind is not None else ""
    ext = _extension(file.filename)
    if sniffed in ALLOWED:
        label, extensions = ALLOWED[sniffed]
        if ext and ext not in extensions:
            return FieldError(
                field,
                "disguised",
                f"{name} is named .{ext} but its content is {label}; "
                "send the original file with its own name.",
            ), sniffed
        return None, sniffed
    if ext in _CLAIMED:
        what = (
            f"{kind.extension.upper()} ({sniffed})" if kind is not None else "not an image or PDF"
        )
        return FieldError(
            field,
            "disguised",
            f"{name} is named .{ext} but its content is {what}; only {_KINDS} files are accepted.",
        ), sniffed
    return FieldError(
        field, "unsupported_type", f"{name} is not a {_KINDS} file; only those are accepted."
    ), sniffed


def validate(
    settings: Settings, files: list[Incoming], purpose: str, field: str = "attachments"
) -> list[str]:
    """The sniffed content type of each file; ``DomainError`` naming every bad one."""
    if purpose not in set(Purpose):
        raise DomainError.one(
            field,
            "invalid_purpose",
            f"Purpose '{purpose}' is not one of: {', '.join(p.value for p in Purpose)}.",
        )
    if len(files) > settings.max_attachments:
        raise DomainError.one(
            field,
            "too_many",
            f"{len(files)} files sent; at most {settings.max_attachments} are accepted at once.",
        )
    errors: list[FieldError] = []
    types: list[str] = []
    for index, file in enumerate(files):
        error, content_type = _check(settings, file, f"{field}[{index}]")
        if error is not None:
            errors.append(error)
        types.append(content_type)
    if errors:
        raise DomainError(errors)
    return types


def new_key() -> str:
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


async def accept(
    settings: Settings, files: list[Incoming], purpose: str, field: str = "attachments"
) -> list[Stored]:
    """Check every file, then store each blob; nothing is stored when any file is bad."""
    types = validate(settings, files, purpose, field)
    storage = make_storage(settings)
    stored: list[Stored] = []
    try:
        for file, content_type in zip(files, types, strict=True):
            key = new_key()
            await storage.put(key, file.data, content_type)
            stored.append(
                Stored(
                    key=key,
                    filename=clean_filename(file.filename, content_type),
                    content_type=content_type,
                    size=len(file.data),
                    sha256=hashlib.sha256(file.data).hexdigest(),
                    purpose=str(purpose),
                )
            )
    except BaseException:
        await discard(settings, stored)
        raise
    return stored


async def record(
    stored: list[Stored], grievance_id: int, event_id: int | None, uploaded_by_id: int | None
) -> list[Attachment]:
    """The rows of stored blobs; call it inside the transaction that writes the event."""
    return [
        await Attachment.create(
            grievance_id=grievance_id,
            event_id=event_id,
            filename=item.filename,
            purpose=item.purpose,
            content_type=item.content_type,
            size_bytes=item.size,
            sha256=item.sha256,
            storage_key=item.key,
            uploaded_by_id=uploaded_by_id,
        )
        for item in stored
    ]


async def discard(settings: Settings, stored: list[Stored]) -> None:
    """Delete blobs whose rows were never written; never raises (the caller's error wins)."""
    storage = make_storage(settings)
    for item in stored:
        try:
            await storage.delete(item.key)
        except Exception:
            logger.warning("could not delete an orphan blob", extra={"key": item.key})


async def attachments_for(grievance_ids: list[int]) -> dict[int, list[Attachment]]:
    """Attachments of grievances already checked as visible, oldest first."""
    by_grievance: dict[int, list[Attachment]] = {gid: [] for gid in grievance_ids}
    for row in await Attachment.filter(grievance_id__in=grievance_ids).order_by("id"):
        by_grievance[row.grievance_id].append(row)
    return by_grievance


def _signature(settings: Settings, attachment_id: int, exp: int) -> str:
    message = f"hub-file-download:{attachment_id}:{exp}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def download_url(settings: Settings, attachment: Attachment, now: float | None = None) -> str:
    """A link to the file that works for ``download_url_seconds``; whoever holds it may fetch."""
    exp = int(now if now is not None else time.time()) + settings.download_url_seconds
    query = urlencode({"exp": exp, "sig": _signature(settings, attachment.id, exp)})
    return f"{settings.public_url.rstrip('/')}/files/{attachment.id}?{query}"


def download_headers(attachment: Attachment) -> dict[str, str]:
    """Headers that make a browser save the file, never render or sniff it, and not cache it."""
    name = attachment.filename
    ascii_name = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in name)
    disposition = f'attachment; filename="{ascii_name}"'
    if ascii_name != name:
        disposition += f"; filename*=UTF-8''{quote(name, safe='')}"
    return {
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Referrer-Policy": "no-referrer",
    }


async def open_download(
    settings: Settings, attachment_id: int, exp: int | str, sig: str
) -> tuple[Attachment, bytes] | None:
    """The row and bytes a signed link names; None for a bad or expired link or a lost file."""
    try:
        expires = int(exp)
    except (TypeError, ValueError):
        return None
    expected = _signature(settings, attachment_id, expires)
    if not hmac.compare_digest(expected.encode(), str(sig).encode()) or expires < time.time():
        return None
    row = await Attachment.get_or_none(id=attachment_id)
    if row is None:
        return None
    try:
        data = await make_storage(settings).get(row.storage_key)
    except BlobMissing:
        logger.error("attachment blob is missing", extra={"attachment_id": row.id})
        return None
    if hashlib.sha256(data).hexdigest() != row.sha256:
        logger.error("attachment blob does not match its checksum", extra={"attachment_id": row.id})
        return None
    return row, data
