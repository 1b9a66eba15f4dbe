"""`seqgen serve`: the local web page (compose, write, score, signals) over the shipped models and checkpoints."""

from __future__ import annotations

import errno
import socket

import click
from seqgen.cli.options import device_option

from seqgen.errors import SeqgenError


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); a port in use is one clear error."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, IndexError) as e:
        raise SeqgenError(f"--host {host}: cannot listen there ({e})") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        in_use = e.errno == errno.EADDRINUSE
        what = "is in use (stop what runs there, or pass --port N)" if in_use else f"cannot be used ({e})"
        raise SeqgenError(f"port {port} on {host} {what}") from None
    return sock


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default is reachable from this machine only.")
@click.option("-c", "--checkpoint", "checkpoints", multiple=True, type=click.Path(path_type=str),
              help="A checkpoint folder or shipped model's name to offer (repeatable). Default: every shipped model "
                   "and every checkpoint under ./checkpoints/.")
@device_option
def serve(port: int, host: str, checkpoints: tuple[str, ...], device: str) -> None:
    """Serve a page to compose music, write and score text or DNA, and look at the surprise in a recording.

    \b
    Examples:
      seqgen serve                              # then open http://127.0.0.1:8000
      seqgen serve -c folk -c checkpoints/tinyshakespeare-gru --port 8080
    """
    import uvicorn  # the web stack is loaded when serving, not for --help

    from seqgen.serve.app import create_app

    app = create_app(checkpoints, device)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"seqgen: serving on http://{shown}:{sock.getsockname()[1]} (Ctrl+C stops)")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
