"""The labelling app's web server (Starlette, run by uvicorn): the page, its JSON API, and the guard every
request passes.

**The guard** (:class:`Guard`, before any route): the ``Host`` header must name the address the app
listens on (loopback names by default: a page elsewhere cannot reach the app by rebinding its own name);
every request must carry the token printed in the URL (as ``?token=``, or the cookie the page gets from
it); every write (any method but GET and HEAD) must also carry it in the ``X-Harcnn-Token`` header, which
other sites' pages cannot set; request bodies over ``max_body`` bytes are refused (413).

**The API** (every name is a recording's name in the folder's listing, never a path):

* ``GET /api/state``: the folder, the model (or the hint why there is none), the label set, whether
  ``labels.csv`` can be read;
* ``GET /api/recordings``: every recording with its duration and labelled seconds;
* ``GET /api/recording?name=``: its sensors, channels, segments, their ``version`` (also the ``ETag``),
  its video and video offset;
* ``GET /api/signals?name=&start=&end=&buckets=``: min/max per bucket (:mod:`harcnn.labelling.decimate`);
* ``GET /api/prediction?name=``: the model's timeline with confidence;
* ``PUT /api/labels?name=`` with ``If-Match: VERSION`` and ``{"segments": [...]}``: save (409 with the
  saved segments when the file holds another version; 409 ``unreadable`` when ``labels.csv`` cannot be
  read, until the request says ``"replace_unreadable": true``);
* ``PUT /api/video-offset?name=``, ``PUT /api/label-set``: the app's settings;
* ``GET /api/video?name=``: the recording's video (range requests, for seeking).
"""

from __future__ import annotations

import hashlib
import secrets
import socket
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from harcnn.core.errors import HarcnnError
from harcnn.labelling.decimate import envelope
from harcnn.labelling.store import Conflict, LabelFolder, UnknownRecording, UnreadableLabels
from harcnn.labelling.timelines import ModelTimelines

TOKEN_HEADER = "x-harcnn-token"
MAX_BODY = 2 * 1024 * 1024  # bytes: a save of 10,000 segments is about 0.6 MB
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
DEFAULT_PORT = 8765
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
                               "media-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"app.js": "text/javascript", "app.css": "text/css"}


class _TooLarge(Exception):
    pass


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """ASGI middleware: the host, token and size checks of the module docstring. ``hosts``: the ``Host``
    names accepted (None: any, for ``--host 0.0.0.0``)."""

    def __init__(self, app, *, token: str, cookie: str, hosts: tuple[str, ...] | None, max_body: int):
        self.app, self.token, self.cookie, self.hosts, self.max_body = app, token.encode(), cookie, hosts, max_body

    def _is_token(self, value: str | None) -> bool:
        return bool(value) and secrets.compare_digest(value.encode("utf-8", "replace"), self.token)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if self.hosts is not None and _hostname(request.headers.get("host", "")).lower() not in self.hosts:
            await _error(403, "unexpected Host header: open the address harcnn label printed")(scope, receive, send)
            return
        query = request.query_params.get("token")
        if not any(map(self._is_token, (query, request.cookies.get(self.cookie), request.headers.get(TOKEN_HEADER)))):
            await _error(403, "this needs the token: open the full address harcnn label printed (with ?token=...)")(
                scope, receive, send)
            return
        if request.method not in ("GET", "HEAD") and not self._is_token(request.headers.get(TOKEN_HEADER)):
            await _error(403, f"a change needs the token in the {TOKEN_HEADER} header")(scope, receive, send)
            return
        if query and scope["path"] == "/":  # the printed address: keep the token in a cookie, out of the URL
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(self.cookie, query, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise _TooLarge
            return message

        started = False

        async def tracked_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers={"Cache-Control": "no-store"})


def _json(data: Any, **headers: str) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store", **headers})


def plotly_js() -> Path:
    """``plotly.min.js`` as the installed ``plotly`` package ships it."""
    try:
        path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    except ModuleNotFoundError:
        raise HarcnnError("harcnn label draws with plotly: pip install 'harcnn[label]'") from None
    if not path.is_file():
        raise HarcnnError(f"{path}: the plotly package has no plotly.min.js; reinstall it "
                          "(pip install 'harcnn[label]')")
    return path


def _static(name: str) -> str:
    return (resources.files("harcnn.labelling") / "static" / name).read_text(encoding="utf-8")


def create_app(folder: LabelFolder, timelines: ModelTimelines, token: str, *, cookie: str = "harcnn-label",
               hosts: tuple[str, ...] | None = LOOPBACK, max_body: int = MAX_BODY) -> Starlette:
    """The app over ``folder``; every request needs ``token`` (see the module docstring)."""
    folder_id = hashlib.sha256(str(folder.root).encode()).hexdigest()[:12]
    page = _static("index.html").replace("{{TOKEN}}", token).replace("{{FOLDER_ID}}", folder_id)
    plotly = plotly_js()

    def name_of(request: Request) -> str:
        name = request.query_params.get("name", "")
        if name not in folder.names:
            raise UnknownRecording(name)
        return name

    async def index(request: Request) -> Response:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["file"]
        if name == "plotly.min.js":
            return FileResponse(plotly, media_type="text/javascript",
                                headers={"Cache-Control": "private, max-age=3600"})
        if name not in STATIC:
            return _error(404, "no such file")
        return Response(_static(name), media_type=STATIC[name], headers=SECURITY_HEADERS)

    def state(request: Request) -> Response:
        labels = folder.read_labels()
        return _json({"folder": str(folder.root), "folder_id": folder_id, **timelines.describe(),
                      "labels_error": labels.error, "label_set": folder.label_set(), "notes": folder.notes,
                      "max_body": max_body})

    def recordings(request: Request) -> Response:
        folder.refresh()
        table = folder.read_labels().table or {}
        out = []
        for name in folder.names:
            summary = folder.summary(name)
            segments = table.get(name, [])
            item = {"name": name, "segments": len(segments), "video": folder.video(name) is not None, **summary}
            if "error" not in summary:
                from_column = name not in table and summary["label_column"]
                item["labelled"] = summary["column_labelled"] if from_column else sum(
                    max(0.0, min(s.end, summary["end"]) - max(s.start, summary["start"])) for s in segments)
            out.append(item)
        return _json({"recordings": out})

    def recording(request: Request) -> Response:
        name = name_of(request)
        loaded = folder.load(name)
        labels = folder.segments(name)
        video = folder.video(name)
        return _json({"name": name, **folder.summary(name), "channels": list(loaded.channels),
                      "groups": [{"sensor": s, "unit": u, "channels": list(c)} for s, u, c in loaded.groups],
                      "segments": [s.to_dict() for s in labels.segments], "version": labels.version,
                      "labels_error": labels.error, "from_column": labels.from_column,
                      "video": f"/api/video?name={quote(name)}" if video else None,
                      "video_offset": folder.video_offset(name), "notes": list(loaded.recording.notes)},
                     ETag=f'"{labels.version}"')

    def signals(request: Request) -> Response:
        name = name_of(request)
        loaded = folder.load(name)
        query = request.query_params
        try:
            start = float(query.get("start", loaded.start))
            end = float(query.get("end", loaded.end))
            buckets = int(query.get("buckets", 1000))
            data = envelope(loaded.times, loaded.values, start, end, buckets, origin=loaded.start)
        except ValueError as error:
            return _error(422, f"signals: {error} (start, end in seconds, buckets a whole number)")
        return _json({"name": name, "start": start, "end": end, **data})

    def prediction(request: Request) -> Response:
        name = name_of(request)
        loaded = folder.load(name)
        return _json({"name": name, **timelines.timeline(name, loaded.recording, folder._signature(name))})

    async def save_labels(request: Request) -> Response:
        name = name_of(request)
        body = await _body(request)
        version = request.headers.get("if-match", "").strip().strip('"')
        try:
            new, backup = await run_in_threadpool(folder.save, name, body.get("segments"), version,
                                                  replace_unreadable=body.get("replace_unreadable") is True)
        except Conflict as conflict:
            return _error(409, str(conflict), conflict=True, version=conflict.version,
                          segments=[s.to_dict() for s in conflict.segments])
        except UnreadableLabels as error:
            return _error(409, str(error), unreadable=True)
        return _json({"name": name, "version": new, "backup": backup and backup.name}, ETag=f'"{new}"')

    async def video_offset(request: Request) -> Response:
        name = name_of(request)
        body = await _body(request)
        return _json({"name": name, "video_offset": await run_in_threadpool(folder.set_video_offset, name,
                                                                            body.get("offset"))})

    async def label_set(request: Request) -> Response:
        body = await _body(request)
        return _json({"label_set": await run_in_threadpool(folder.set_label_set, body.get("labels"))})

    async def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    def video(request: Request) -> Response:
        path = folder.video(name_of(request))
        if path is None:
            return _error(404, "this recording has no video beside it")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", index), Route("/static/{file}", static), Route("/favicon.ico", no_icon),
        Route("/api/state", state), Route("/api/recordings", recordings), Route("/api/recording", recording),
        Route("/api/signals", signals), Route("/api/prediction", prediction), Route("/api/video", video),
        Route("/api/labels", save_labels, methods=["PUT"]), Route("/api/video-offset", video_offset, methods=["PUT"]),
        Route("/api/label-set", label_set, methods=["PUT"]),
    ]
    handlers = {
        UnknownRecording: lambda request, error: _error(404, f"no recording named {error.args[0]!r:.200} here"),
        HarcnnError: lambda request, error: _error(422, str(error)),
    }
    guard = Middleware(Guard, token=token, cookie=cookie, hosts=hosts, max_body=max_body)
    return Starlette(routes=routes, exception_handlers=handlers, middleware=[guard])


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise HarcnnError("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise HarcnnError("the request body must be a JSON object")
    return body


# ---------------------------------------------------------------------------------------- running it


def open_socket(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host``: ``port``, or the first free one from :data:`DEFAULT_PORT` (the same
    port each time keeps the page's address, and so its unsaved drafts, across restarts)."""
    ports = [port] if port is not None else range(DEFAULT_PORT, DEFAULT_PORT + 20)
    error: OSError | None = None
    for candidate in ports:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, candidate, type=socket.SOCK_STREAM)[0]
        except socket.gaierror as failure:
            raise HarcnnError(f"--host {host}: not an address of this machine ({failure})") from None
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as failure:
            sock.close()
            error = failure
            continue
        sock.listen(64)
        sock.set_inheritable(True)
        return sock
    which = f"port {port}" if port is not None else f"ports {DEFAULT_PORT}-{DEFAULT_PORT + 19}"
    raise HarcnnError(f"cannot listen on {host}, {which} ({error}): choose another with --port N")


def make_server(folder: LabelFolder, timelines: ModelTimelines, *, host: str = "127.0.0.1", port: int | None = None,
                token: str | None = None):
    """``(server, socket, url)``: a uvicorn server for the app, its listening socket, and the address to
    open (with the token); run it with ``server.run(sockets=[socket])``."""
    import uvicorn

    sock = open_socket(host, port)
    port = sock.getsockname()[1]
    token = token or secrets.token_urlsafe(24)
    loopback = host in LOOPBACK
    hosts = LOOPBACK if loopback else (None if host in ("0.0.0.0", "::") else (host.lower(), *LOOPBACK))
    app = create_app(folder, timelines, token, cookie=f"harcnn-label-{port}", hosts=hosts)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
    return uvicorn.Server(config), sock, f"http://{shown}:{port}/?token={token}"
