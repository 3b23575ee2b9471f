"""Tests of linear_eval/retrieval/site.py, served.py and page.py in this process (Werkzeug's
test client): the pages show what the index answers, nothing reads a gallery image before a
page asks for one, uploads are kept for their pages, and the command's options are checked
before any index or encoder is loaded."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.test import Client

import linear_eval.retrieval.served as served_module
from linear_eval.features.gallery import load_evaluation
from linear_eval.retrieval.indexing import index_gallery
from linear_eval.retrieval.query import query_features, retrieve
from linear_eval.retrieval.serve import prepare
from linear_eval.retrieval.served import load_served
from linear_eval.retrieval.site import GallerySite
from simclr.cli import main
from simclr.errors import ConfigError

pytestmark = pytest.mark.usefixtures("single_thread")


def _index(
    run_dir: Path, synthetic, out: Path | None = None, checkpoint: Path | None = None
) -> Path:
    loaded, config = load_evaluation(checkpoint or run_dir, None, synthetic.eval_overrides)
    return index_gallery(loaded, config, "test", out)


@pytest.fixture
def site(run_dir: Path, synthetic) -> GallerySite:
    _index(run_dir, synthetic)
    return GallerySite("run", load_served(run_dir), top_k=4)


def neighbours_shown(html: str) -> list[tuple[int, float]]:
    found = re.findall(r'class="neighbour" data-row="(\d+)" data-score="([^"]+)"', html)
    return [(int(row), float(score)) for row, score in found]


def test_a_gallery_rows_page_shows_the_neighbours_the_index_gives(site, synthetic) -> None:
    served = site.site.indexes["synthetic_eval-test"]
    image = synthetic.images("test").images[5]
    features = query_features(served.loaded.extractor, [image], served.preprocessing)
    expected = retrieve(served.gallery, features, 8)[0]

    html = Client(site).get("/search?row=5").get_data(as_text=True)
    assert neighbours_shown(html) == [(h["row"], h["score"]) for h in expected[:4]]
    assert "resnet18 (small stem)" in html and "exact index (flat, 32 vectors)" in html
    assert 'loading="lazy" src="/image/synthetic_eval-test/' in html  # thumbnails load lazily
    assert 'href="/search?index=synthetic_eval-test&amp;row=' in html  # a click searches from it
    assert f'<span class="label">{expected[1]["class"]}</span>' in html
    page_two = Client(site).get("/search?row=5&page=2").get_data(as_text=True)
    assert neighbours_shown(page_two) == [(h["row"], h["score"]) for h in expected[4:8]]
    assert 'rel="prev"' in page_two and "page 2 of 8" in page_two


def test_starting_and_the_gallery_page_read_no_image(
    run_dir: Path, synthetic, monkeypatch: pytest.MonkeyPatch
) -> None:
    _index(run_dir, synthetic)
    reads = []
    original = served_module.load_split
    monkeypatch.setattr(
        served_module, "load_split", lambda *a, **k: reads.append(a) or original(*a, **k)
    )
    site = GallerySite("run", load_served(run_dir))
    client = Client(site)
    assert client.get("/").status_code == 200 and client.get("/?page=1").status_code == 200
    assert reads == []
    response = client.get("/image/synthetic_eval-test/3")
    assert response.status_code == 200 and response.mimetype == "image/png"
    picture = Image.open(io.BytesIO(response.get_data()))
    assert picture.size == (16, 16)
    assert list(picture.getdata()) == synthetic.images("test").images[3][0].flatten().tolist()
    assert len(reads) == 1


def test_an_upload_is_answered_on_its_own_page_by_its_sha256(site, synthetic) -> None:
    buffer = io.BytesIO()
    Image.fromarray(synthetic.images("test").images[9][0].numpy()).save(buffer, format="PNG")
    client = Client(site)
    form = {"image": (io.BytesIO(buffer.getvalue()), "nine.png")}
    response = client.post("/search?k=3", data=form, content_type="multipart/form-data")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/search\?index=synthetic_eval-test&upload=[0-9a-f]{64}&k=3", location)
    html = client.get(location).get_data(as_text=True)
    assert neighbours_shown(html)[0] == (9, pytest.approx(1.0, abs=1e-5))
    digest = location.split("upload=")[1].split("&")[0]
    assert client.get(f"/query/{digest}").mimetype == "image/png"
    api = client.post("/api/search", data={"image": (io.BytesIO(buffer.getvalue()), "n.png")})
    assert json.loads(api.get_data())["neighbours"][0]["row"] == 9


def test_an_index_the_query_encoder_did_not_build_is_refused_with_409(
    run_dir: Path, synthetic
) -> None:
    other = synthetic.make_run("other", seed=1)
    _index(run_dir, synthetic, out=run_dir / "index" / "theirs", checkpoint=other)
    site = GallerySite("run", load_served(run_dir, str(run_dir)))
    response = Client(site).get("/api/search?index=theirs&row=0")
    assert response.status_code == 409
    assert (
        "index theirs: the index was built with encoder" in json.loads(response.get_data())["error"]
    )
    assert Client(site).get("/image/theirs/0").status_code == 200  # its images still show


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--port", "70000"], "--port 70000 is invalid: from 0"),
        (["-k", "0"], "-k 0 is invalid: from 1 to 100"),
        (["--max-upload-mib", "0"], "--max-upload-mib 0 is invalid"),
        (["--checkpoint", "missing.ckpt"], "missing.ckpt"),
    ],
)
def test_bad_options_are_one_line_before_any_index_is_loaded(
    run_dir: Path, options: list[str], words: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(run_dir.parent)
    monkeypatch.setattr(served_module, "load_index", lambda *a: pytest.fail("index loaded"))
    (run_dir / "index" / "x").mkdir(parents=True)
    (run_dir / "index" / "x" / "index.json").write_text("{}")
    assert main(["serve", str(run_dir), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err


def test_a_run_without_an_index_and_a_busy_port_are_one_line(
    run_dir: Path, synthetic, capsys
) -> None:
    assert main(["serve", str(run_dir)]) == 2
    assert "no index to serve" in capsys.readouterr().err
    _index(run_dir, synthetic)
    _, server = prepare(run_dir, host="127.0.0.1", port=0)
    try:
        port = server.server_address[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}: "):
            prepare(run_dir, host="127.0.0.1", port=port)
    finally:
        server.server_close()


@pytest.mark.parametrize("kind", ["hnsw", "ivf", "ivf_sq8"])
def test_approximate_indexes_are_served_as_retrieve_answers_them(
    run_dir: Path, synthetic, kind: str
) -> None:
    overrides = [*synthetic.eval_overrides, f"retrieval.index_type={kind}"]
    loaded, config = load_evaluation(run_dir, None, overrides)
    index_gallery(loaded, config, "train")
    site = GallerySite("run", load_served(run_dir))
    served = site.site.indexes["synthetic_eval-train"]
    assert served.gallery.meta["index_type"] == kind
    image = synthetic.images("train").images[21]
    features = query_features(served.loaded.extractor, [image], served.preprocessing)
    expected = retrieve(served.gallery, features, 6)[0]
    answer = json.loads(Client(site).get("/api/search?row=21&k=6").get_data())
    assert [(h["row"], h["score"]) for h in answer["neighbours"]] == [
        (h["row"], h["score"]) for h in expected
    ]
    assert answer["neighbours"][0]["row"] == 21
