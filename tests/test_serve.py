"""`hashattack serve` (a real uvicorn server on 127.0.0.1, a free port, started and stopped by the test within
bounded time) and `hashattack audit --service --surrogate`: answers, 4xx answers of one line after which the
service keeps serving, the black-box t-MAP, and the one-line refusals (non-loopback addresses among them)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hashattack.cli.main import main
from hashattack.protocol.service import ask

SRC = Path(__file__).resolve().parents[1] / "src"
START_SECONDS = 120
TINY = ["--train-per-class", "5", "--epochs", "1", "--bits", "16"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def service(fake_fmnist, tmp_path_factory):
    """A running service over the tiny data's model (exact index, top 50); stopped after the module."""
    cache = tmp_path_factory.mktemp("serve-cache")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen([sys.executable, "-m", "hashattack", "serve", "--data", str(fake_fmnist), *TINY,
                                "--cache-dir", str(cache), "--topk", "50", "--port", str(port), "--quiet",
                                "--max-upload", "20000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the service did not start: {process.communicate(timeout=10)[1].decode()[-2000:]}")
            time.sleep(0.2)
    yield base, cache
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def png(size=(28, 28), mode="L", seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0]) + ((3,) if mode == "RGB" else ()),
                                                  dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def post(base: str, body: bytes, content_type: str | None = "image/png", path: str = "/search",
         method: str = "POST") -> tuple[int, dict | str]:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(base + path, data=body if method == "POST" else None, method=method,
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, text


def test_the_service_answers_ids_and_labels_and_nothing_else(service):
    status, answer = post(service[0], png())
    assert status == 200 and set(answer) == {"ids", "labels"}
    assert len(answer["ids"]) == len(answer["labels"]) == 50 and len(set(answer["ids"])) == 50
    assert answer == ask(service[0], png())       # deterministic, and the audit's client reads it
    assert post(service[0], png(mode="RGB"))[0] == 200     # converted to grey as a file would be


@pytest.mark.parametrize("body, content_type, status, fragment", [
    (b"not an image at all", "image/png", 400, "the uploaded image: cannot read the image"),
    (png()[:60], "image/png", 400, "cannot read the image"),
    (png(size=(32, 30)), "image/png", 400, "the uploaded image is 32x30, the service takes 28x28"),
    (png(), "text/plain", 415, "not text/plain"),
    (png(), None, 415, "send one image as image/png or image/jpeg"),
    (b"\x89PNG" + bytes(30000), "image/png", 413, "larger than 20000 bytes")])
def test_bad_requests_get_one_line_and_the_service_keeps_serving(service, body, content_type, status, fragment):
    got, answer = post(service[0], body, content_type)
    assert got == status and set(answer) == {"error"}, answer
    assert fragment in answer["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"]
    assert post(service[0], png())[0] == 200


def test_nothing_but_post_search(service):
    assert post(service[0], b"", path="/search", method="GET")[0] == 405
    assert post(service[0], png(), path="/admin")[0] == 404
    assert post(service[0], png())[0] == 200


def test_black_box_audit_through_the_service(capsys, service, fake_fmnist, tmp_path):
    base, cache = service
    out = tmp_path / "audit"
    args = ["audit", "--service", base, "--surrogate", "small-cnn", "--dataset", "fashion-mnist",
            "--data", str(fake_fmnist), *TINY, "--cache-dir", str(cache), "--queries", "3", "--steps", "5",
            "--n-t", "3", "--topk", "50", "--out", str(out), "--quiet"]
    assert main(args) == 0
    record = json.loads((out / "service_audit.json").read_text())
    assert record["queries_sent"] == 6 and len(record["t_ap"]) == 3 and 0 <= record["t_map"] <= 1
    # the surrogate is the service's own model here (same training, same cache): the service's answers give
    # exactly the white-box t-MAP of the PNGs sent
    assert record["t_map"] == pytest.approx(record["t_map_surrogate"])
    assert "6 HTTP queries" in (out / "table.md").read_text()
    capsys.readouterr()
    before = (out / "service_audit.json").read_bytes()
    assert main(args) == 2                                # results already there are kept
    assert "exists: give --force" in capsys.readouterr().err
    assert (out / "service_audit.json").read_bytes() == before


@pytest.mark.parametrize("extra, fragment", [
    (["--service", "http://10.1.2.3:80", "--surrogate", "small-cnn"], "'10.1.2.3' is not a loopback address"),
    (["--service", "http://example.com/", "--surrogate", "small-cnn"], "not a loopback address"),
    (["--service", "ftp://127.0.0.1/", "--surrogate", "small-cnn"], "must look like http://127.0.0.1:PORT"),
    (["--service", "http://127.0.0.1:1"], "needs both --service URL and --surrogate MODEL"),
    (["--service", "http://127.0.0.1:1", "--surrogate", "small-cnn", "--index", "faiss"], "--index are the white-box"),
    (["--service", "http://127.0.0.1:1", "--surrogate", "nonet"], "unknown architecture 'nonet'")])
def test_audit_refusals_are_one_line(capsys, fake_fmnist, tmp_path, extra, fragment):
    capsys.readouterr()
    assert main(["audit", "--dataset", "fashion-mnist", "--data", str(fake_fmnist), "--out", str(tmp_path / "a"),
                 *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "a").exists()


def test_an_unreachable_service_is_one_line(capsys, fake_fmnist, tmp_path):
    capsys.readouterr()
    assert main(["audit", "--service", f"http://127.0.0.1:{free_port()}", "--surrogate", "small-cnn",
                 "--dataset", "fashion-mnist", "--data", str(fake_fmnist), *TINY, "--queries", "1", "--steps", "1",
                 "--n-t", "3", "--out", str(tmp_path / "a"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot be reached" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("extra, status, fragment", [
    (["--host", "0.0.0.0"], 2, "'0.0.0.0' is not a loopback address"),
    (["--host", "192.168.1.4"], 2, "not a loopback address"),
    (["--index", "annoy"], 2, "unknown index 'annoy'")])
def test_serve_refusals_are_one_line(capsys, extra, status, fragment):
    capsys.readouterr()
    assert main(["serve", *extra]) == status
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and fragment in err, err


def test_a_port_in_use_is_one_line(capsys, service, fake_fmnist):
    port = int(service[0].rpartition(":")[2])
    capsys.readouterr()
    assert main(["serve", "--data", str(fake_fmnist), *TINY, "--cache-dir", str(service[1]), "--port", str(port),
                 "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Address already in use" in err, err


def test_serve_without_its_packages_names_the_extra(capsys, monkeypatch, fake_fmnist, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    capsys.readouterr()
    assert main(["serve", "--data", str(fake_fmnist), *TINY, "--cache-dir", str(tmp_path / "c"), "--port",
                 str(free_port()), "--quiet"]) == 2
    assert "pip install 'hashattack[serve]'" in capsys.readouterr().err
