"""A search service (`hashattack serve`) and the black-box audit through one (`hashattack audit --service`).

The service is a Starlette app run by uvicorn, on a loopback address only. It holds a model and an index
over the database codes and answers `POST /search` (the body: one PNG or JPEG image, Content-Type
image/png or image/jpeg, at most `max_bytes`) with JSON {"ids": [...], "labels": [...]}: the top k
database items and their labels, nothing else. A bad image (undecodable, wrong size), an oversized upload
or another content type gets a 4xx answer with one line {"error": "..."} and the service keeps serving.

The audit crafts each query's attack on a surrogate model the auditor owns (DHTA towards the target's
anchor, voted from the auditor's database encoded by the surrogate), sends benign and adversarial
queries as 8-bit PNGs, and scores t-MAP (and the benign MAP) from the labels the service returns.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import torch

from hashattack.data.image_io import decode_image
from hashattack.errors import InputError
from hashattack.models.encode import encode_set
from hashattack.protocol.export import png_bytes
from hashattack.protocol.sources import obtain_model, open_data
from hashattack.protocol.model_sources import ModelSource
from hashattack.protocol.spec import DataSpec
from hashattack.retrieval.stored import load_database
from hashattack.retrieval.metrics import mean_of_average_precisions, ranked_average_precisions
from hashattack.retrieval.ranking import HammingIndex

CONTENT_TYPES = ("image/png", "image/jpeg")
MAX_UPLOAD = 4 * 2 ** 20        # bytes of one uploaded image (default)
MAX_ANSWER = 64 * 2 ** 20       # bytes of one service answer the audit reads


def check_loopback(host: str) -> str:
    """`host` if it is a loopback address (127.0.0.0/8, ::1, localhost); a one-line InputError otherwise."""
    text = (host or "").strip().strip("[]")
    try:
        ok = text == "localhost" or ipaddress.ip_address(text).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"host {host!r} is not a loopback address: the service and the audit talk to "
                         "127.0.0.1, ::1 or localhost only")
    return text


def service_url(url: str) -> str:
    """The base URL http://HOST:PORT of a service on a loopback address, or a one-line InputError."""
    parts = urllib.parse.urlsplit((url or "").strip())
    if parts.scheme != "http" or not parts.hostname:
        raise InputError(f"--service {url!r} must look like http://127.0.0.1:PORT")
    try:
        port = parts.port
    except ValueError:
        raise InputError(f"--service {url!r} has a bad port") from None
    host = check_loopback(parts.hostname)
    return f"http://{'[' + host + ']' if ':' in host else host}:{port or 80}"


class SearchService:
    """A model and an index over the database codes: an image's bytes -> its top k ids and labels."""

    def __init__(self, model: torch.nn.Module, index: HammingIndex, db_labels: torch.Tensor, shape: tuple,
                 topk: int, max_bytes: int = MAX_UPLOAD, device: str = "cpu"):
        self.model, self.index, self.labels = model.eval(), index, db_labels
        self.shape, self.topk, self.max_bytes, self.device = tuple(shape), topk, max_bytes, device

    def search(self, data: bytes) -> dict:
        channels, height, width = self.shape
        image = decode_image(data, "the uploaded image", "L" if channels == 1 else "RGB")
        if image.size != (width, height):
            raise InputError(f"the uploaded image is {image.size[0]}x{image.size[1]}, the service takes "
                             f"{width}x{height}")
        array = np.asarray(image, dtype=np.float32) / 255
        pixels = torch.from_numpy(array[None] if channels == 1 else array.transpose(2, 0, 1).copy())
        with torch.no_grad():
            out = self.model(pixels[None].to(self.device))
        code = torch.where(out >= 0, 1.0, -1.0).cpu()
        ids, _ = self.index.search(code, self.topk)
        ids = ids[0][ids[0] >= 0]
        return {"ids": ids.tolist(), "labels": self.labels[ids].tolist()}


def open_service(data: DataSpec, model: ModelSource, index: str, topk: int, max_bytes: int = MAX_UPLOAD,
                 device: str = "cpu", database_codes: str | None = None, database_labels: str | None = None,
                 progress: bool = True) -> SearchService:
    """The service of a model (trained here, a checkpoint or a factory) and an index over the dataset's database
    encoded by it, or over a stored database (codes and labels .npy)."""
    source = open_data(data)
    net, _ = obtain_model(model, data, source, device, progress)
    if database_codes is not None:
        codes, labels = load_database(database_codes, database_labels)
    else:
        codes = encode_set(net, source.dataset.database, device=device, progress=progress, desc="encode database")
        labels = source.dataset.database.labels
    shape = tuple(source.dataset.query.pixels(slice(0, 1)).shape[1:])
    if len(shape) != 3:
        raise InputError(f"the service searches with one image per query, not {source.dataset.name}'s clips")
    return SearchService(net, HammingIndex(codes, index), labels, shape, topk, max_bytes, device)


def create_app(service: SearchService):
    """The ASGI app: POST /search, nothing else."""
    applications, responses, routing = (_optional(f"starlette.{name}") for name in ("applications", "responses",
                                                                                      "routing"))
    Starlette, JSONResponse, Route = applications.Starlette, responses.JSONResponse, routing.Route

    def refuse(status: int, text: str) -> JSONResponse:
        return JSONResponse({"error": " ".join(text.split())}, status_code=status)

    async def search(request):
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind not in CONTENT_TYPES:
            return refuse(415, f"send one image as image/png or image/jpeg, not {kind or 'no content type'}")
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > service.max_bytes):
            return refuse(413, f"the upload is larger than {service.max_bytes} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > service.max_bytes:
                return refuse(413, f"the upload is larger than {service.max_bytes} bytes")
        try:
            return JSONResponse(service.search(bytes(body)))
        except InputError as error:
            return refuse(400, str(error))

    return Starlette(routes=[Route("/search", search, methods=["POST"])])


def serve(service: SearchService, host: str, port: int) -> None:
    """Run the app under uvicorn on `host` (a loopback address) until interrupted."""
    uvicorn = _optional("uvicorn")
    host = check_loopback(host)
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))          # a port in use: an OSError, one line from the command line
    config = uvicorn.Config(create_app(service), log_level="warning", access_log=False, limit_concurrency=64,
                            timeout_keep_alive=5)
    uvicorn.Server(config).run(sockets=[listener])


def check_packages() -> None:
    """A one-line InputError naming the extra where starlette or uvicorn is not installed."""
    for module in ("starlette.applications", "uvicorn"):
        _optional(module)


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"hashattack serve needs the optional package {module.split('.')[0]}: "
                         "pip install 'hashattack[serve]'") from None


def ask(base: str, png: bytes, timeout: float = 60.0) -> dict:
    """The service's answer to one image: {"ids": [...], "labels": [...]}, checked; one-line InputError else."""
    request = urllib.request.Request(f"{base}/search", data=png, method="POST", headers={"Content-Type": "image/png"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as error:
        detail = error.read(2000).decode("utf-8", "replace")
        raise InputError(f"the service {base} answered {error.code}: {' '.join(detail.split())[:200]}") from None
    except (urllib.error.URLError, OSError) as error:
        raise InputError(f"the service {base} cannot be reached ({getattr(error, 'reason', error)})") from None
    try:
        answer = json.loads(raw) if len(raw) <= MAX_ANSWER else None
    except (ValueError, UnicodeDecodeError):
        answer = None
    ok = (isinstance(answer, dict) and isinstance(answer.get("ids"), list) and isinstance(answer.get("labels"), list)
          and len(answer["ids"]) == len(answer["labels"]) and len(answer["ids"]) >= 1)
    if not ok:
        raise InputError(f"the service {base} did not answer with ids and labels of one length >= 1")
    return answer


def answer_labels(answer: dict, n_classes: int, base: str) -> torch.Tensor:
    """The labels of an answer as an (k, C) 0/1 matrix (class indices or multi-hot rows accepted)."""
    labels = answer["labels"]
    try:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
            if min(labels) < 0 or max(labels) >= n_classes:
                raise ValueError
            return torch.nn.functional.one_hot(torch.tensor(labels), n_classes).to(torch.float32)
        matrix = torch.tensor(labels, dtype=torch.float32)
        if matrix.shape[1:] != (n_classes,) or not bool(((matrix == 0) | (matrix == 1)).all()):
            raise ValueError
        return matrix
    except (ValueError, TypeError, RuntimeError):
        raise InputError(f"the service {base} answered labels that are not class indices or 0/1 rows of "
                         f"{n_classes} classes") from None


def black_box_scores(base: str, benign: torch.Tensor, adversarial: torch.Tensor, true_labels: torch.Tensor,
                     target_labels: torch.Tensor, zero_relevance: str = "zero") -> dict:
    """Send every benign and adversarial query as an 8-bit PNG; t-MAP (adversarial vs targets) and MAP
    (benign vs their own labels) from the service's answers, with the number of HTTP queries sent."""
    n_classes = target_labels.shape[1]
    sent, started, aps = 0, time.perf_counter(), {"ap": [], "t_ap": []}
    for images, labels, key in ((benign, true_labels, "ap"), (adversarial, target_labels, "t_ap")):
        for image, label in zip(images, labels):
            answer = ask(base, png_bytes(image))
            sent += 1
            returned = answer_labels(answer, n_classes, base)
            order = torch.arange(len(returned))[None]
            aps[key].append(float(ranked_average_precisions(order, label[None], returned)[0]))
    t_ap, ap = np.array(aps["t_ap"]), np.array(aps["ap"])
    return {"service": base, "queries_sent": sent, "seconds": time.perf_counter() - started,
            "t_map": mean_of_average_precisions(t_ap, zero_relevance),
            "map": mean_of_average_precisions(ap, zero_relevance),
            "t_ap": [None if np.isnan(v) else round(float(v), 6) for v in t_ap],
            "ap": [None if np.isnan(v) else round(float(v), 6) for v in ap]}


__all__ = ["check_packages", "SearchService", "open_service", "create_app", "serve", "ask", "black_box_scores", "check_loopback", "service_url",
           "MAX_UPLOAD"]
