"""Attachments: files are judged by their bytes, stored all or nothing, fetched by signed link."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import struct
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.datastructures import UploadFile

from hub.app import _NO_SIGNATURES, create_app
from hub.enums import Channel
from hub.errors import DomainError
from hub.models import Attachment, Grievance
from hub.runtime import Runtime
from hub.services import attachments
from hub.services.attachments import Incoming, accept, discard, download_url, record
from hub.services.grievances import FilingData, file_grievance
from hub.settings import Settings
from hub.storage import BlobMissing, InvalidKey, LocalStorage, S3Storage, make_storage
from schema.attachments import read_uploads
from tests.conftest import People, data_of, unavailable


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + b"\x00" * 64
    + b"\xff\xd9"
)
PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 120
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 112
GARBAGE = {
    "description": "Garbage has not been collected from our lane for a week.",
    "categoryCode": "UDD-ULB-SWM-GARB-DOOR",
    "boundaryCode": "KA-BLR-BBMP-W150",
}


def blobs(root: Path) -> list[Path]:
    """Every file under the storage directory, temp files included."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def local(tmp_path: Path) -> Settings:
    """Settings whose attachments live in this test's own directory (no database needed)."""
    return Settings(storage_dir=str(tmp_path / "blobs"), max_attachment_bytes=4096)


def refusal(exc: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in exc.value.errors]


# --- checking and storing ---------------------------------------------------------------


async def test_good_files_are_typed_by_their_bytes_and_stored(local: Settings) -> None:
    sent = [
        Incoming("IMG_0042.JPG", JPEG),
        Incoming("scan.png", PNG),
        Incoming("ATR report.pdf", PDF),
        Incoming("kerb.webp", WEBP),
        Incoming("pothole.heic", HEIC),
        Incoming("no-extension", JPEG),
    ]
    stored = await accept(local.replace(max_attachments=6), sent, "photo")
    assert [s.content_type for s in stored] == [
        "image/jpeg",
        "image/png",
        "application/pdf",
        "image/webp",
        "image/heic",
        "image/jpeg",
    ]
    for item, incoming in zip(stored, sent, strict=True):
        assert item.filename == incoming.filename
        assert item.size == len(incoming.data)
        assert item.sha256 == hashlib.sha256(incoming.data).hexdigest()
        assert item.purpose == "photo"
        assert await make_storage(local).get(item.key) == incoming.data
    assert len({s.key for s in stored}) == len(stored)
    assert len(blobs(Path(local.storage_dir))) == len(stored)  # no temp files left behind


@pytest.mark.parametrize("payload", [ELF, EXE], ids=["elf", "windows-exe"])
async def test_an_executable_named_photo_jpg_is_disguised(local: Settings, payload: bytes) -> None:
    with pytest.raises(DomainError) as exc:
        await accept(local, [Incoming("photo.jpg", payload)], "photo")
    assert refusal(exc) == [("attachments[0]", "disguised")]
    assert "photo.jpg is named .jpg" in exc.value.errors[0].message
    assert blobs(Path(local.storage_dir)) == []


async def test_a_pdf_named_jpg_and_a_jpeg_named_pdf_are_disguised(local: Settings) -> None:
    with pytest.raises(DomainError) as exc:
        await accept(local, [Incoming("photo.jpg", PDF), Incoming("atr.pdf", JPEG)], "evidence")
    assert refusal(exc) == [("attachments[0]", "disguised"), ("attachments[1]", "disguised")]
    assert "its content is PDF" in exc.value.errors[0].message
    assert blobs(Path(local.storage_dir)) == []


async def test_other_types_are_unsupported(local: Settings) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    sent = [Incoming("notes.txt", b"just text"), Incoming("logo.svg", svg), Incoming("run", ELF)]
    with pytest.raises(DomainError) as exc:
        await accept(local, sent, "document")
    assert refusal(exc) == [
        ("attachments[0]", "unsupported_type"),
        ("attachments[1]", "unsupported_type"),
        ("attachments[2]", "unsupported_type"),
    ]


async def test_every_bad_file_is_named_and_nothing_is_stored(local: Settings) -> None:
    sent = [
        Incoming("fine.jpg", JPEG),
        Incoming("huge.jpg", JPEG + b"\x00" * local.max_attachment_bytes),
        Incoming("empty.png", b""),
        Incoming("photo.jpg", ELF),
    ]
    with pytest.raises(DomainError) as exc:
        await accept(local, sent, "photo", field="input.attachments")
    assert refusal(exc) == [
        ("input.attachments[1]", "too_large"),
        ("input.attachments[2]", "empty"),
        ("input.attachments[3]", "disguised"),
    ]
    assert exc.value.errors[0].message == "huge.jpg is larger than the 4 KiB limit per file."
    assert blobs(Path(local.storage_dir)) == []


async def test_too_many_files_and_a_bad_purpose_are_refused(local: Settings) -> None:
    many = [Incoming(f"{i}.jpg", JPEG) for i in range(local.max_attachments + 1)]
    with pytest.raises(DomainError) as exc:
        await accept(local, many, "photo")
    assert refusal(exc) == [("attachments", "too_many")]
    with pytest.raises(DomainError) as exc:
        await accept(local, [Incoming("a.jpg", JPEG)], "selfie")
    assert refusal(exc) == [("attachments", "invalid_purpose")]
    assert blobs(Path(local.storage_dir)) == []
    assert await accept(local, [], "photo") == []


async def test_a_failed_write_leaves_no_blobs(
    local: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = make_storage(local)
    real_put = storage.put
    calls = 0

    async def flaky_put(key: str, data: bytes, content_type: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        await real_put(key, data, content_type)

    monkeypatch.setattr(storage, "put", flaky_put)
    with pytest.raises(OSError, match="disk full"):
        await accept(local, [Incoming("a.jpg", JPEG), Incoming("b.png", PNG)], "photo")
    assert blobs(Path(local.storage_dir)) == []


async def test_discard_removes_blobs(local: Settings) -> None:
    stored = await accept(local, [Incoming("a.jpg", JPEG), Incoming("b.pdf", PDF)], "document")
    await discard(local, stored)
    await discard(local, stored)  # twice is harmless
    assert blobs(Path(local.storage_dir)) == []


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("C:\\Users\\asha\\Pictures\\pothole.jpg", "pothole.jpg"),
        ("  .hidden.jpg", "hidden.jpg"),
        ("gpj\u202e.exe.jpg", "gpj.exe.jpg"),  # a right-to-left override goes
        ("ರಸ್ತೆ ಗುಂಡಿ.jpg", "ರಸ್ತೆ ಗುಂಡಿ.jpg"),  # Kannada stays, joiners and all
        ("क्‍ष photo.jpg", "क्‍ष photo.jpg"),
        ('a<b>:"c|?*\t\n.jpg', "abc .jpg"),
        ("", "attachment.jpg"),
        ("x" * 300 + ".jpg", "x" * 196 + ".jpg"),
    ],
)
def test_filenames_are_cleaned(sent: str, kept: str) -> None:
    assert attachments.clean_filename(sent, "image/jpeg") == kept


async def test_read_uploads_reads_no_more_than_one_byte_past_the_limit(local: Settings) -> None:
    big = UploadFile(io.BytesIO(b"\xff" * (local.max_attachment_bytes * 3)), filename="big.jpg")
    small = UploadFile(io.BytesIO(JPEG), filename="small.jpg")
    files = await read_uploads([big, small], local)
    assert [(f.filename, len(f.data)) for f in files] == [
        ("big.jpg", local.max_attachment_bytes + 1),
        ("small.jpg", len(JPEG)),
    ]
    with pytest.raises(DomainError) as exc:
        await read_uploads(["not a file"], local)
    assert refusal(exc) == [("attachments[0]", "not_a_file")]


# --- local storage ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["../outside", "/etc/passwd", "ab/../../outside", "..", ".hidden", "a\\b", "a//b", "", "ab/"],
)
async def test_local_storage_keys_never_leave_the_directory(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    with pytest.raises(InvalidKey):
        await storage.put(key, b"x", "image/jpeg")
    with pytest.raises(InvalidKey):
        await storage.get(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)
    assert blobs(tmp_path) == []


async def test_local_storage_refuses_a_symlink_out(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.mkdir()
    (tmp_path / "elsewhere").mkdir()
    (root / "ab").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InvalidKey):
        await LocalStorage(root).put("ab/x", b"x", "image/png")
    assert list((tmp_path / "elsewhere").iterdir()) == []


async def test_local_storage_round_trip(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "blobs")
    await storage.put("ab/ab12", b"first", "image/png")
    await storage.put("ab/ab12", b"second", "image/png")  # replaced whole
    assert await storage.get("ab/ab12") == b"second"
    assert await storage.presigned_get("ab/ab12", 60) is None
    await storage.delete("ab/ab12")
    await storage.delete("ab/ab12")
    with pytest.raises(BlobMissing):
        await storage.get("ab/ab12")
    assert blobs(tmp_path / "blobs") == []


# --- rows and downloads -----------------------------------------------------------------


@pytest.fixture
def stored_rt(rt: Runtime, tmp_path: Path) -> Runtime:
    """The test's runtime with attachments kept in the test's own directory."""
    return dataclasses.replace(
        rt, settings=rt.settings.replace(storage_dir=str(tmp_path / "blobs"))
    )


@pytest.fixture
async def web(stored_rt: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stored_rt.settings, jobs=stored_rt.jobs, broker=stored_rt.broker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def _grievance(rt: Runtime, people: People) -> Grievance:
    return await file_grievance(
        rt,
        people.actor(people.asha),
        FilingData(
            description=GARBAGE["description"],
            channel=Channel.WEB,
            category_code=GARBAGE["categoryCode"],
            boundary_code=GARBAGE["boundaryCode"],
        ),
    )


async def test_record_writes_one_row_per_blob(stored_rt: Runtime, people: People) -> None:
    grievance = await _grievance(stored_rt, people)
    stored = await accept(
        stored_rt.settings, [Incoming("a.jpg", JPEG), Incoming("b.pdf", PDF)], "evidence"
    )
    rows = await record(stored, grievance.id, None, people.asha.id)
    assert [(r.filename, r.content_type, r.purpose) for r in rows] == [
        ("a.jpg", "image/jpeg", "evidence"),
        ("b.pdf", "application/pdf", "evidence"),
    ]
    fresh = await Attachment.filter(grievance_id=grievance.id).order_by("id")
    assert [(r.storage_key, r.size_bytes, r.sha256) for r in fresh] == [
        (s.key, s.size, s.sha256) for s in stored
    ]
    assert all(r.uploaded_by_id == people.asha.id and r.event_id is None for r in fresh)


def _path(url: str) -> str:
    """An absolute hub URL as a path and query for the test client."""
    return httpx.URL(url).raw_path.decode()


async def test_a_signed_link_downloads_the_file(
    stored_rt: Runtime, people: People, web: httpx.AsyncClient
) -> None:
    settings = stored_rt.settings
    grievance = await _grievance(stored_rt, people)
    stored = await accept(settings, [Incoming('ರಸ್ತೆ "gundi".pdf', PDF)], "document")
    (row,) = await record(stored, grievance.id, None, people.asha.id)
    url = download_url(settings, row)
    assert url.startswith(f"{settings.public_url}/files/{row.id}?exp=")
    response = await web.get(_path(url))
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["content-disposition"] == (
        'attachment; filename="_____ gundi.pdf"; '
        f"filename*=UTF-8''{quote('ರಸ್ತೆ gundi.pdf', safe='')}"
    )


async def test_a_bad_or_expired_link_is_forbidden(
    stored_rt: Runtime, people: People, web: httpx.AsyncClient
) -> None:
    settings = stored_rt.settings
    grievance = await _grievance(stored_rt, people)
    (row,) = await record(
        await accept(settings, [Incoming("a.jpg", JPEG)], "photo"), grievance.id, None, None
    )
    good = _path(download_url(settings, row))
    path, query = good.split("?")
    params = dict(pair.split("=") for pair in query.split("&"))
    sig, exp = params["sig"], params["exp"]
    tampered_sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    expired = _path(
        download_url(settings, row, now=time.time() - settings.download_url_seconds - 1)
    )
    other = await Attachment.create(
        grievance_id=grievance.id,
        filename="x.jpg",
        content_type="image/jpeg",
        size_bytes=1,
        sha256="0" * 64,
        storage_key="zz/other",
    )
    answers = []
    for target in (
        f"{path}?exp={exp}&sig={tampered_sig}",
        f"{path}?exp={int(exp) + 1}&sig={sig}",
        expired,
        f"{path}?exp={exp}",
        f"{path}?exp=soon&sig={sig}",
        f"/files/{other.id}?exp={exp}&sig={sig}",  # a good signature for another file
        f"/files/999999?exp={exp}&sig={sig}",
        _path(download_url(settings, Attachment(id=999999))),  # signed, but no such file
    ):
        response = await web.get(target)
        answers.append((response.status_code, response.json()))
    assert answers == [(403, answers[0][1])] * len(answers)
    assert answers[0][1]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await web.get(good)).status_code == 200


async def test_a_changed_blob_is_not_served(stored_rt: Runtime, people: People) -> None:
    settings = stored_rt.settings
    grievance = await _grievance(stored_rt, people)
    (row,) = await record(
        await accept(settings, [Incoming("a.jpg", JPEG)], "photo"), grievance.id, None, None
    )
    params = dict(p.split("=") for p in download_url(settings, row).split("?")[1].split("&"))
    assert await attachments.open_download(settings, row.id, params["exp"], params["sig"])
    await make_storage(settings).put(row.storage_key, JPEG + b"tampered", "image/jpeg")
    assert await attachments.open_download(settings, row.id, params["exp"], params["sig"]) is None
    await make_storage(settings).delete(row.storage_key)
    assert await attachments.open_download(settings, row.id, params["exp"], params["sig"]) is None


# --- over GraphQL -----------------------------------------------------------------------

FILE = """
mutation File($input: FileGrievanceInput!) {
  fileGrievance(input: $input) {
    grievance {
      registrationNumber
      attachments { id filename contentType sizeBytes purpose uploadedAt downloadUrl }
    }
    errors { field code message }
  }
}
"""


def multipart(
    query: str, variables: dict[str, Any], files: dict[str, tuple[str, str, bytes]]
) -> dict[str, Any]:
    """httpx arguments for a GraphQL multipart request: ``files`` maps a variable path
    (``input.attachments.0``) to (file name, content type, bytes)."""
    parts = {str(i): (name, data, kind) for i, (name, kind, data) in enumerate(files.values())}
    mapping = {str(i): [f"variables.{path}"] for i, path in enumerate(files)}
    return {
        "data": {
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps(mapping),
        },
        "files": parts,
    }


async def test_a_citizen_files_with_photos_and_downloads_them(
    web: httpx.AsyncClient, people: People, stored_rt: Runtime
) -> None:
    request = multipart(
        FILE,
        {"input": {**GARBAGE, "attachments": [None, None]}},
        {
            "input.attachments.0": ("pile.jpg", "image/jpeg", JPEG),
            "input.attachments.1": ("complaint.pdf", "application/octet-stream", PDF),
        },
    )
    headers = {"X-Hub-CSRF": "1", "X-Hub-Dev-User": str(people.asha.id)}
    response = await web.post("/graphql", headers=headers, **request)
    payload = data_of(response.json())["fileGrievance"]
    assert payload["errors"] == []
    files = payload["grievance"]["attachments"]
    assert [(f["filename"], f["contentType"], f["sizeBytes"], f["purpose"]) for f in files] == [
        ("pile.jpg", "image/jpeg", len(JPEG), "PHOTO"),
        ("complaint.pdf", "application/pdf", len(PDF), "PHOTO"),
    ]
    for file, content in zip(files, (JPEG, PDF), strict=True):
        download = await web.get(_path(file["downloadUrl"]))
        assert download.status_code == 200 and download.content == content


async def test_a_disguised_upload_files_nothing(
    web: httpx.AsyncClient, people: People, stored_rt: Runtime
) -> None:
    request = multipart(
        FILE,
        {"input": {**GARBAGE, "attachments": [None]}},
        {"input.attachments.0": ("photo.jpg", "image/jpeg", ELF)},
    )
    headers = {"X-Hub-CSRF": "1", "X-Hub-Dev-User": str(people.asha.id)}
    payload = data_of((await web.post("/graphql", headers=headers, **request)).json())
    assert payload["fileGrievance"]["grievance"] is None
    assert [(e["field"], e["code"]) for e in payload["fileGrievance"]["errors"]] == [
        ("attachments[0]", "disguised")
    ]
    assert await Grievance.all().count() == 0
    assert blobs(Path(stored_rt.settings.storage_dir)) == []


# --- CSRF -------------------------------------------------------------------------------

QUERY_ONLY = "{ departments { code } }"


@pytest.mark.parametrize(
    "body",
    [
        {
            "content": b"operations=x",
            "headers": {"content-type": "application/x-www-form-urlencoded"},
        },
        {
            "content": json.dumps({"query": QUERY_ONLY}).encode(),
            "headers": {"content-type": "text/plain"},
        },
        multipart(QUERY_ONLY, {}, {"file": ("a.jpg", "image/jpeg", JPEG)}),
    ],
    ids=["form-urlencoded", "text-plain", "multipart"],
)
async def test_a_form_like_post_without_the_csrf_header_is_refused(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/graphql", **body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "CSRF_REFUSED"
    assert "X-Hub-CSRF" in error["message"]
    empty = {**body, "headers": {**body.get("headers", {}), "X-Hub-CSRF": " "}}
    assert (await client.post("/graphql", **empty)).status_code == 400


@pytest.mark.parametrize("header", ["X-Hub-CSRF", "Apollo-Require-Preflight"])
async def test_a_multipart_post_with_the_csrf_header_reaches_graphql(
    client: httpx.AsyncClient, header: str
) -> None:
    request = multipart(QUERY_ONLY, {}, {"file": ("a.jpg", "image/jpeg", JPEG)})
    response = await client.post("/graphql", headers={header: "1"}, **request)
    assert response.status_code == 200
    assert "UDD" in [d["code"] for d in data_of(response.json())["departments"]]


async def test_json_posts_need_no_csrf_header(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": QUERY_ONLY})
    assert response.status_code == 200


async def test_a_multipart_body_may_carry_the_files_but_no_more(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    photo = JPEG + b"\x00" * (settings.max_body_bytes + 1)  # over the JSON cap, under a file's
    request = multipart(QUERY_ONLY, {}, {"file": ("big.jpg", "image/jpeg", photo)})
    response = await client.post("/graphql", headers={"X-Hub-CSRF": "1"}, **request)
    assert response.status_code == 200
    allowed = settings.max_body_bytes + settings.max_attachments * settings.max_attachment_bytes
    too_big = multipart(QUERY_ONLY, {}, {"file": ("big.jpg", "image/jpeg", b"\x00" * allowed)})
    response = await client.post("/graphql", headers={"X-Hub-CSRF": "1"}, **too_big)
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_access_logs_hide_the_signature() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", "/files/7?exp=99&sig=abcdef", "1.1", 200), None,
    )  # fmt: skip
    assert _NO_SIGNATURES.filter(record)
    assert "abcdef" not in record.getMessage() and "sig=***" in record.getMessage()


# --- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    how = "pip install -c constraints.txt -e '.[dev]' (moto[s3], flask, flask-cors)"
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        unavailable("moto's S3 server", f"cannot import it: {exc}", how)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        server.start()
        host, port = server.get_host_and_port()
    except Exception as exc:
        unavailable("moto's S3 server", f"it did not start: {type(exc).__name__}: {exc}", how)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
async def s3(s3_endpoint: str, tmp_path: Path) -> Settings:
    settings = Settings(
        storage="s3",
        storage_dir=str(tmp_path / "unused"),
        s3_endpoint=s3_endpoint,
        s3_bucket=f"hub-test-{tmp_path.name.lower().replace('_', '-')[:40]}",
        s3_access_key="test",
        s3_secret_key="test",
    )
    storage = make_storage(settings)
    assert isinstance(storage, S3Storage)
    async with storage._client() as client:
        await client.create_bucket(Bucket=settings.s3_bucket)
    return settings


async def test_s3_storage_round_trip(s3: Settings) -> None:
    storage = make_storage(s3)
    await storage.put("ab/ab34", PDF, "application/pdf")
    assert await storage.get("ab/ab34") == PDF
    url = await storage.presigned_get("ab/ab34", 60)
    assert url is not None and "X-Amz-Signature=" in url
    async with httpx.AsyncClient() as http:
        fetched = await http.get(url)
    assert fetched.status_code == 200 and fetched.content == PDF
    await storage.delete("ab/ab34")
    await storage.delete("ab/ab34")
    with pytest.raises(BlobMissing):
        await storage.get("ab/ab34")
    with pytest.raises(InvalidKey):
        await storage.put("../escape", PDF, "application/pdf")


async def test_accept_and_discard_on_s3(s3: Settings) -> None:
    stored = await accept(s3, [Incoming("a.jpg", JPEG), Incoming("b.png", PNG)], "photo")
    storage = make_storage(s3)
    assert [await storage.get(s.key) for s in stored] == [JPEG, PNG]
    await discard(s3, stored)
    for item in stored:
        with pytest.raises(BlobMissing):
            await storage.get(item.key)
    assert blobs(Path(s3.storage_dir)) == []  # nothing went to the local directory
