"""Tests of ``simclr serve`` over HTTP, in its own process: hostile requests each get a 4xx
with one line, the server goes on serving, and no file outside the run and its gallery is
opened; the JSON answers equal ``simclr retrieve --json``'s."""

from __future__ import annotations

import html
import io
import json
import struct
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from tests.linear_eval.retrieval.serving import fetch, retrieved, upload

pytestmark = pytest.mark.slow


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG of a few hundred bytes whose header declares ``width`` x ``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def png_of(path: Path) -> bytes:
    return path.read_bytes()


def gallery_files(served_run) -> list[Path]:
    meta = json.loads((served_run.index / "index.json").read_text())
    return [Path(p) for p in meta["paths"]]


def test_the_json_answer_of_a_gallery_row_and_of_an_upload_equal_retrieve(
    served_run, capsys
) -> None:
    files = gallery_files(served_run)
    status, kind, body = fetch(f"{served_run.url}/api/search?index=val&row=7&k=5")
    assert (status, kind) == (200, "application/json")
    answer = json.loads(body)
    expected = retrieved(served_run.index, files[7], 5, capsys)
    assert [h["row"] for h in answer["neighbours"]] == [h["row"] for h in expected]
    assert [h["score"] for h in answer["neighbours"]] == pytest.approx(
        [h["score"] for h in expected], abs=1e-6
    )

    status, _, body = upload(
        f"{served_run.url}/api/search?index=val&k=5", "q.png", png_of(files[42])
    )
    assert status == 200
    expected = retrieved(served_run.index, files[42], 5, capsys)
    assert [h["row"] for h in json.loads(body)["neighbours"]] == [h["row"] for h in expected]

    status, _, body = fetch(f"{served_run.url}/api/search?index=val&row=7&k=5&page=2")
    page_two = retrieved(served_run.index, files[7], 10, capsys)[5:]
    assert [h["rank"] for h in json.loads(body)["neighbours"]] == [6, 7, 8, 9, 10]
    assert [h["row"] for h in json.loads(body)["neighbours"]] == [h["row"] for h in page_two]


SECRET = "secret.txt"
HOSTILE = [
    # (method, path, body, status, words of the one-line answer)
    # an encoded slash is a slash to the router: no route has these paths
    ("GET", f"/image/..%2F..%2F{SECRET}/0", None, 404, "Not Found"),
    ("GET", f"/image/val/..%2F..%2F{SECRET}", None, 404, "Not Found"),
    ("GET", f"/image/..%5C..%5C{SECRET}/0", None, 404, "no index named"),
    ("GET", f"/image/val/{SECRET}", None, 400, "row 'secret.txt' is not a whole number"),
    ("GET", f"/search?index=../../{SECRET}&row=0", None, 404, "no index named"),
    (
        "GET",
        f"/search?row=../../{SECRET}",
        None,
        400,
        "row '../../secret.txt' is not a whole number",
    ),
    ("GET", f"/search?upload=../../{SECRET}", None, 404, "no uploaded query"),
    ("GET", f"/query/..%2F{SECRET}", None, 404, "Not Found"),
    ("GET", f"/query/{SECRET}", None, 404, "no uploaded query"),
    ("GET", f"/search?row=0&page=/etc/{SECRET}", None, 400, "page '/etc/secret.txt' is not"),
    ("GET", f"/style.css/../../{SECRET}", None, 404, "Not Found"),
    ("GET", "/search?row=0&k=abc", None, 400, "k 'abc' is not a whole number"),
    ("GET", "/search?row=0&k=-1", None, 400, "k -1 is not allowed: from 1 to 100"),
    ("GET", "/search?row=0&k=5000", None, 400, "the gallery holds 100 images"),
    ("GET", "/search?row=0&k=1e9", None, 400, "k '1e9' is not a whole number"),
    ("GET", "/search?row=100", None, 400, "row 100 is not in the gallery: from 0 to 99"),
    ("GET", "/search?row=0&upload=abc", None, 400, "name one query"),
    (
        "GET",
        "/search?index=other&row=0",
        None,
        409,
        "index other: the index was built with encoder",
    ),
    ("GET", "/image/val/-1", None, 400, "row -1 is not in the gallery"),
    ("DELETE", "/search?row=0", None, 405, "Method Not Allowed"),
]


def test_hostile_requests_get_a_4xx_and_one_line_and_read_nothing_outside(served_run) -> None:
    secret = served_run.run.parent / SECRET
    secret.write_text("not for the page\n")
    assert fetch(f"{served_run.url}/search?index=val&row=3")[0] == 200  # imports done, caches warm
    before = served_run.opened.read_text().splitlines()
    for method, path, body, status, words in HOSTILE:
        got, kind, answer = fetch(served_run.url + path, body, method=method)
        text = html.unescape(answer.decode())
        assert got == status, (path, got, text[-500:])
        assert kind == "text/html" and words in text, (path, text[-800:])
        assert fetch(f"{served_run.url}/search?index=val&row=1")[0] == 200  # still serving
    uploads = [
        ("big.png", b"\x89PNG" + bytes(2 * 2**20), 413, "larger than the 1 MiB allowed"),
        ("bomb.png", bomb_png(), 400, "declares more than the 40,000,000 pixels allowed"),
        ("big.png", bomb_png(8000, 8000), 400, "declares 8000 x 8000 pixels, more than the"),
        ("notes.txt", b"not an image at all\n", 400, "notes.txt: the upload is not an image"),
        ("empty.png", b"", 400, "the upload is empty"),
    ]
    for name, data, status, words in uploads:
        got, _, answer = upload(f"{served_run.url}/search?k=5", name, data)
        assert got == status and words in html.unescape(answer.decode()), (name, got, answer[-800:])
        got, kind, answer = upload(f"{served_run.url}/api/search?k=5", name, data)
        assert got == status and kind == "application/json" and words in json.loads(answer)["error"]
    assert fetch(f"{served_run.url}/search?index=val&row=1")[0] == 200
    roots = [served_run.run, served_run.gallery, Path(sys.prefix), Path(sys.base_prefix)]
    roots += [Path(__file__).parents[3], Path("/dev"), Path("/proc"), Path("/sys")]
    after = served_run.opened.read_text().splitlines()[len(before) :]
    outside = [p for p in after if not any(Path(p).resolve().is_relative_to(r) for r in roots)]
    assert not outside
    assert str(secret) not in after
