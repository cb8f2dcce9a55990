"""Bad input: each case exits 2 with one line naming the file, line or value, no traceback, and
leaves an existing run folder exactly as it was."""

import gzip
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hashattack.training.checkpoints import load_checkpoint, read_metadata, save_checkpoint
from hashattack.cli.main import main
from hashattack.data import fashion_mnist_retrieval
from hashattack.errors import InputError
from hashattack.protocol import engine
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec, TrainedModel
from hashattack.training.loop import TrainConfig
from hashattack.validation import check_finite, check_not_empty, check_targets
from hashattack.data.list_files import read_list_file
from hashattack.data.fashion_mnist import write_idx
from run_helpers import folder_snapshot, tiny_demo_args


def idx_bytes(array: np.ndarray) -> bytes:
    """The uncompressed IDX encoding of a uint8 array."""
    return b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, fake_fmnist):
    """A finished tiny run: (data folder, cache folder, run folder, its files)."""
    base = tmp_path_factory.mktemp("finished")
    data = fake_fmnist
    assert main(tiny_demo_args(data, base / "cache", base / "run", steps=2)) == 0
    return data, base / "cache", base / "run", folder_snapshot(base / "run")


def replace_option(args: list[str], option: str, value: str) -> list[str]:
    """`args` with `option` set to `value` (appended when absent)."""
    args = list(args)
    if option not in args:
        return args + [option, value]
    args[args.index(option) + 1] = value
    return args


def corrupt_copy(data: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    (copy / name).write_bytes(content)
    return copy


def edited_manifest(run: Path, tmp_path: Path, edit) -> Path:
    raw = json.loads((run / "manifest.json").read_text())
    edit(raw)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(raw))
    return path


def query_label(data: Path, query_id: int) -> int:
    return int(fashion_mnist_retrieval(data, train_per_class=5).query.labels[query_id].argmax())


def expect_refusal(finished, capsys, args: list[str], *fragments: str) -> str:
    data, cache, run, files = finished
    capsys.readouterr()
    assert main(args) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert folder_snapshot(run) == files, "the existing run folder was changed"
    return err


# --- through the command line, against a finished run folder -------------------------------------

def test_missing_dataset_names_the_folder_and_the_install_hint(finished, capsys, tmp_path):
    data, cache, run, _ = finished
    args = replace_option(tiny_demo_args(data, cache, run, steps=2), "--data", str(tmp_path / "nowhere"))
    expect_refusal(finished, capsys, args, f"Fashion-MNIST not found in {tmp_path / 'nowhere'}",
                   "apt-get install dataset-fashion-mnist")


@pytest.mark.parametrize("content, fragment", [
    (b"\x1f\x8b\x08\x00" + bytes(range(200)), "cannot read IDX file"),                      # corrupt gzip
    (gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-12], "cannot read IDX file"),  # truncated
    (gzip.compress(b"\x00\x00\x0d\x03" + bytes(16)), "bad magic number"),                    # not uint8 IDX
    (gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8))[:-5]), "IDX header says 3136 values"),
], ids=["corrupt-gzip", "truncated-gzip", "bad-magic", "short-data"])
def test_unreadable_or_corrupt_image_file(finished, capsys, tmp_path, content, fragment):
    data, cache, run, _ = finished
    broken = corrupt_copy(data, tmp_path, "t10k-images-idx3-ubyte.gz", content)
    args = replace_option(tiny_demo_args(data, cache, run, steps=2), "--data", str(broken))
    expect_refusal(finished, capsys, args, "t10k-images-idx3-ubyte.gz", fragment)


def test_empty_query_set(finished, capsys, tmp_path):
    data, cache, run, _ = finished
    empty = tmp_path / "empty"
    shutil.copytree(data, empty)
    write_idx(empty / "t10k-images-idx3-ubyte.gz", np.zeros((0, 28, 28), np.uint8))
    write_idx(empty / "t10k-labels-idx1-ubyte.gz", np.zeros((0,), np.uint8))
    args = replace_option(tiny_demo_args(data, cache, run, steps=2), "--data", str(empty))
    expect_refusal(finished, capsys, args, "the query set of fashion-mnist is empty")


@pytest.mark.parametrize("option, value, fragment", [
    ("--eps", "0", "argument --eps: expected a positive number, got 0"),
    ("--eps", "-0.1", "argument --eps: expected a positive number, got -0.1"),
    ("--eps", "nan", "argument --eps: expected a positive number, got nan"),
    ("--eps", "inf", "argument --eps: expected a positive number, got inf"),
    ("--eps", "2", "pixel-space eps must be at most 1 (pixels lie in [0, 1]), got 2.0"),
    ("--steps", "0", "argument --steps: expected a positive integer, got 0"),
    ("--steps", "-5", "argument --steps: expected a positive integer, got -5"),
    ("--queries", "0", "argument --queries: expected a positive integer, got 0"),
    ("--queries", "41", "number of queries must be between 1 and 40, got 41"),
    ("--n-t", "20", "n_t = 20 is too large: no target label has more than 20 database objects (largest count 12)"),
    ("--bits", "zero", "argument --bits: expected a positive integer, got 'zero'"),
], ids=lambda v: str(v))
def test_out_of_range_values(finished, capsys, option, value, fragment):
    data, cache, run, _ = finished
    expect_refusal(finished, capsys, replace_option(tiny_demo_args(data, cache, run, steps=2), option, value), fragment)


def test_normalized_eps_beyond_the_pixel_range(finished, capsys):
    data, cache, run, _ = finished
    args = tiny_demo_args(data, cache, run, steps=2) + ["--eps-space", "normalized", "--eps", "3"]
    expect_refusal(finished, capsys, args, "normalized eps 3.0 is more than 1 in pixel units")
    # refused before the run folder is touched: --force does not clear the finished run first
    expect_refusal(finished, capsys, args + ["--force"], "normalized eps 3.0 is more than 1 in pixel units")


@pytest.mark.parametrize("case", ["missing", "not-json", "no-format", "empty-label", "no-queries",
                                  "id-outside", "target-is-own-label", "anchor-not-target", "no-anchors-for-n_t"])
def test_bad_manifests(finished, capsys, tmp_path, case):
    data, cache, run, _ = finished
    raw = json.loads((run / "manifest.json").read_text())
    first = raw["query_ids"][0]
    db_classes = fashion_mnist_retrieval(data, train_per_class=5).database.labels.argmax(dim=1).tolist()

    def edit(m):
        if case == "no-format":
            del m["format"]
        elif case == "empty-label":
            m["target_labels"][0] = []
        elif case == "no-queries":
            m["query_ids"], m["target_labels"], m["anchor_ids"] = [], [], {"1": [], "3": []}
        elif case == "id-outside":
            m["query_ids"][0] = 40
        elif case == "target-is-own-label":
            m["target_labels"][0] = [query_label(data, first)]
        elif case == "anchor-not-target":
            m["anchor_ids"]["3"][0][1] = next(i for i, label in enumerate(db_classes) if label != m["target_labels"][0][0])
        elif case == "no-anchors-for-n_t":
            del m["anchor_ids"]["3"]

    path = tmp_path / "manifest.json"
    if case == "not-json":
        path.write_text('{"format": "hashattack-manifest/1", ')
    elif case != "missing":
        path = edited_manifest(run, tmp_path, edit)
    fragments = {
        "missing": [f"manifest {path} does not exist"],
        "not-json": [f"{path}: malformed manifest"],
        "no-format": [f"{path}: malformed manifest", "expected 'hashattack-manifest/1'"],
        "empty-label": [f"{path}: malformed manifest (target label of query 0 is empty)"],
        "no-queries": [f"{path}: malformed manifest (query_ids is empty"],
        "id-outside": [f"{path}: a query id is outside the query set of 40"],
        "target-is-own-label": [f"of query {first} equals the query's own label"],
        "anchor-not-target": [f"anchor 1 (n_t = 3) of query {first} does not carry the target label"],
        "no-anchors-for-n_t": ["holds anchors for n_t in [1], not 3"],
    }[case]
    expect_refusal(finished, capsys, tiny_demo_args(data, cache, run, steps=2) + ["--manifest", str(path)],
                   *fragments)


def test_cached_checkpoint_with_a_wrong_hash(finished, capsys, tmp_path):
    data, cache, run, _ = finished
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    (weights,) = copy.glob("*.pt")
    blob = bytearray(weights.read_bytes())
    blob[-100] ^= 0xFF
    weights.write_bytes(bytes(blob))
    args = replace_option(tiny_demo_args(data, cache, run, steps=2), "--cache-dir", str(copy))
    expect_refusal(finished, capsys, args, f"{weights}: SHA-256", "does not match its metadata")


def test_model_producing_nan(finished, capsys, tmp_path):
    data, cache, run, _ = finished
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    (weights,) = copy.glob("*.pt")
    model, meta = load_checkpoint(weights)
    with torch.no_grad():
        model.hash_layer.bias.fill_(float("nan"))
    save_checkpoint(weights, model, {k: v for k, v in meta.items() if k not in ("format", "model", "sha256")})
    args = replace_option(tiny_demo_args(data, cache, run, steps=2), "--cache-dir", str(copy))
    expect_refusal(finished, capsys, args, "the model produced NaN or inf outputs for objects 0..")


def test_unknown_subcommand_and_option(finished, capsys):
    data, cache, run, _ = finished
    expect_refusal(finished, capsys, ["demox"], "invalid choice: 'demox'")
    expect_refusal(finished, capsys, tiny_demo_args(data, cache, run) + ["--epsilon", "1"],
                   "unrecognized arguments: --epsilon 1")


# --- library level: parts without a command-line option yet -------------------------------------

def test_unknown_architecture_leaves_the_folder_alone(finished, tmp_path):
    data, cache, run, files = finished
    spec = RunSpec(data=DataSpec(dataset="fashion-mnist", root=str(data), train_per_class=5),
                   model=TrainedModel(bits=16, train=TrainConfig(epochs=1), cache_dir=str(cache)),
                   attack=AttackSettings(steps=2, n_t=3, batch_size=2, topk=50), queries=8,
                   controls=RunControls(out=str(run), progress=False))
    with pytest.raises(InputError, match="unknown architecture 'vgg-99': choose one of .*small-cnn"):
        engine.run(replace(spec, model=replace(spec.model, architecture="vgg-99")))
    with pytest.raises(InputError, match="unknown method 'Magic'"):
        engine.run(replace(spec, methods=("Original", "Magic")))
    assert folder_snapshot(run) == files


def test_checkpoint_of_another_architecture_or_code_length(finished, tmp_path):
    _, cache, _, _ = finished
    (weights,) = cache.glob("*.pt")
    with pytest.raises(InputError, match=r"has 16 bits, not 32"):
        load_checkpoint(weights, bits=32)
    with pytest.raises(InputError, match=r"holds a 'small-cnn' model, not 'vgg11-hash'"):
        load_checkpoint(weights, architecture="vgg11-hash")
    meta = read_metadata(weights)
    assert {"model", "sha256", "dataset", "train", "metrics", "protocol"} <= set(meta)
    assert {"architecture", "bits", "mean", "std"} <= set(meta["model"])


class NanGradient(torch.autograd.Function):
    """Identity forward, NaN backward: a model whose codes are finite but whose gradients are not."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.full_like(grad, float("nan"))


class BrokenGradients(torch.nn.Module):
    def forward(self, x):
        return NanGradient.apply(x).flatten(1)[:, :4] - 0.5


def test_nan_produced_during_the_attack_is_refused():
    from hashattack.attacks import DHTA
    from hashattack.protocol.attacking import attacked_batches
    model = BrokenGradients()
    with pytest.raises(InputError, match=r"DHTA's adversarial queries 0..1 holds NaN or inf"):
        attacked_batches("DHTA", DHTA(model, steps=2), model, torch.rand(2, 1, 4, 4), torch.ones(2, 4), [0, 1], 2,
                         progress=False)


# --- the reusable checks ------------------------------------------------------------------------

def test_check_finite():
    check_finite(torch.zeros(3, 4), "codes")
    with pytest.raises(InputError, match=r"^codes.npy holds NaN or inf \(row 2\); every value must be a finite number$"):
        check_finite(np.array([[1.0, 1], [1, 1], [np.inf, 1]]), "codes.npy")


def test_list_file_lines(tmp_path):
    def read(line, num_classes=None):
        (tmp_path / "train.txt").write_text(f"# one comment line\n{line}\n")
        return read_list_file(tmp_path / "train.txt", num_classes=num_classes, check_files=False)

    paths, labels = read("img/a.jpg 0 1 0", 3)
    assert paths == [tmp_path / "img/a.jpg"] and labels.tolist() == [[0, 1, 0]]
    assert read("my photos/a.jpg 1 0", 2)[0] == [tmp_path / "my photos/a.jpg"]   # known C: spaces allowed
    where = re.escape(str(tmp_path / "train.txt")) + ", line 2: "
    with pytest.raises(InputError, match=f"^{where}2 labels, expected 3$"):
        read("img/a.jpg 0 1", 3)
    with pytest.raises(InputError, match=f"^{where}4 labels after the path, expected 3$"):
        read("img/a.jpg 0 1 0 1", 3)
    with pytest.raises(InputError, match=f"^{where}the label vector is all zeros"):
        read("img/a.jpg 0 0 0", 3)
    with pytest.raises(InputError, match=f"^{where}labels must be 0 or 1, got '0.5'$"):
        read("img/a.jpg 0 0.5 1")
    with pytest.raises(InputError, match=f"^{where}no labels after the path"):
        read("img/a.jpg")
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("a.jpg 1\nb.jpg 1\n")
    with pytest.raises(InputError, match=r"list.txt, line 2: image .*b.jpg does not exist"):
        read_list_file(tmp_path / "list.txt")


def test_empty_sets_and_targets():
    with pytest.raises(InputError, match="^the query set of x is empty; at least one object is needed$"):
        check_not_empty(0, "the query set of x")
    queries = np.array([[1, 0, 0], [0, 1, 0]])
    check_targets(queries, np.array([[0, 1, 0], [1, 0, 0]]), {1: np.array([[[0, 1, 0]], [[1, 0, 0]]])}, "m.json")
    with pytest.raises(InputError, match=r"m.json: the target label \[1\] of query 11 equals the query's own label"):
        check_targets(queries, np.array([[0, 1, 0], [0, 1, 0]]), None, "m.json", query_ids=[10, 11])
