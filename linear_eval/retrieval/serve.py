"""``simclr serve``: a local web page over a run's indexes, to pick or upload a query image and
browse its nearest gallery images (``linear_eval.retrieval.site``). Everything a request could
get wrong is checked per request; everything the command line could is checked here, before the
indexes and encoders are loaded."""

from __future__ import annotations

import errno
import logging
import socket
import sys
from pathlib import Path

from werkzeug.serving import get_sockaddr, make_server, select_address_family

from linear_eval.retrieval.served import index_folders, load_served
from linear_eval.retrieval.site import MAX_K, GallerySite
from simclr.errors import ConfigError
from simclr.run.paths import check_file_to_read, check_folder_to_read

LOCAL = "127.0.0.1"


def serve(
    run: str | Path,
    checkpoint: str | Path | None = None,
    host: str = LOCAL,
    port: int = 8000,
    top_k: int | None = None,
    max_upload_mib: float = 20.0,
) -> None:
    """Serve the indexes of ``run`` (a run directory or one index folder) on ``host``:``port``
    until interrupted; see :func:`prepare`."""
    site, server = prepare(run, checkpoint, host, port, top_k, max_upload_mib)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per thumbnail fetched
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in host else host
    names = ", ".join(site.site.indexes)
    print(f"serving {site.site.run_name} ({names}) at http://{shown}:{port}/  (Ctrl-C stops)")
    if host not in (LOCAL, "localhost", "::1"):
        print(f"serve: --host {host}: other machines can reach this page", file=sys.stderr)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def prepare(
    run: str | Path,
    checkpoint: str | Path | None = None,
    host: str = LOCAL,
    port: int = 8000,
    top_k: int | None = None,
    max_upload_mib: float = 20.0,
):
    """The application and a bound server: the indexes of ``run`` searched with ``checkpoint``
    (default: the encoder that built each), ``top_k`` neighbours a page (default: the index's,
    else 10), uploads up to ``max_upload_mib``; every option checked first, the address taken
    before the indexes and encoders are loaded."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is invalid: from 0 (any free port) to 65535")
    if top_k is not None and not 1 <= top_k <= MAX_K:
        raise ConfigError(f"-k {top_k} is invalid: from 1 to {MAX_K} neighbours a page")
    if not 0 < max_upload_mib <= 1024:
        raise ConfigError(f"--max-upload-mib {max_upload_mib:g} is invalid: above 0, at most 1024")
    target = check_folder_to_read("RUN", run)
    index_folders(target)  # an index to serve, before any encoder is loaded
    if checkpoint is not None:
        path = Path(checkpoint)
        (check_folder_to_read if path.is_dir() else check_file_to_read)("--checkpoint", path)
    with listening(host, port) as listener:  # the address taken before the long loading
        indexes = load_served(target, checkpoint)
        default_k = top_k or indexes[0].gallery.meta.get("top_k") or 10
        upload_bytes = int(max_upload_mib * 2**20)
        site = GallerySite(run_name(target), indexes, min(default_k, MAX_K), upload_bytes)
        # Werkzeug serves a duplicate of the listening socket's descriptor
        server = make_server(host, port, site, threaded=True, fd=listener.fileno())
    return site, server


def listening(host: str, port: int) -> socket.socket:
    """A socket bound to ``--host``:``--port`` and listening; a refusal (the port taken, an
    unknown host, a port below 1024 without the right) is one line. Bound here rather than by
    Werkzeug, which prints its own lines and exits."""
    try:
        family = select_address_family(host, port)
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(get_sockaddr(host, port, family))
            listener.listen(socket.SOMAXCONN)
        except BaseException:
            listener.close()
            raise
    except OSError as error:
        name = errno.errorcode.get(error.errno or 0, "")
        why = f"{error.strerror or error} ({name})" if name else str(error.strerror or error)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}") from None
    return listener


def run_name(target: Path) -> str:
    """The run's folder name (an index folder's run: RUN/index/NAME -> RUN)."""
    target = target.resolve()
    if target.parent.name == "index" and (target / "index.json").is_file():
        return f"{target.parent.parent.name} / {target.name}"
    return target.name
