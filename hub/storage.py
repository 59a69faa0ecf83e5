"""Where attachment bytes live: a directory (embedded) or an S3-compatible bucket (production).

Keys are opaque, hub-chosen names (``ab/ab12...``); a key that could leave the directory
or the bucket prefix is refused before any I/O.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import ClientError

from hub.settings import Settings

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

# segments of letters, digits, dot, dash and underscore, never starting with a dot
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,3}")


class InvalidKey(ValueError):
    """A storage key that is not one the hub would make (e.g. ``../etc/passwd``)."""


class BlobMissing(LookupError):
    """No blob is stored under the key."""


def check_key(key: str) -> str:
    if len(key) > 255 or not _KEY.fullmatch(key):
        raise InvalidKey(
            f"Storage key {key[:80]!r} is not allowed: use up to 4 segments of letters, digits, "
            "'.', '-' and '_', joined by '/', none starting with '.'."
        )
    return key


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes:
        """The blob's bytes; ``BlobMissing`` when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    async def presigned_get(self, key: str, seconds: int) -> str | None:
        """A URL the blob can be fetched from directly for ``seconds``; None if unsupported."""
        ...


class LocalStorage:
    """Files under one directory; a write is a temp file renamed into place."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"Storage key {key[:80]!r} leaves the storage directory.")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise BlobMissing(key) from None

    async def delete(self, key: str) -> None:
        path = self.path(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    async def presigned_get(self, key: str, seconds: int) -> str | None:
        return None

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _self_hosted(endpoint: str) -> bool:
    return bool(endpoint) and "amazonaws.com" not in endpoint


class S3Storage:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph): one short-lived client per call."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
    ) -> None:
        if not bucket:
            raise ValueError("Config 'HUB_S3_BUCKET' is empty. S3 storage needs a bucket.")
        self.bucket = bucket
        self.endpoint = endpoint or None
        self.region = region
        self.access_key = access_key or None
        self.secret_key = secret_key or None
        self._session: AioSession = get_session()
        self._config = AioConfig(
            signature_version="s3v4",
            # MinIO, Ceph and most self-hosted stores want path-style URLs; AWS picks its own
            s3={"addressing_style": "path" if _self_hosted(endpoint) else "auto"},
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
        )

    def _client(self) -> ClientCreatorContext[S3Client]:
        return self._session.create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=self._config,
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        async with self._client() as s3:
            await s3.put_object(
                Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
            )

    async def get(self, key: str) -> bytes:
        async with self._client() as s3:
            try:
                response = await s3.get_object(Bucket=self.bucket, Key=check_key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                    raise BlobMissing(key) from None
                raise
            async with response["Body"] as body:
                data: bytes = await body.read()
            return data

    async def delete(self, key: str) -> None:
        async with self._client() as s3:
            await s3.delete_object(Bucket=self.bucket, Key=check_key(key))

    async def presigned_get(self, key: str, seconds: int) -> str | None:
        async with self._client() as s3:
            url: str = await s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": check_key(key)},
                ExpiresIn=seconds,
            )
            return url


@functools.lru_cache(maxsize=8)
def make_storage(settings: Settings) -> Storage:
    """The storage the settings name; one instance per settings."""
    if settings.storage == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
        )
    return LocalStorage(settings.storage_dir)
