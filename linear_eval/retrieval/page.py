"""The HTML of ``simclr serve``: plain pages of links and forms (no script), every text escaped
and every link built from numbers and index names, never from a path a request gave."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from linear_eval.retrieval.served import ServedIndex

STYLE = """
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1em; padding-bottom: .5em; }
header h1 { font-size: 1.3em; margin: 0 0 .2em; }
header p { margin: .1em 0; color: #555; }
nav a, nav strong { margin-right: 1em; }
form { display: inline-block; margin: .3em 1.5em .3em 0; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; width: 128px; font-size: 12px; overflow-wrap: anywhere; }
figure img { width: 128px; height: 128px; object-fit: contain; background: #eee;
             image-rendering: pixelated; display: block; }
.query { display: flex; gap: 1em; align-items: center; margin-bottom: 1em; }
.query img { width: 192px; height: 192px; object-fit: contain; background: #eee;
             image-rendering: pixelated; }
.error { color: #a00; font-weight: bold; }
.pages a, .pages span { margin-right: 1em; }
"""


@dataclass
class Site:
    """What every page shows in its header: the run's name and its indexes."""

    run_name: str
    indexes: dict[str, ServedIndex]


def link(path: str, **params) -> str:
    """A URL of this site: ``path`` with ``params`` (None left out), escaped for an attribute."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return escape(f"{path}?{query}" if query else path)


def document(site: Site, served: ServedIndex | None, title: str, body: str) -> str:
    """A whole page: the header (run, encoder, index), the index switch, then ``body``."""
    head = f"<h1>{escape(site.run_name)}</h1>"
    if served is not None:
        encoder = served.loaded.extractor.description
        architecture = f"{encoder.get('name')} ({encoder.get('stem')} stem)"
        fingerprint = served.loaded.extractor.fingerprint[:12]
        head += (
            f'<p id="encoder">encoder {escape(architecture)}, weights {fingerprint}, from '
            f"{escape(str(served.loaded.source))}</p>"
            f'<p id="index">index <strong>{escape(served.name)}</strong>: '
            f"{escape(served.summary())}</p>"
        )
    if len(site.indexes) > 1:
        choices = [
            f"<strong>{escape(name)}</strong>"
            if served is not None and name == served.name
            else f'<a href="{link("/", index=name)}">{escape(name)}</a>'
            for name in site.indexes
        ]
        head += f"<nav>indexes: {''.join(choices)}</nav>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(title)} · simclr serve</title><link rel="stylesheet" href="/style.css">'
        f"</head><body><header>{head}</header><main>{body}</main></body></html>"
    )


def query_forms(served: ServedIndex, k: int) -> str:
    """Search from an upload, or from a gallery row by its number."""
    return (
        f'<form id="upload" method="post" action="{link("/search", index=served.name, k=k)}" '
        'enctype="multipart/form-data"><label>query image <input type="file" name="image" '
        'accept="image/*"></label> <button type="submit">search</button></form>'
        '<form id="pick" method="get" action="/search">'
        f'<input type="hidden" name="index" value="{escape(served.name)}">'
        f'<input type="hidden" name="k" value="{k}">'
        f'<label>gallery image # <input type="number" name="row" min="0" max="{served.count - 1}" '
        'required></label> <button type="submit">search</button></form>'
    )


def thumbnail(served: ServedIndex, row: int, k: int, caption: str, attributes: str = "") -> str:
    """Gallery row ``row`` as a lazily loaded thumbnail that searches from it when clicked."""
    image = link(f"/image/{served.name}/{row}")
    return (
        f'<figure{attributes}><a href="{link("/search", index=served.name, row=row, k=k)}">'
        f'<img loading="lazy" src="{image}" alt="gallery image {row}"></a>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def pages(path: str, page: int, last: int, **params) -> str:
    """Links to the previous and next page of ``last``."""
    back = (
        f'<a rel="prev" href="{link(path, page=page - 1, **params)}">previous</a>'
        if page > 1
        else ""
    )
    on = (
        f'<a rel="next" href="{link(path, page=page + 1, **params)}">next</a>'
        if page < last
        else ""
    )
    return f'<p class="pages">{back}<span>page {page} of {last:,}</span>{on}</p>'


def gallery_page(site: Site, served: ServedIndex, page: int, per_page: int, k: int) -> str:
    """The home page: the query forms, then a page of gallery images to pick a query from."""
    last = max(1, -(-served.count // per_page))
    rows = range((page - 1) * per_page, min(page * per_page, served.count))
    figures = "".join(
        thumbnail(served, row, k, f"#{row} {escape(served.item_name(row))}") for row in rows
    )
    body = (
        query_forms(served, k)
        + f"<h2>Gallery: {served.count:,} images. Pick one to search from it.</h2>"
        + pages("/", page, last, index=served.name)
        + f'<div class="grid" id="gallery">{figures}</div>'
    )
    return document(site, served, "gallery", body)


def results_page(
    site: Site,
    served: ServedIndex,
    query: dict,
    hits: list[dict],
    k: int,
    page: int,
    last: int,
) -> str:
    """A query and one page of its neighbours: thumbnail, similarity, label and file name."""
    figures = []
    for hit in hits:
        label = hit["class"] if hit["class"] is not None else hit["label"]
        caption = (
            f'<span class="rank">{hit["rank"]}.</span> <span class="score">{hit["score"]:.4f}'
            f'</span><br><span class="label">{escape(str(label))}</span><br>'
            f'<span class="name">{escape(served.item_name(hit["row"]))}</span>'
        )
        data = f' class="neighbour" data-row="{hit["row"]}" data-score="{hit["score"]!r}"'
        figures.append(thumbnail(served, hit["row"], k, caption, data))
    source = {"row": query.get("row"), "upload": query.get("upload")}
    body = (
        query_forms(served, k)
        + f'<div class="query" id="query" data-row="{escape(str(query.get("row", "")))}">'
        f'<img src="{escape(query["image"])}" alt="query"><div><h2>Query: '
        f"{escape(query['title'])}</h2><p>its nearest gallery images by cosine similarity</p>"
        f'<p><a href="{link("/", index=served.name)}">back to the gallery</a></p></div></div>'
        + pages("/search", page, last, index=served.name, k=k, **source)
        + f'<div class="grid" id="neighbours">{"".join(figures)}</div>'
    )
    return document(site, served, f"neighbours of {query['title']}", body)


def error_page(site: Site, served: ServedIndex | None, status: int, message: str) -> str:
    """A request that cannot be answered, and why, in one line."""
    body = f'<p class="error" id="error">{escape(message)}</p><p><a href="/">the gallery</a></p>'
    return document(site, served, f"error {status}", body)
