"""``simclr serve`` started as a user starts it, in its own process, for the tests that talk to it
over HTTP (hostile requests, a real browser): a folder run of real Fashion-MNIST images with its
own index and one built by another encoder, the server's address, and the log of every file the
server process opened (a Python audit hook, installed before the command runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from simclr.cli import main
from simclr.config import load_config
from tests.conftest import Synthetic, write_run

# the command line of the served process: argv[1] is the log of opened files, the rest simclr's
AUDITED = """
import os, sys
log = open(sys.argv[1], "a", buffering=1)
def opened(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        log.write(os.fsdecode(args[0]) + "\\n")
sys.addaudithook(opened)
from simclr.cli import main
sys.exit(main(sys.argv[2:]))
"""
EVAL_SETTINGS = ["features.progress_bar=false", "features.num_workers=0", "features.device=cpu"]


class ServedRun(NamedTuple):
    run: Path
    index: Path  # the run's own index (RUN/index/folder-val)
    gallery: Path  # its folder of images
    url: str  # http://127.0.0.1:PORT
    opened: Path  # one line per file the server process opened


def folder_run(root: Path, gallery: Path, seed: int = 0) -> Path:
    """An untrained (seeded) run whose data is the image folder ``gallery``."""
    settings = [o for o in Synthetic.pretrain_overrides if not o.startswith("data.name=")]
    settings += ["data.name=folder", f"data.path={gallery}", f"run.out_dir={root}"]
    settings += ["data.image_size=28", "data.channels=1"]
    return write_run(load_config(None, settings), root / f"run{seed}", num_classes=10, seed=seed)


def build_indexes(run: Path, other: Path, gallery: Path) -> Path:
    """RUN/index/folder-val by the run's encoder, and RUN/index/other by ``other``'s."""
    folder = ["--folder", str(gallery), *EVAL_SETTINGS]
    assert (
        main(["index", "--checkpoint", str(run), *folder, "--out", str(run / "index" / "val")]) == 0
    )
    assert (
        main(["index", "--checkpoint", str(other), *folder, "--out", str(run / "index" / "other")])
        == 0
    )
    return run / "index" / "val"


@contextmanager
def serving(run: Path, opened: Path, *options: str) -> Iterator[str]:
    """``simclr serve RUN --port 0 OPTIONS`` in its own process; its address while it runs."""
    command = [
        sys.executable,
        "-c",
        AUDITED,
        str(opened),
        "serve",
        str(run),
        "--port",
        "0",
        *options,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = process.stdout.readline()  # "serving RUN (...) at http://127.0.0.1:PORT/ ..."
        if " at http://" not in line:
            process.kill()
            raise AssertionError(
                f"simclr serve did not start: {line}{process.stderr.read()[-3000:]}"
            )
        yield line.split(" at ")[1].split("/ ")[0].rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch(
    url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None
):
    """(status, content type, body) of a request; 4xx and 5xx answers too."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read()


def upload(url: str, name: str, data: bytes):
    """POST ``data`` as the form field ``image`` (file ``name``), as the page's form does."""
    boundary = f"simclr{time.monotonic_ns()}"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return fetch(url, body, headers)


def retrieved(index: Path, image: Path, k: int, capsys) -> list[dict]:
    """``simclr retrieve IMAGE --index INDEX -k K --json``'s neighbours."""
    capsys.readouterr()
    assert (
        main(["retrieve", str(image), "--index", str(index), "-k", str(k), "--json", "--no-grid"])
        == 0
    )
    return json.loads(capsys.readouterr().out.splitlines()[-1])["neighbours"]
