"""The web application of ``simclr serve`` (WSGI, on Werkzeug: its routing, request parsing and
upload limit, already installed with TensorBoard, so the server adds no dependency).

Routes: ``/`` (a page of the gallery to pick a query from), ``/search`` (GET a gallery row's
neighbours; POST an upload, answered by a redirect to its page), ``/api/search`` (the same as
JSON, rows as ``simclr retrieve --json`` gives them), ``/image/INDEX/ROW`` (a gallery image by
row), ``/query/SHA256`` (an uploaded query). A request names an index by the name the server
gave it and an image by its row: no path from a request is ever opened. Every refusal is a 4xx
with one line saying what is allowed; the server goes on serving.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from PIL import Image
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from linear_eval.retrieval.page import STYLE, Site, error_page, gallery_page, results_page
from linear_eval.retrieval.served import ServedIndex, unreadable_row
from linear_eval.retrieval.upload import decode_upload
from simclr.errors import ConfigError, DataError

MAX_K = 100  # neighbours on one page
MAX_RANK = 1000  # the deepest rank paged to: faiss searches page x k rows for the last page
GALLERY_PER_PAGE = 60
THUMBNAIL_SIDE = 256  # a gallery image is sent at most this large (its longer side)
KEPT_UPLOADS = 64  # uploaded queries kept in memory for their pages, the oldest dropped first
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
}


class Refused(Exception):
    """A request that cannot be answered: its HTTP status and one line saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class GallerySite:
    """The WSGI application over ``indexes`` (name -> index) of the run ``run_name``."""

    def __init__(
        self,
        run_name: str,
        indexes: list[ServedIndex],
        top_k: int = 10,
        max_upload_bytes: int = 20 * 2**20,
    ):
        self.site = Site(run_name, {served.name: served for served in indexes})
        self.top_k = top_k
        self.max_upload_bytes = max_upload_bytes
        self.uploads: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.uploads_lock = threading.Lock()
        self.url_map = Map(
            [
                Rule("/", endpoint="home"),
                Rule("/style.css", endpoint="style"),
                Rule("/search", endpoint="search", methods=["GET", "POST"]),
                Rule("/api/search", endpoint="api_search", methods=["GET", "POST"]),
                Rule("/image/<name>/<row>", endpoint="image"),
                Rule("/query/<digest>", endpoint="query_image"),
            ]
        )

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_upload_bytes
        response = self.respond(request)
        response.headers.extend(HEADERS)
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        api = request.path.startswith("/api/")
        served = None
        try:
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
            served = self.index_of(values.get("name") or request.args.get("index"))
            return getattr(self, f"on_{endpoint}")(request, served, **values)
        except Refused as refused:
            return self.refusal(refused.status, str(refused), served, api)
        except RequestEntityTooLarge:
            limit = self.max_upload_bytes / 2**20
            message = f"the upload is larger than the {limit:g} MiB allowed (--max-upload-mib)"
            return self.refusal(413, message, served, api)
        except HTTPException as error:  # no such route, or a method it does not take
            return self.refusal(error.code or 400, f"{error.name}: {request.path}", served, api)
        except Exception as error:  # a fault of the server: one line here, and it goes on
            line = f"{type(error).__name__}: {error}".splitlines()[0]
            print(f"serve: {request.method} {request.path}: {line}", file=sys.stderr)
            return self.refusal(500, f"the server failed on this request ({line})", served, api)

    def refusal(self, status: int, message: str, served: ServedIndex | None, api: bool):
        if api:
            return json_response({"error": message}, status)
        page = error_page(self.site, served, status, message)
        return Response(page, status, mimetype="text/html")

    # ------------------------------------------------------------------ parameters
    def index_of(self, name: str | None) -> ServedIndex:
        """The index a request names (the first when it names none)."""
        indexes = self.site.indexes
        if name is None:
            return next(iter(indexes.values()))
        if name not in indexes:
            allowed = ", ".join(indexes)
            raise Refused(404, f"no index named {name!r} here: the indexes are {allowed}")
        return indexes[name]

    def k_of(self, request: Request, served: ServedIndex) -> int:
        most = min(MAX_K, served.count)
        k = whole_number(request.args.get("k"), "k", self.top_k if self.top_k <= most else most)
        if not 1 <= k <= most:
            beyond = f"; the gallery holds {served.count:,} images" if k > served.count else ""
            raise Refused(400, f"k {k} is not allowed: from 1 to {most} neighbours a page{beyond}")
        return k

    # ------------------------------------------------------------------ pages
    def on_style(self, request: Request, served: ServedIndex) -> Response:
        return Response(STYLE, mimetype="text/css")

    def on_home(self, request: Request, served: ServedIndex) -> Response:
        k = self.k_of(request, served)
        last = max(1, -(-served.count // GALLERY_PER_PAGE))
        page = page_of(request, last)
        html = gallery_page(self.site, served, page, GALLERY_PER_PAGE, k)
        return Response(html, mimetype="text/html")

    def on_search(self, request: Request, served: ServedIndex) -> Response:
        if request.method == "POST":
            digest = self.receive_upload(request, served)
            target = f"/search?index={served.name}&upload={digest}&k={self.k_of(request, served)}"
            return redirect(target, 303)
        query, hits, k, page, last = self.answer(request, served)
        html = results_page(self.site, served, query, hits, k, page, last)
        return Response(html, mimetype="text/html")

    def on_api_search(self, request: Request, served: ServedIndex) -> Response:
        upload = self.receive_upload(request, served) if request.method == "POST" else None
        query, hits, k, page, last = self.answer(request, served, upload)
        answer = {
            "index": served.name,
            "query": {key: query.get(key) for key in ("row", "upload", "title")},
            "k": k,
            "page": page,
            "pages": last,
            "neighbours": hits,
        }
        return json_response(answer, 200)

    def answer(self, request: Request, served: ServedIndex, upload: str | None = None):
        """The query a request names (a gallery row, or an upload kept or just received) and
        its page of hits."""
        k = self.k_of(request, served)
        row, upload = request.args.get("row"), upload or request.args.get("upload")
        if (row is None) == (upload is None):
            raise Refused(400, "name one query: row=N (a gallery image) or upload=SHA256")
        if row is not None:
            row = row_of(row, served)
            image = self.gallery_image(served, row)
            title = f"gallery image {row} ({served.item_name(row)})"
            query = {"row": row, "image": f"/image/{served.name}/{row}", "title": title}
        else:
            image = self.kept_upload(upload)
            query = {"upload": upload, "image": f"/query/{upload}", "title": "uploaded image"}
        last = -(-min(served.count, MAX_RANK) // k)
        page = page_of(request, last)
        try:
            hits = served.search(image, min(page * k, served.count))[(page - 1) * k :]
        except ConfigError as error:  # an encoder that does not match the index
            raise Refused(409, str(error)) from None
        return query, hits, k, page, last

    # ------------------------------------------------------------------ images
    def on_image(self, request: Request, served: ServedIndex, name: str, row: str) -> Response:
        row = row_of(row, served)
        return png_response(self.gallery_image(served, row), max_age=3600)

    def on_query_image(self, request: Request, served: ServedIndex, digest: str) -> Response:
        return png_response(self.kept_upload(digest), max_age=3600)

    def gallery_image(self, served: ServedIndex, row: int) -> torch.Tensor:
        try:
            return served.image(row)
        except DataError as error:
            raise Refused(422, unreadable_row(served, row, error)) from None

    def receive_upload(self, request: Request, served: ServedIndex) -> str:
        """Decode the upload of field ``image``, keep it, and return its sha256."""
        upload = request.files.get("image")
        if upload is None:
            raise Refused(400, "no file in the form's field 'image': choose an image to upload")
        data = upload.read(self.max_upload_bytes + 1)
        if len(data) > self.max_upload_bytes:
            raise RequestEntityTooLarge()
        try:
            image = decode_upload(data, served.preprocessing.channels)
        except DataError as error:
            raise Refused(400, f"{upload.filename or 'the upload'}: {error}") from None
        digest = hashlib.sha256(data).hexdigest()
        with self.uploads_lock:
            self.uploads[digest] = image
            self.uploads.move_to_end(digest)
            while len(self.uploads) > KEPT_UPLOADS:
                self.uploads.popitem(last=False)
        return digest

    def kept_upload(self, digest: str) -> torch.Tensor:
        with self.uploads_lock:
            image = self.uploads.get(digest)
        if image is None:
            raise Refused(
                404,
                "no uploaded query with that sha256 here (the server keeps the "
                f"last {KEPT_UPLOADS}): upload the image again",
            )
        return image


def whole_number(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise Refused(400, f"{name} {shown!r} is not a whole number") from None


def row_of(text: str, served: ServedIndex) -> int:
    row = whole_number(text, "row", 0)
    if not 0 <= row < served.count:
        raise Refused(400, f"row {row} is not in the gallery: from 0 to {served.count - 1:,}")
    return row


def page_of(request: Request, last: int) -> int:
    page = whole_number(request.args.get("page"), "page", 1)
    if not 1 <= page <= last:
        raise Refused(400, f"page {page} is not allowed: from 1 to {last:,}")
    return page


def json_response(value: Any, status: int) -> Response:
    return Response(json.dumps(value), status, mimetype="application/json")


def png_response(image: torch.Tensor, max_age: int) -> Response:
    """A uint8 (C, H, W) image as PNG, its longer side at most THUMBNAIL_SIDE."""
    array = image.permute(1, 2, 0).numpy()
    picture = Image.fromarray(np.ascontiguousarray(array[..., 0] if array.shape[2] == 1 else array))
    picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    response = Response(buffer.getvalue(), mimetype="image/png")
    response.cache_control.max_age = max_age
    return response
