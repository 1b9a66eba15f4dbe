"""The ASGI app of `seqgen serve` (FastAPI): the page, the JSON API its script calls, and the files a job wrote.

Every expected failure is a 4xx with `{"error": "one clear sentence"}`: a SeqgenError from the library (400), an
unknown model (404), a bad or out-of-range setting (422), a body over the upload limit (413), a second job while
one runs (429). Uploads and outputs live in one temporary folder, removed when the app shuts down.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from seqgen import domains
from seqgen.checkpoint import DEFAULT_ROOT
from seqgen.errors import SeqgenError, reason
from seqgen.serve import work
from seqgen.serve.jobs import Cancelled, Job, Worker
from seqgen.serve.limits import Limits, RequestError
from seqgen.serve.models import Models, entries

STATIC = Path(__file__).parent / "static"
TOKEN = re.compile(r"^[0-9a-f]{16}$")  # upload and job folder names


class SamplingIn(BaseModel):
    """Sampler settings, as the page sends them; ranges are checked here, limits in Limits."""

    model: str
    num: int = Field(1, ge=1)
    length: int | None = Field(None, ge=1)
    seconds: float | None = Field(None, gt=0)
    temperature: float = Field(0.9, ge=0, le=100)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = Field(None, ge=0, lt=2**63)

    def sampling(self) -> work.Sampling:
        return work.Sampling(self.num, self.length, self.seconds, self.temperature, self.top_k or None, self.top_p,
                             self.seed)


class ComposeIn(SamplingIn):
    opening: str | None = None  # an upload id: a MIDI, ABC or MusicXML file (typed ABC arrives as one too)


class WriteIn(SamplingIn):
    prime: str = ""
    stop: str = ""


class ScoreIn(BaseModel):
    model: str
    text: str


class SignalIn(BaseModel):
    model: str
    upload: str
    window: float = Field(1.0, gt=0)


class BodyLimit:
    """Refuse a request body over `limit` bytes while it streams in: at once by its Content-Length, else when the
    bytes received pass it (a 413 either way; nothing past the limit is kept)."""

    def __init__(self, app: ASGIApp, limits: Limits):
        self.app, self.limits = app, limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limits.upload_bytes:
            error = self.limits.too_large()
            await JSONResponse({"error": str(error)}, error.status, headers={"Connection": "close"})(scope, receive,
                                                                                                        send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limits.upload_bytes:
                raise self.limits.too_large()
            return message

        await self.app(scope, counted, send)


def create_app(given: Sequence[str] = (), device: str = "cpu", limits: Limits | None = None,
               root: Path = DEFAULT_ROOT) -> FastAPI:
    """The app over the models named in `given` (shipped names or checkpoint folders; none: the shipped models and
    the checkpoints under `root`), run on `device`, within `limits`."""
    limits = limits or Limits()
    models = Models(entries(given, root), device)
    worker = Worker(limits.request_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with tempfile.TemporaryDirectory(prefix="seqgen-serve-") as tmp:
            app.state.workdir = Path(tmp)
            yield

    app = FastAPI(title="seqgen", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, limits=limits)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def folder(kind: str, token: str | None = None) -> tuple[str, Path]:
        """A folder of the temporary workdir: a new one, or the existing one of `token` (a 404 when unknown)."""
        base = app.state.workdir / kind
        if token is None:
            token = secrets.token_hex(8)
            (base / token).mkdir(parents=True)
        elif not TOKEN.match(token) or not (base / token).is_dir():
            again = "upload the file again" if kind == "uploads" else "the server may have restarted since"
            raise RequestError(f"no such {kind[:-1]} {token!r} ({again})", 404)
        return token, base / token

    def clean(message: str) -> str:
        """A library message without the temporary folder's path: the user knows the file by its own name."""
        return re.sub(re.escape(str(app.state.workdir)) + r"/\w+/\w+/", "", message)

    def error(status: int, message: str) -> JSONResponse:
        closing = {"Connection": "close"} if status == 413 else None  # the rest of a body too large is not read
        return JSONResponse({"error": clean(message)}, status, headers=closing)

    @app.exception_handler(SeqgenError)
    async def seqgen_error(request: Request, e: SeqgenError) -> JSONResponse:
        return error(e.status if isinstance(e, RequestError) else 400, str(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        got = f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else ""
        return error(422, f"{where}: {first.get('msg', 'invalid').lower()}{got}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException) -> JSONResponse:
        return error(e.status_code, str(e.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, e: Exception) -> JSONResponse:
        return error(500, f"internal error ({reason(e)}); the server's log has the details")

    @app.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/api/models")
    async def listed() -> dict[str, Any]:
        return {"models": [e.as_dict() for e in models.listed.values()], "limits": limits.as_dict()}

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        return {"job": worker.status()}

    @app.post("/api/upload")
    async def upload(request: Request, name: str, group: str | None = None) -> dict[str, Any]:
        """The request body is the file, streamed to the upload folder (`group`: the folder of an earlier upload,
        so a WFDB record's .hea and .dat sit together)."""
        safe = re.sub(r"[^\w.-]", "_", Path(name).name)[-100:].lstrip(".")
        if not safe:
            raise RequestError(f"{name!r} is not a usable file name", 422)
        token, where = folder("uploads", group)
        path = where / safe
        try:
            with path.open("wb") as f:
                async for chunk in request.stream():
                    f.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if path.stat().st_size == 0:
            path.unlink()
            raise RequestError(f"{safe}: the file is empty", 422)
        return {"upload": token, "files": sorted(p.name for p in where.iterdir())}

    def uploaded(token: str, domain: str) -> Path:
        """The file of an upload its domain reads (a WFDB record's .hea), else the first: its reader says why not."""
        files = sorted(folder("uploads", token)[1].iterdir())
        if not files:
            raise RequestError("the upload holds no file", 422)
        home = domains.get(domain)
        return next((f for f in files if home.claims(f)), files[0])

    def served(token: str, result: dict[str, Any]) -> dict[str, Any]:
        return {**result, "files_url": f"/files/{token}/"}

    @app.post("/api/compose")
    async def compose(body: ComposeIn) -> dict[str, Any]:
        entry = models.entry(body.model, "compose")
        limits.check_sampling(body.num, body.length, body.seconds)
        opening = uploaded(body.opening, entry.domain) if body.opening else None
        token, out = folder("jobs")
        total = body.length or domains.get(entry.domain).default_length
        result = await worker.run(f"composing with {entry.id}", lambda job: work.compose(
            models.load(entry.id), job, body.sampling(), opening, out), total)
        return served(token, result)

    @app.post("/api/write")
    async def write(body: WriteIn) -> StreamingResponse:
        """NDJSON lines: the seed and prime, then one line per step (each sample's new text), then the finished
        samples ("done") or an "error" met while generating."""
        entry = models.entry(body.model, "write")
        limits.check_sampling(body.num, body.length, body.seconds)
        job = worker.claim(f"writing with {entry.id}", body.length or domains.get(entry.domain).default_length)
        try:  # a bad prime or stop is a 4xx before anything streams
            await anyio.to_thread.run_sync(lambda: _check_write(models, entry.id, body))
        except BaseException:
            worker.release(job)
            raise
        return StreamingResponse(_stream(worker, job, lambda emit: work.write(
            models.load(entry.id), job, body.sampling(), body.prime, body.stop, emit)),
            media_type="application/x-ndjson")

    @app.post("/api/score")
    async def score(body: ScoreIn) -> dict[str, Any]:
        entry = models.entry(body.model, "score")
        lines = [line for line in body.text.splitlines() if line.strip()]
        limits.check_scoring(lines)
        results = await worker.run(f"scoring with {entry.id}", lambda job: work.score(models.load(entry.id), lines))
        return {"results": results}

    @app.post("/api/signal")
    async def signal(body: SignalIn) -> dict[str, Any]:
        entry = models.entry(body.model, "signals")
        recording = uploaded(body.upload, entry.domain)
        token, out = folder("jobs")
        result = await worker.run(f"scoring a recording with {entry.id}", lambda job: work.signal(
            models.load(entry.id), recording, body.window, limits, out))
        return served(token, result)

    @app.get("/files/{token}/{name}")
    async def files(token: str, name: str) -> FileResponse:
        path = folder("jobs", token)[1] / Path(name).name
        if not path.is_file():
            raise RequestError(f"no file {name!r} here", 404)
        return FileResponse(path, filename=name)

    return app


def _check_write(models: Models, model_id: str, body: WriteIn) -> None:
    """Refuse a prime or stop the model cannot read before the stream starts."""
    model = models.load(model_id)
    model.prime_ids(body.prime or None)
    if body.stop:
        model.known_ids(body.stop, "stop")


Emit = Callable[[dict[str, Any] | None], None]


def _stream(worker: Worker, job: Job, produce: Callable[[Emit], dict[str, Any]]) -> AsyncIterator[str]:
    """The lines of a streamed job: `produce(emit)` runs in a thread, and what it emits (then its result, marked
    "done", or its error) is sent as it comes; the job ends with its thread, cancelled if the page goes away."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def emit(item: dict[str, Any] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def run() -> None:
        try:
            emit({"done": True, **produce(emit)})
        except Cancelled:
            pass
        except SeqgenError as e:
            emit({"error": str(e), "status": e.status if isinstance(e, RequestError) else 400})
        except Exception as e:  # the stream has started: its last line says what went wrong
            emit({"error": f"internal error ({reason(e)})", "status": 500})
        finally:
            emit(None)

    async def lines() -> AsyncIterator[str]:
        thread = asyncio.ensure_future(anyio.to_thread.run_sync(run))
        thread.add_done_callback(lambda _: worker.release(job))
        try:
            while (item := await queue.get()) is not None:
                yield json.dumps(item, ensure_ascii=False) + "\n"
        finally:
            job.cancelled = not thread.done()

    return lines()
