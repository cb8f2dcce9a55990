"""Hostile input to the data readers, the figures and the library: each case is refused with one
line naming the file, line or value (exit 2 from the command line, no traceback, nothing written),
or, where the input is valid however odd, read exactly."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import zlib
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

import hashattack
from hashattack.attacks.registry import METHODS, build_attack
from hashattack.cli.main import main
from hashattack.data.fashion_mnist import FILES, read_idx
from hashattack.data.image_files import load_image_folder
from hashattack.data.image_io import open_image
from hashattack.data.image_list import image_list_set
from hashattack.data.list_files import read_list_file, read_names, write_names
from hashattack.data.video import read_frame_folder
from hashattack.errors import InputError
from hashattack.reporting.robustness import robustness_figure
from hashattack.reporting.transfer import plot_transfer
from hashattack.reporting.plots import save_figure, tmap_sweep_figure
from hashattack.reporting.video_plots import frame_comparison
from run_helpers import tiny_demo_args

HOSTILE_CLASS = "a$\\foo{$b"
HOSTILE_NAMES = ["my photo.jpg", "new\nline.jpg", "tab\t.jpg", 'q"uote.jpg', "back\\slash.jpg", "#hash.jpg",
                 '"lead.jpg', " lead.jpg", "sep\u2028x.jpg", "$x$.jpg", os.fsdecode(b"bad\xff.jpg")]


def refused(capsys, args: list[str], *fragments: str) -> str:
    """`hashattack ARGS` exits 2 with one line holding each fragment, and no traceback."""
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def one_line(excinfo, *fragments: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height grey pixels, with almost no data behind it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(10))) + chunk(b"IEND", b""))


def photos(root: Path, classes=("cat", "dog"), per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / name / f"img{i}.png")
    return root


def image_demo(root: Path, tmp_path: Path) -> list[str]:
    return ["demo", "--dataset", "images", "--data", str(root), "--bits", "8", "--epochs", "1", "--query-split", "3",
            "--steps", "2", "--n-t", "1", "--methods", "P2P", "--eps", "0.05", "--quiet", "--out",
            str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]


# --- IDX files -------------------------------------------------------------------------------------

def idx(magic_ndim: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return gzip.compress(b"\x00\x00\x08" + bytes([magic_ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + payload)


@pytest.mark.parametrize("content, fragment", [
    (idx(255, (10, 28, 28), bytes(100)), "IDX header gives 255 dimensions"),
    (idx(0, (), bytes(100)), "IDX header gives 0 dimensions"),
    (idx(3, (4_000_000_000, 4_000_000_000, 4_000_000_000), bytes(100)), "IDX header says 64000000000000000000000000000"),
    (idx(3, (10, 28, 28), bytes(28 * 28)), "IDX header says 7840 values (10, 28, 28), file holds 784"),
    (idx(2, (10, 784), bytes(7840)), "expected images (n, H, W) and labels (n,)"),
], ids=["ndim-255", "ndim-0", "absurd-dims", "shorter-than-header", "wrong-rank"])
def test_hostile_idx_files(fake_fmnist, tmp_path, capsys, content, fragment):
    data = tmp_path / "data"
    shutil.copytree(fake_fmnist, data)
    (data / FILES["test_images"]).write_bytes(content)
    out = tmp_path / "run"
    refused(capsys, tiny_demo_args(data, tmp_path / "cache", out), FILES["test_images"], fragment)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


def test_gzip_bomb_idx_file_is_not_inflated(tmp_path):
    """A small .gz whose header announces 784 values but inflates to 64 MB: refused after reading 785."""
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(idx(3, (1, 28, 28), bytes(64_000_000)))
    assert path.stat().st_size < 200_000
    with pytest.raises(InputError) as excinfo:
        read_idx(path)
    assert str(excinfo.value) == f"{path}: IDX header says 784 values (1, 28, 28), file holds more"


def test_labels_count_differs_from_images_count(fake_fmnist, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(fake_fmnist, data)
    (data / FILES["test_labels"]).write_bytes(idx(1, (3,), bytes(3)))
    refused(capsys, tiny_demo_args(data, tmp_path / "cache", tmp_path / "run"),
            FILES["test_images"], "images but", FILES["test_labels"], "3 labels")


# --- image files -----------------------------------------------------------------------------------

def test_decompression_bomb_is_refused_from_the_command_line(tmp_path, capsys):
    root = photos(tmp_path / "photos")
    (root / "cat" / "bomb.png").write_bytes(png_header(20000, 20000))
    refused(capsys, image_demo(root, tmp_path), "bomb.png", "decompression bomb")
    assert not (tmp_path / "run").exists() or not any(p.is_file() for p in (tmp_path / "run").rglob("*"))


@pytest.mark.parametrize("make, fragment", [
    (lambda p: p.write_bytes(png_header(20000, 20000)), "decompression bomb"),
    (lambda p: p.write_bytes(png_header(9000, 9000)), "9000x9000 pixels, more than 64,000,000"),
    (lambda p: p.write_bytes(b""), "cannot read the image"),
    (lambda p: p.write_text("a text file named .png"), "cannot read the image"),
    (lambda p: p.write_bytes(_png_bytes()[:-30]), "cannot read the image"),
    (lambda p: p.mkdir(), "is a folder, not an image file"),
    (lambda p: Image.fromarray(np.zeros((4, 4), np.int32)).save(p.with_suffix(".tif")) or
     p.with_suffix(".tif").rename(p), "32-bit integer pixels are not read"),
    (lambda p: Image.fromarray(np.zeros((4, 4), np.float32)).save(p.with_suffix(".tif")) or
     p.with_suffix(".tif").rename(p), "floating-point pixels are not read"),
], ids=["bomb-20000", "past-limit", "zero-bytes", "text", "truncated", "folder", "int32", "float"])
def test_hostile_image_files(tmp_path, make, fragment):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(InputError) as excinfo:
        open_image(path, "RGB")
    one_line(excinfo, str(path), fragment)


def _png_bytes() -> bytes:
    import io
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("mode", ["CMYK", "P", "LA", "RGBA", "1", "I;16"])
def test_odd_pixel_modes_are_read_as_8_bit(tmp_path, mode):
    if mode == "I;16":   # 16-bit grey: scaled to 8 bits (v / 257), not clipped at 255
        Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.uint16)).save(tmp_path / "x.png")
        assert np.asarray(open_image(tmp_path / "x.png", "L")).tolist() == [[0, 100, 255]]
        return
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    Image.new(mode, (5, 3)).save(path)
    assert np.asarray(open_image(path, "RGB")).shape == (3, 5, 3)


def test_frame_folder_without_frames_or_with_a_bomb(tmp_path):
    (tmp_path / "clip").mkdir()
    with pytest.raises(InputError) as excinfo:
        read_frame_folder(tmp_path / "clip")
    one_line(excinfo, "clip", "holds no frame images")
    (tmp_path / "clip" / "0001.png").write_bytes(png_header(20000, 20000))
    with pytest.raises(InputError) as excinfo:
        read_frame_folder(tmp_path / "clip")
    one_line(excinfo, "0001.png", "decompression bomb")


# --- list files ------------------------------------------------------------------------------------

def test_lists_writes_every_file_name_so_it_reads_back(tmp_path, capsys):
    root = tmp_path / "imagenet"
    wnids = ["n01", HOSTILE_CLASS, "new\nclass", " spaced "]   # the last one is not asked for
    for split in ("train", "val"):
        for wnid in wnids:
            (root / split / wnid).mkdir(parents=True)
            for name in HOSTILE_NAMES:
                (root / split / wnid / name).write_bytes(b"")
    (tmp_path / "classes.txt").write_bytes(b"\xef\xbb\xbf" + "\n".join(['"new\\nclass"', " n01 ", HOSTILE_CLASS]).encode())
    assert main(["lists", "imagenet100", "--root", str(root), "--out", str(tmp_path / "lists"), "--train-per-class",
                 str(len(HOSTILE_NAMES)), "--classes-file", str(tmp_path / "classes.txt")]) == 0
    assert read_names(tmp_path / "lists" / "classes.txt") == ["new\nclass", "n01", HOSTILE_CLASS]
    for split in ("train", "database", "test"):
        paths, labels = read_list_file(tmp_path / "lists" / f"{split}.txt", root, num_classes=3)
        expected = sorted(root / ("val" if split == "test" else "train") / w / n for w in wnids[:3] for n in HOSTILE_NAMES)
        assert sorted(paths) == expected and labels.sum().item() == len(expected)
        unknown_width = read_list_file(tmp_path / "lists" / f"{split}.txt", root)   # the first line sets C
        assert unknown_width[0] == paths
    listed = image_list_set(tmp_path / "lists" / "test.txt", root, 3)   # the paper-scale reader takes them too
    assert sorted(listed.paths) == sorted(paths)


def test_names_file_round_trip(tmp_path):
    names = [HOSTILE_CLASS, "two words", " lead", "trail ", "new\nline", '"quoted"', "#not a comment", "plain"]
    write_names(tmp_path / "classes.txt", names)
    assert read_names(tmp_path / "classes.txt") == names


def write_list(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "list.txt"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_byte_order_mark_is_skipped(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"")
    paths, labels = read_list_file(write_list(tmp_path, b"\xef\xbb\xbfa.png 0 1\n"))
    assert paths == [tmp_path / "a.png"] and labels.tolist() == [[0, 1]]
    paths, labels = read_list_file(write_list(tmp_path, b'\xef\xbb\xbf"a.png" 0 1\r\na.png 1 0\r\n'))   # CRLF too
    assert paths == [tmp_path / "a.png"] * 2 and labels.tolist() == [[0, 1], [1, 0]]
    (tmp_path / "names.txt").write_bytes(b"\xef\xbb\xbfcat\r\ndog\r\n")
    assert read_names(tmp_path / "names.txt") == ["cat", "dog"]
    config = tmp_path / "run.toml"
    config.write_bytes(b'\xef\xbb\xbfcommand = "demo"\nbits = 16\n')
    capsys.readouterr()
    assert main(["run", str(config), "--dry-run"]) == 0


@pytest.mark.parametrize("text, options, fragment", [
    ("a.png 1\nb.png -1\n", {"class_index": True}, "line 2: class index '-1' is not an integer in 0..99999"),
    ("a.png 1\nb.png -1\n", {"class_index": True, "num_classes": 3}, "line 2: class index '-1' is not an integer in 0..2"),
    ("a.png 1\nb.png 2000000000\n", {"class_index": True}, "line 2: class index '2000000000' is not an integer in 0..99999"),
    ("a.png 1\nb.png \u00b2\n", {"class_index": True}, "line 2: class index '\u00b2'"),
    ('"a.png 0 1\n', {}, "line 1: the quoted path is not a valid JSON string"),
    ('"a.png"x 0 1\n', {}, "line 1: a quoted path must be one JSON string followed by a space"),
    ('"a.png"\n', {}, "line 1: no labels after the path"),
    ("sub 0 1\n", {}, "line 1: " + "{tmp}/sub is a folder, not an image file"),
    (b"a.png 0 1 \xff\n", {}, "cannot read list file"),
], ids=["negative", "negative-with-C", "huge-label", "superscript-digit", "unterminated-quote", "glued-quote",
        "quoted-no-labels", "names-a-folder", "not-utf8"])
def test_hostile_list_lines(tmp_path, text, options, fragment):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    path = write_list(tmp_path, text)
    with pytest.raises(InputError) as excinfo:
        read_list_file(path, **options)
    one_line(excinfo, str(path), fragment.replace("{tmp}", str(tmp_path)))


def test_a_list_file_that_is_a_folder(tmp_path):
    with pytest.raises(InputError) as excinfo:
        read_list_file(tmp_path)
    one_line(excinfo, f"list file {tmp_path} is a folder, not a file")


# --- figures: user text is drawn literally ---------------------------------------------------------

def test_class_folder_named_like_mathtext_goes_through_the_run_figures(tmp_path, capsys):
    root = photos(tmp_path / "photos", classes=(HOSTILE_CLASS, "dog"))
    assert main(image_demo(root, tmp_path)) == 0, capsys.readouterr().err
    figures = {p.name for p in (tmp_path / "run" / "figures").iterdir()}
    assert {"adversarial_examples.png", "retrieval.png"} <= figures, figures
    assert (tmp_path / "run" / "report.html").is_file()


def test_every_plot_draws_dollar_signs_and_backslashes_literally(tmp_path):
    record = {"methods": {"DHTA": {"t_map": 0.5}, "Original": {"t_map": 0.1, "map": 0.6}}}
    points = [({"model": HOSTILE_CLASS, "eps": 0.1}, record), ({"model": "$b$", "eps": 0.2}, record)]
    save_figure(tmap_sweep_figure(points, "model"), tmp_path / "sweep.png")
    save_figure(tmap_sweep_figure(points, "eps"), tmp_path / "sweep_eps.png")
    with matplotlib.rc_context({"text.usetex": True}):   # a user's matplotlibrc cannot send the names to LaTeX
        save_figure(tmap_sweep_figure(points, "model"), tmp_path / "sweep_usetex.png")
    save_figure(robustness_figure({HOSTILE_CLASS: {0.1: {"DHTA $t$-MAP": 0.5}}}), tmp_path / "robustness.png")
    cell = {"t_map": 0.5, "white_box": True}
    plot_transfer({"benign_row": "benign", "surrogates": [HOSTILE_CLASS], "victims": ["$v$"], "method": "DHTA",
                   "num_queries": 2, "matrix": {r: {"victims": {"$v$": cell}} for r in ("benign", HOSTILE_CLASS)}},
                  tmp_path / "transfer.png")
    video = torch.rand(3, 1, 8, 8)
    frame_comparison(video, video, tmp_path / "frames.png", frames=(1, 3), title=f"query ({HOSTILE_CLASS})")
    assert all((tmp_path / f"{n}.png").stat().st_size > 0
               for n in ("sweep", "sweep_eps", "robustness", "transfer", "frames"))


# --- the library: attacks and encode ---------------------------------------------------------------

class Linear(torch.nn.Module):
    """A 4-bit hashing model on 1x4x4 pixels, with `features`; `nan` fills its weights with NaN."""

    def __init__(self, nan: bool = False, normalised: bool = False):
        super().__init__()
        self.lin = torch.nn.Linear(16, 4)
        if nan:
            torch.nn.init.constant_(self.lin.weight, float("nan"))
        if normalised:
            self.register_buffer("mean", torch.full((1, 1, 1, 1), 0.5))
            self.register_buffer("std", torch.full((1, 1, 1, 1), 0.25))

    def features(self, x):
        return self.lin(x.flatten(1))

    def forward(self, x):
        return self.features(x)


def targets_for(name: str, images: torch.Tensor, bits: int = 4):
    """What method `name` is called with besides the images (as the registry says)."""
    kind = METHODS[name].target
    return (torch.ones(len(images), bits),) if kind in ("anchor", "center") else \
        (images.clone(),) if kind == "object" else ()


ATTACKS = list(METHODS)
STEERED = [m for m in METHODS if METHODS[m].target or m == "Untargeted"]


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1.5])
def test_pixels_outside_the_unit_range_are_refused(name, bad):
    images = torch.rand(2, 1, 4, 4)
    images[1, 0, 2, 2] = bad
    with pytest.raises(InputError) as excinfo:
        build_attack(name, Linear(), 0.1, steps=2)(images, *targets_for(name, images))
    one_line(excinfo, "attack inputs must be pixels in [0, 1]", "NaN or inf" if bad != 1.5 else "outside [0, 1]")


@pytest.mark.parametrize("name", [m for m in STEERED])
def test_a_model_with_nan_weights_is_refused(name):
    images = torch.rand(2, 1, 4, 4)
    with pytest.raises(InputError) as excinfo:
        build_attack(name, Linear(nan=True), 0.1, steps=2)(images, *targets_for(name, images))
    one_line(excinfo, "NaN or inf")


def test_encode_refuses_nan_outputs_and_an_empty_set():
    with pytest.raises(InputError, match="NaN or inf outputs for objects 0..2$"):
        hashattack.encode(Linear(nan=True), torch.rand(3, 1, 4, 4), progress=False)
    with pytest.raises(InputError, match="^the set to encode is empty; at least one object is needed$"):
        hashattack.encode(Linear(), torch.rand(0, 1, 4, 4), progress=False)
    for bad in (torch.full((3, 1, 4, 4), float("nan")), torch.rand(3, 1, 4, 4) * 255, torch.zeros(3, 1, 4, 4, dtype=torch.uint8)):
        with pytest.raises(InputError, match=r"^objects 0..2 to encode are not float pixels in \[0, 1\]"):
            hashattack.encode(Linear(), bad, progress=False)


@pytest.mark.parametrize("name, targets, fragment", [
    *[(m, torch.ones(2, 6), "targets have code length 6") for m in ("DHTA", "P2P", "Untargeted")],
    ("Feature", torch.ones(2, 6), "targets have feature width 6"),
    *[(m, torch.tensor([3, 7]), "(labels?)") for m in ("DHTA", "P2P", "Untargeted", "Feature")],
    *[(m, torch.eye(10)[[3, 7]], "values other than -1 and +1 (labels?)") for m in ("DHTA", "P2P", "Untargeted")],
    *[(m, torch.full((2, 4), 0.5), "values other than -1 and +1") for m in ("DHTA", "P2P", "Untargeted")],
    *[(m, torch.full((2, 4), float("nan")), "values other than -1 and +1") for m in ("DHTA", "P2P", "Untargeted")],
    *[(m, torch.ones(3, 4), "2 images but") for m in ("DHTA", "P2P", "Untargeted")],
    ("Feature", [3, 7], "got list"),
    ("DHTA", torch.ones(2, 0, 4), "with n, K >= 1, got (2, 0, 4)"),
    ("DHTA", torch.ones(2, 0), "targets have code length 0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_wrong_targets_are_one_line_errors(name, targets, fragment):
    with pytest.raises(InputError) as excinfo:
        build_attack(name, Linear(), 0.1, steps=2)(torch.rand(2, 1, 4, 4), targets)
    one_line(excinfo, fragment)


@pytest.mark.parametrize("name", ATTACKS)
def test_an_empty_batch_gives_an_empty_result(name):
    images = torch.rand(0, 1, 4, 4)
    out = build_attack(name, Linear(), 0.1, steps=3)(images, *targets_for(name, images))
    assert out.shape == images.shape


@pytest.mark.parametrize("name", ATTACKS)
def test_normalized_eps_needs_the_models_mean_and_std(name):
    build_attack(name, Linear(normalised=True), 0.1, "normalized", steps=2)
    if name == "Original":   # ignores ε: any space is fine
        build_attack(name, Linear(), 0.1, "normalized")
        return
    with pytest.raises(InputError) as excinfo:
        build_attack(name, Linear(), 0.1, "normalized", steps=2)
    one_line(excinfo, "eps_space='normalized' needs a model with `mean` and `std` tensors", "Linear has none")


def test_attack_to_label_refuses_nan_pixels():
    images = torch.rand(2, 1, 4, 4)
    images[0, 0, 0, 0] = float("nan")
    codes = torch.sign(torch.randn(20, 4))
    with pytest.raises(InputError) as excinfo:
        hashattack.attack_to_label(Linear(), images, [1, 0], codes, torch.arange(20) % 2, steps=2, n_t=1)
    one_line(excinfo, "NaN")
