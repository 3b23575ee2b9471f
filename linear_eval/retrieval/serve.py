"""``simclr serve``: a local web page over a run's indexes, to pick or upload a query image and
browse its nearest gallery images (``linear_eval.retrieval.site``). Everything a request could
get wrong is checked per request; everything the command line could is checked here, before the
indexes and encoders are loaded."""

from __future__ import annotations

import argparse
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


def serve(args: argparse.Namespace) -> None:
    """Serve the indexes of ``args.run`` on ``args.host``:``args.port`` until interrupted."""
    site, server = prepare(args)
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


def prepare(args: argparse.Namespace):
    """The application and a bound server for ``args``, every option checked first."""
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is invalid: from 0 (any free port) to 65535")
    if args.top_k is not None and not 1 <= args.top_k <= MAX_K:
        raise ConfigError(f"-k {args.top_k} is invalid: from 1 to {MAX_K} neighbours a page")
    if not 0 < args.max_upload_mib <= 1024:
        raise ConfigError(
            f"--max-upload-mib {args.max_upload_mib:g} is invalid: above 0, at most 1024"
        )
    target = check_folder_to_read("RUN", args.run)
    index_folders(target)  # an index to serve, before any encoder is loaded
    if args.checkpoint is not None:
        checkpoint = Path(args.checkpoint)
        (check_folder_to_read if checkpoint.is_dir() else check_file_to_read)(
            "--checkpoint", checkpoint
        )
    with listening(args) as listener:  # the address taken before the long loading
        indexes = load_served(target, args.checkpoint)
        default_k = args.top_k or indexes[0].gallery.meta.get("top_k") or 10
        upload_bytes = int(args.max_upload_mib * 2**20)
        site = GallerySite(run_name(target), indexes, min(default_k, MAX_K), upload_bytes)
        # Werkzeug serves a duplicate of the listening socket's descriptor
        server = make_server(args.host, args.port, site, threaded=True, fd=listener.fileno())
    return site, server


def listening(args: argparse.Namespace) -> socket.socket:
    """A socket bound to ``--host``:``--port`` and listening; a refusal (the port taken, an
    unknown host, a port below 1024 without the right) is one line. Bound here rather than by
    Werkzeug, which prints its own lines and exits."""
    try:
        family = select_address_family(args.host, args.port)
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(get_sockaddr(args.host, args.port, family))
            listener.listen(socket.SOMAXCONN)
        except BaseException:
            listener.close()
            raise
    except OSError as error:
        name = errno.errorcode.get(error.errno or 0, "")
        why = f"{error.strerror or error} ({name})" if name else str(error.strerror or error)
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {why}") from None
    return listener


def run_name(target: Path) -> str:
    """The run's folder name (an index folder's run: RUN/index/NAME -> RUN)."""
    target = target.resolve()
    if target.parent.name == "index" and (target / "index.json").is_file():
        return f"{target.parent.parent.name} / {target.name}"
    return target.name
