"""Hostile input that asks for unbounded work, that used to end in a traceback, or that used to be
read silently: small files naming huge sizes (a sweep of 10^9 points, a checkpoint that inflates,
4096x4096 video frames, class 10^9, num_classes 10^12), configs that are devices or FIFOs, huge
option values, deeply nested JSON/TOML, values of the wrong type (seeds -1 / 1.5 / "7" / true, class
-1, a string of query ids), all-zero labels and stray bits in stored codes. Each case: one line
naming the file or option and the limit (exit 2 from the command line, no traceback), old results
intact."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import hashattack.models.weights as weights
import hashattack.validation as validation
from hashattack.cli.main import main
from hashattack.data.list_files import read_list_file
from hashattack.data.video import read_video
from hashattack.errors import InputError
from hashattack.models import create_model
from hashattack.protocol.targets import MANIFEST_FORMAT, load_manifest
from hashattack.retrieval.stored import codes_from_array, label_vectors, load_database
from hashattack.training.checkpoints import load_checkpoint, metadata_path, save_checkpoint
from run_helpers import folder_snapshot, tiny_demo_args, without_training
from test_hostile_inputs import png_header

DEEP = 5000   # levels of nesting: past Python's recursion limit


def refused(capsys, args, *fragments: str) -> str:
    """`hashattack ARGS` exits 2 with one line holding each fragment, and no traceback."""
    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hashattack: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def one_line(excinfo, *fragments: str) -> str:
    message = str(excinfo.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def deep_json() -> str:
    return '{"format": ' + "[" * DEEP + "]" * DEEP + "}"


@pytest.fixture(scope="module")
def finished(fake_fmnist, tmp_path_factory) -> dict:
    """A finished 4-query run (2 batches per method) without figures, and its cache."""
    root = tmp_path_factory.mktemp("bounds")
    args = tiny_demo_args(fake_fmnist, root / "cache", root / "run", steps=2, queries=4) + ["--no-figures"]
    assert main([str(a) for a in args]) == 0
    return {"data": fake_fmnist, "cache": root / "cache", "run": root / "run", "args": args}


def demo(finished, out: Path, *extra) -> list[str]:
    args = list(finished["args"])
    args[args.index("--out") + 1] = str(out)
    return [*args, *extra]


# ---- unbounded work from small files and values ----

def test_a_sweep_of_a_billion_points_is_refused_before_its_grid_is_built(finished, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(finished["run"], sweep / "a")
    axes = {axis: list(range(1000)) for axis in ("bits", "eps", "steps")}
    (sweep / "sweep.json").write_text(json.dumps({"format": "hashattack-sweep/1", "axes": axes, "runs": ["a"]}))
    assert (sweep / "sweep.json").stat().st_size < 20_000
    before = folder_snapshot(sweep)
    refused(capsys, ["report", sweep], "sweep.json", "1,000,000,000 points", f"limit of {validation.MAX_SWEEP_POINTS:,}")
    assert folder_snapshot(sweep) == before


def test_a_sweep_listing_too_many_runs_is_refused(finished, tmp_path, capsys):
    sweep = tmp_path / "sweep"
    shutil.copytree(finished["run"], sweep / "a")
    runs = ["a"] * (validation.MAX_SWEEP_POINTS + 1)
    (sweep / "sweep.json").write_text(json.dumps({"format": "hashattack-sweep/1", "axes": {}, "runs": runs}))
    refused(capsys, ["report", sweep], "sweep.json", f"{validation.MAX_SWEEP_POINTS + 1:,} points")


def _inflating_checkpoint(path: Path, inflated: int) -> None:
    """A zip (torch.save's format) of one deflated entry of `inflated` zero bytes, and metadata beside it."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model/data/0", "w", force_zip64=True) as entry:
            block = bytes(1 << 20)
            for _ in range(inflated >> 20):
                entry.write(block)
    metadata_path(path).write_text(json.dumps({"model": {"architecture": "small-cnn", "bits": 16},
                                               "sha256": weights.sha256_of(path)}))


def test_a_small_checkpoint_that_inflates_is_refused_before_loading(tmp_path):
    path = tmp_path / "bomb.pt"
    _inflating_checkpoint(path, 256 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "bomb.pt", "inflates to 268,435,456", f"at most {validation.MAX_INFLATION} times its size")


def test_a_checkpoint_of_too_many_entries_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    load_checkpoint(path)                                      # loads within the limit
    monkeypatch.setattr(weights, "MAX_CHECKPOINT_TENSORS", 3)
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "model.pt", "entries, more than the limit of 3")


def test_a_weights_file_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    monkeypatch.setattr(weights, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "model.pt", "larger than the limit of 1,000")


@pytest.mark.parametrize("config", [{"bits": 10 ** 12}, {"size": 10 ** 6}, {"feature_dim": 10 ** 9}])
def test_checkpoint_metadata_naming_huge_sizes_is_refused_before_allocating(tmp_path, config):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    meta = json.loads(metadata_path(path).read_text())
    meta["model"] |= config
    metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "model.pt.json", "the weights file model.pt holds")


def _video(path: Path, side: int) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=1)
        stream.width, stream.height, stream.pix_fmt = side, side, "gray"
        frame = av.VideoFrame.from_ndarray(np.zeros((side, side), np.uint8), format="gray")
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def test_a_tiny_video_of_4096x4096_frames_is_refused_before_decoding(tmp_path):
    path = _video(tmp_path / "big.mkv", 4096)
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError) as excinfo:
        read_video(path)
    one_line(excinfo, "big.mkv", "4096x4096", f"limit of {validation.MAX_FRAME_PIXELS:,}")
    assert read_video(_video(tmp_path / "small.mkv", 16)).shape == (1, 3, 16, 16)   # a small one reads


def test_a_frame_folder_of_huge_frames_is_refused_by_header(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "0001.png").write_bytes(png_header(4096, 4096))
    with pytest.raises(InputError) as excinfo:
        read_video(folder)
    one_line(excinfo, "0001.png", "4096x4096", f"{validation.MAX_FRAME_PIXELS:,}")


def test_label_files_naming_huge_classes_are_refused(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a.png 1000000000\n")
    with pytest.raises(InputError) as excinfo:
        read_list_file(path, check_files=False, class_index=True)
    one_line(excinfo, "list.txt, line 1", "1000000000")
    with pytest.raises(InputError) as excinfo:                 # a number of classes of 10^12
        read_list_file(path, check_files=False, class_index=True, num_classes=10 ** 12)
    one_line(excinfo, "list.txt", "number of classes", f"{validation.MAX_CLASSES:,}")
    path.write_text("".join(f"a{i}.png {validation.MAX_CLASSES - 1}\n" for i in range(3000)))
    with pytest.raises(InputError) as excinfo:                 # 3000 objects x 100,000 classes
        read_list_file(path, check_files=False, class_index=True)
    one_line(excinfo, "list.txt", "3,000 images x 100,000 classes", f"{validation.MAX_LABEL_CELLS:,}")


def test_stored_labels_naming_huge_classes_are_refused(tmp_path):
    with pytest.raises(InputError) as excinfo:
        label_vectors(np.array([0, 10 ** 9]), None, "labels.npy")
    one_line(excinfo, "labels.npy", "1,000,000,001 classes", f"{validation.MAX_CLASSES:,}")


def test_a_npy_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    codes, labels = tmp_path / "codes.npy", tmp_path / "labels.npy"
    np.save(codes, np.ones((4, 16), np.float32))
    np.save(labels, np.arange(4))
    assert load_database(codes, labels)[0].shape == (4, 16)
    codes.write_bytes(_huge_header(codes))
    with pytest.raises(InputError) as excinfo:
        load_database(codes, labels)
    one_line(excinfo, "codes.npy", "more than the file holds")


def _huge_header(path: Path) -> bytes:
    """The .npy bytes of `path` with its header claiming 10^10 rows."""
    buffer = bytearray(path.read_bytes())
    text = buffer[10:10 + int.from_bytes(buffer[8:10], "little")].decode("latin1")
    claimed = text.replace("(4, 16)", "(10000000000, 16)")
    claimed = claimed.rstrip("\n").rstrip() + " " * (len(text) - len(claimed.rstrip("\n").rstrip()) - 1) + "\n"
    assert len(claimed) == len(text)
    return bytes(buffer[:10]) + claimed.encode("latin1") + bytes(buffer[10 + len(text):])


def _manifest(**changes) -> dict:
    return {"format": MANIFEST_FORMAT, "dataset": "fashion-mnist", "seed": 0, "num_classes": 10,
            "query_ids": [0, 1], "target_labels": [[3], [4]], "anchor_ids": {"1": [[5], [6]]},
            "target_protocol": "paired"} | changes


def test_a_manifest_of_a_trillion_classes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest()))
    assert load_manifest(path).target_labels.shape == (2, 10)   # the intact manifest loads
    path.write_text(json.dumps(_manifest(num_classes=10 ** 12)))
    with pytest.raises(InputError) as excinfo:
        load_manifest(path)
    one_line(excinfo, "manifest.json: malformed manifest", "num_classes", f"{validation.MAX_CLASSES:,}")


@pytest.mark.parametrize("special", ["dev-zero", "fifo", "folder"])
def test_a_config_or_manifest_that_is_not_a_regular_file_is_refused(finished, tmp_path, capsys, special):
    if special == "dev-zero":
        path = Path("/dev/zero")
    elif special == "fifo":
        path = tmp_path / "config.toml"
        os.mkfifo(path)
    else:
        path = tmp_path / "config.toml"
        path.mkdir()
    what = "is a folder, not a file" if special == "folder" else "is not a regular file"
    refused(capsys, ["run", path], f"TOML config {path} {what}")
    refused(capsys, demo(finished, tmp_path / "out", "--manifest", path), f"manifest {path} {what}")


def test_a_config_larger_than_the_limit_is_refused(tmp_path, capsys, monkeypatch):
    path = tmp_path / "config.toml"
    path.write_text('command = "demo"\n' + "# padding\n" * 200)
    monkeypatch.setattr(validation, "MAX_FILE_BYTES", 1000)
    refused(capsys, ["run", path], "config.toml", "larger than the limit of 1,000 bytes")


@pytest.mark.parametrize("option, value, limit", [
    ("--steps", 10 ** 9, validation.MAX_STEPS), ("--bits", 10 ** 12, validation.MAX_BITS),
    ("--queries", 10 ** 9, validation.MAX_QUERIES), ("--batch-size", 10 ** 9, validation.MAX_BATCH),
    ("--epochs", 10 ** 9, validation.MAX_EPOCHS), ("--n-t", 10 ** 9, validation.MAX_N_T),
    ("--train-batch-size", 10 ** 9, validation.MAX_BATCH), ("--topk", 10 ** 12, validation.MAX_COUNT),
])
def test_huge_option_values_are_refused_before_anything_runs(tmp_path, capsys, option, value, limit):
    out = tmp_path / "run"
    refused(capsys, ["demo", option, value, "--out", out], f"argument {option}", f"at most {limit:,}", str(value))
    assert not out.exists()


def test_huge_values_in_a_config_are_refused(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('command = "demo"\nsteps = 1000000000\n')
    refused(capsys, ["run", path], "config.toml", "argument --steps", f"at most {validation.MAX_STEPS:,}")
    path.write_text('command = "demo"\n')
    refused(capsys, ["run", path, "--set", "bits=1000000000000"], "argument --bits", f"at most {validation.MAX_BITS:,}")


# ---- tracebacks that are now one line ----

def test_a_deeply_nested_batch_file_is_attacked_again(finished, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished["run"], out)
    (out / "batches" / "DHTA-00001.json").write_text("[" * DEEP + "]" * DEEP)
    capsys.readouterr()
    assert main(demo(finished, out)) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("hashattack: notice: ") and "DHTA-00001.json: unreadable or truncated" in err
    assert "nested deeper than" in err
    for name in ("results.json", "table.md", "manifest.json"):
        assert (out / name).read_bytes() == (finished["run"] / name).read_bytes()


def test_a_deeply_nested_manifest_is_one_line(finished, tmp_path, capsys):
    path = tmp_path / "manifest.json"
    path.write_text(deep_json())
    refused(capsys, demo(finished, tmp_path / "out", "--manifest", path), "manifest.json: malformed manifest",
            f"nested deeper than {validation.MAX_JSON_DEPTH} levels")


@pytest.mark.parametrize("name", ["results.json", "sweep.json"])
def test_deeply_nested_results_and_sweeps_are_one_line(finished, tmp_path, capsys, name):
    out = tmp_path / "run"
    shutil.copytree(finished["run"], out)
    (out / name).write_text(deep_json())
    before = folder_snapshot(out)
    refused(capsys, ["report", out], name, "nested deeper than")
    assert folder_snapshot(out) == before


def test_results_with_an_integer_of_thousands_of_digits_are_one_line(finished, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(finished["run"], out)
    (out / "results.json").write_text('{"bits": ' + "7" * 5000 + "}")
    refused(capsys, ["report", out], "results.json: malformed results", "digits")


def test_deeply_nested_toml_configs_and_overrides_are_one_line(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text('command = "demo"\nbits = ' + "[" * DEEP + "]" * DEEP + "\n")
    refused(capsys, ["run", path], "config.toml: malformed TOML config", "nested deeper than")
    path.write_text('command = "demo"\n')
    refused(capsys, ["run", path, "--set", "bits=" + "[" * DEEP + "]" * DEEP], "override value", "nested deeper")


@pytest.mark.parametrize("change, fragment", [
    (lambda m: m.update(model="small-cnn"), "'model' is not an object"),
    (lambda m: m.update(sha256=12), "sha256 is not 64 hex digits"),
    (lambda m: m["model"].update(bits="16"), "bits must be a positive integer"),
    (lambda m: m["model"].update(feature_dim=[256]), "its model config cannot be built"),
    (lambda m: m.update(train_data=[1]), "train_data is '[1]', not an object"),
    (lambda m: m.update(train_seconds="soon"), "train_seconds is 'soon', not a number"),
    (lambda m: m.update(model={"architecture": "small-cnn", "bits": 16, **{"x" * 5: {"a": [[[[1]]]]}}}),
     "model.pt.json"),
])
def test_checkpoint_metadata_of_wrong_types_is_one_line(tmp_path, change, fragment):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    meta = json.loads(metadata_path(path).read_text())
    change(meta)
    metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "model.pt", fragment)


def test_deeply_nested_checkpoint_metadata_is_one_line(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    metadata_path(path).write_text(deep_json())
    with pytest.raises(InputError) as excinfo:
        load_checkpoint(path)
    one_line(excinfo, "model.pt.json: malformed checkpoint metadata", "nested deeper than")


def test_a_checkpoint_with_wrong_metadata_is_one_line_from_the_command_line(finished, tmp_path, capsys):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    meta = json.loads(metadata_path(path).read_text())
    meta["model"]["size"] = 10 ** 6
    metadata_path(path).write_text(json.dumps(meta))
    refused(capsys, without_training(demo(finished, tmp_path / "out", "--checkpoint", path)), "model.pt.json",
            "the metadata does not fit")


# ---- silently accepted, now refused ----

@pytest.mark.parametrize("changes, fragment", [
    ({"seed": -1}, "seed must be an integer from 0 to 9,223,372,036,854,775,807, got -1"),
    ({"seed": 1.5}, "got 1.5"),
    ({"seed": "7"}, "got '7'"),
    ({"seed": True}, "got True"),
    ({"seed": 2 ** 64}, "got 18446744073709551616"),
    ({"num_classes": True}, "num_classes must be an integer"),
    ({"target_labels": [[-1], [4]]}, "names class -1, not an integer in 0..9"),
    ({"target_labels": [[10], [4]]}, "names class 10"),
    ({"target_labels": [[True], [4]]}, "names class True"),
    ({"query_ids": "01"}, "query_ids is not a list of ids"),
    ({"query_ids": [0, 0]}, "query id 0 is listed twice"),
    ({"query_ids": [0, -1]}, "query_ids holds -1, not"),
    ({"query_ids": [0, 1.0]}, "query_ids holds 1.0,"),
    ({"query_ids": [0, True]}, "query_ids holds True,"),
    ({"anchor_ids": {"1": [[5], ["6"]]}}, "anchor_ids[1] holds '6'"),
    ({"anchor_ids": {"-1": [[5], [6]]}}, "n_t key '-1'"),
    ({"anchor_ids": {"1.5": [[5], [6]]}}, "n_t key '1.5'"),
])
def test_manifest_values_of_the_wrong_kind_are_refused(tmp_path, changes, fragment):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest(**changes)))
    with pytest.raises(InputError) as excinfo:
        load_manifest(path)
    one_line(excinfo, "manifest.json: malformed manifest", fragment)


def test_a_manifest_of_another_dataset_is_refused(finished, tmp_path, capsys):
    path = tmp_path / "manifest.json"
    raw = json.loads((finished["run"] / "manifest.json").read_text())
    assert raw["dataset"] == "fashion-mnist"
    path.write_text(json.dumps(raw | {"dataset": "mosaic-fashion"}))
    refused(capsys, demo(finished, tmp_path / "out", "--manifest", path),
            "manifest.json: a manifest of dataset 'mosaic-fashion', not of 'fashion-mnist'")
    with pytest.raises(InputError):
        load_manifest(path, dataset="fashion-mnist")
    assert len(load_manifest(path, dataset="mosaic-fashion")) == len(raw["query_ids"])


def test_all_zero_label_rows_of_a_stored_database_are_refused(tmp_path):
    codes, labels = tmp_path / "codes.npy", tmp_path / "labels.npy"
    np.save(codes, np.ones((3, 16), np.float32))
    np.save(labels, np.array([[1, 0], [0, 1], [1, 1]], np.uint8))
    assert load_database(codes, labels)[1].shape == (3, 2)         # multi-hot labels load
    np.save(labels, np.array([[1, 0], [0, 0], [1, 1]], np.uint8))
    with pytest.raises(InputError) as excinfo:
        load_database(codes, labels)
    one_line(excinfo, "labels.npy", "row 1 is all zeros")


def test_a_stored_database_with_zero_labels_is_refused_from_the_command_line(finished, tmp_path, capsys):
    codes, labels = tmp_path / "codes.npy", tmp_path / "labels.npy"
    np.save(codes, np.ones((30, 16), np.float32))
    np.save(labels, np.eye(10, dtype=np.uint8)[np.arange(30) % 10] * (np.arange(30) != 7)[:, None])
    refused(capsys, demo(finished, tmp_path / "out", "--database-codes", codes, "--database-labels", labels),
            "labels.npy", "row 7 is all zeros")


@pytest.mark.parametrize("bits, last_byte", [(12, 0b00000001), (12, 0b00001000), (3, 0b00010000), (9, 0b01000000)])
def test_stray_bits_beyond_k_in_packed_codes_are_refused(bits, last_byte):
    packed = np.zeros((2, -(-bits // 8)), np.uint8)
    assert codes_from_array(packed, bits).shape == (2, bits)      # clean padding reads
    packed[1, -1] = last_byte
    with pytest.raises(InputError) as excinfo:
        codes_from_array(packed, bits, "codes.npy")
    one_line(excinfo, "codes.npy: packed code 1 sets bits beyond its", f"{bits} bits")


def test_the_last_valid_bit_of_packed_codes_is_read(tmp_path):
    packed = np.array([[0, 0b00010000]], np.uint8)   # bit 12 of 12 (most significant first)
    assert codes_from_array(packed, 12)[0, 11] == 1


def test_negative_class_indices_in_stored_labels_are_refused():
    with pytest.raises(InputError) as excinfo:
        label_vectors(np.array([0, -1, 3]), 10, "labels.npy")
    one_line(excinfo, "labels.npy", "non-negative integers")
    with pytest.raises(InputError) as excinfo:
        label_vectors(np.array([0, 1]), True, "labels.npy")
    one_line(excinfo, "number of classes must be an integer", "got True")


@pytest.mark.parametrize("line", ["steps = true", "queries = false", "bits = [true, 16]"])
def test_true_as_a_count_in_a_config_is_refused(tmp_path, capsys, line):
    path = tmp_path / "config.toml"
    path.write_text(f'command = "demo"\n{line}\n')
    refused(capsys, ["run", path], "config.toml", "is not a flag")


def test_a_label_file_class_minus_one_is_refused(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("a.png 3\nb.png -1\n")
    with pytest.raises(InputError) as excinfo:
        read_list_file(path, check_files=False, class_index=True, num_classes=10)
    one_line(excinfo, "list.txt, line 2", "'-1' is not an integer in 0..9")


def test_a_manifest_of_multi_label_targets_is_read_exactly(tmp_path):
    """Valid however odd: a target of two classes comes back as uint8 multi-hot of num_classes."""
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest(target_labels=[[3, 5], [4]])))
    labels = load_manifest(path).target_labels
    assert labels.dtype == np.uint8 and labels[0].tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    assert torch.from_numpy(labels).sum() == 3
