"""Attachments in GraphQL: the type, reading multipart uploads, a grievance's files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from hub.errors import DomainError, FieldError
from hub.models import Attachment as AttachmentRow
from hub.services import attachments as service
from hub.services.attachments import Incoming
from hub.settings import Settings
from schema.context import Info

AttachmentPurpose = strawberry.enum(service.Purpose, name="AttachmentPurpose")


@strawberry.type(description="A photo, document or piece of evidence on a grievance.")
class Attachment:
    row: strawberry.Private[AttachmentRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(description="The name it was sent with, cleaned of paths.")
    def filename(self) -> str:
        return self.row.filename

    @strawberry.field(description="Sniffed from the bytes, not taken from the sender.")
    def content_type(self) -> str:
        return self.row.content_type

    @strawberry.field
    def size_bytes(self) -> int:
        return int(self.row.size_bytes)

    @strawberry.field
    def purpose(self) -> AttachmentPurpose:  # type: ignore[valid-type]
        return service.Purpose(self.row.purpose)

    @strawberry.field
    def uploaded_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="A link that downloads the file for a few minutes.")
    def download_url(self, info: Info) -> str:
        return service.download_url(info.context.runtime.settings, self.row)


async def read_uploads(
    uploads: Sequence[Upload] | None, settings: Settings, field: str = "attachments"
) -> list[Incoming]:
    """The uploaded files' names and bytes; a file over the limit is read only past it,
    so ``accept`` refuses it without the whole file ever being in memory."""
    files: list[Incoming] = []
    for index, upload in enumerate(uploads or ()):
        if not isinstance(upload, UploadFile):
            raise DomainError(
                [
                    FieldError(
                        f"{field}[{index}]",
                        "not_a_file",
                        "Expected a file part of a multipart request (the GraphQL multipart "
                        "request spec), not a value in the JSON.",
                    )
                ]
            )
        data = await upload.read(settings.max_attachment_bytes + 1)
        files.append(Incoming(filename=upload.filename or "", data=data))
    return files


async def attachments_of(info: Info, grievance_id: int) -> list[Attachment]:
    """The files of a grievance the caller has already been allowed to see."""
    rows = await info.context.attachments_by_grievance.load(grievance_id)
    return [Attachment(row=row) for row in rows]
