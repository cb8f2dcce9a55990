"""`hashattack audit` on a model defined outside the package, on image folders and list files."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image

from hashattack.models.user import AuditedModel, load_user_model
from hashattack.cli.main import build_parser, main
from hashattack.cli.config import load_config, parse_config_run
from hashattack.data.image_files import load_image_folder, load_list_file, split_queries
from hashattack.errors import InputError
from hashattack.training.checkpoints import sha256_of

USER_MODEL = textwrap.dedent('''
    """A hashing model a user wrote: RGB images in, tanh(K values) out; knows nothing of hashattack."""
    import torch
    from torch import nn

    class TinyHash(nn.Module):
        def __init__(self, bits=12):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())
            self.head = nn.Linear(96, bits)

        def forward(self, x):
            return torch.tanh(self.head(self.body(x)))

    def build(bits=12):
        return TinyHash(bits)
''')


@pytest.fixture
def user_model(tmp_path):
    folder = tmp_path / "usercode"
    folder.mkdir()
    (folder / "my_tiny_hash.py").write_text(USER_MODEL)
    torch.manual_seed(1)
    import importlib.util
    spec = importlib.util.spec_from_file_location("_tiny_for_weights", folder / "my_tiny_hash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    weights = tmp_path / "tiny.pt"
    torch.save(module.build(bits=12).state_dict(), weights)
    return folder, weights


def make_photos(root, classes=("cats", "dogs", "owls"), per_class=12, sizes=(18, 20, 22)):
    """Class-per-subfolder PNGs of different sizes, each class tinted by its own colour channel."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            s = sizes[i % len(sizes)]
            pixels = rng.integers(0, 90, (s, s, 3)).astype(np.uint8)
            pixels[..., c] += 150
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


def test_audit_end_to_end_on_a_model_from_a_user_file(tmp_path, user_model, capsys):
    code_dir, weights = user_model
    photos = make_photos(tmp_path / "photos")
    out = tmp_path / "audit"
    assert main(["audit", "--model", "my_tiny_hash:build", "--model-path", str(code_dir), "--model-arg", "bits=12",
                 "--weights", str(weights), "--output", "tanh", "--data", str(photos), "--size", "16",
                 "--query-split", "6", "--eps", "0.03", "0.2", "--steps", "3", "--n-t", "3", "--queries", "4",
                 "--topk", "20", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "sweep over eps: 2 runs on 4 queries" in printed and f"run folder: {out}" in printed
    assert "2 runs in sub-folders: eps-0.03, eps-0.2" in printed
    for eps in ("0.03", "0.2"):
        results = json.loads((out / f"eps-{eps}" / "results.json").read_text())
        assert results["bits"] == 12 and results["settings"]["eps"] == float(eps)
        assert set(results["methods"]) == {"Original", "Noise", "P2P", "DHTA"}
        assert results["model"]["source"] == "user model my_tiny_hash:build"
        assert results["methods"]["DHTA"]["perceptibility"]["linf_mean"] <= float(eps) + 1e-6
        assert (out / f"eps-{eps}" / "figures" / "retrieval.png").is_file()
    manifests = [(out / f"eps-{e}" / "manifest.json").read_bytes() for e in ("0.03", "0.2")]
    assert manifests[0] == manifests[1]  # every eps attacks the same queries and targets
    assert (out / "figures" / "tmap_vs_eps.png").is_file() and (out / "report.html").is_file()
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["axes"] == {"eps": [0.03, 0.2]} and sweep["runs"] == ["eps-0.03", "eps-0.2"]
    assert sweep["num_queries"] == 4 and (out / "manifest.json").read_bytes() == manifests[0]
    assert "ε = 0.03" in (out / "report.md").read_text()
    with pytest.raises(InputError, match="--allow-code"):   # it names the model factory: the command line must allow it
        load_config(out / "config.resolved.toml")
    resolved = parse_config_run(build_parser(), load_config(out / "config.resolved.toml", allow_code=True))
    assert resolved.model_arg == ["bits=12"] and resolved.eps == [0.03, 0.2] and resolved.output == "tanh"
    assert [str(p) for p in resolved.model_path] == [str(code_dir)]


def test_audit_on_list_files_whose_paths_are_relative_to_the_list(tmp_path, user_model):
    """--root is --data's alias: the list file itself; its paths are relative to the list's folder.
    One --eps: a plain run folder (no eps-<value> sub-run)."""
    code_dir, weights = user_model
    photos = make_photos(tmp_path / "photos", per_class=4)
    vectors = {"cats": "1 0 0", "dogs": "0 1 0", "owls": "0 0 1"}
    (photos / "database.txt").write_text("".join(f"{c}/{i:02d}.png {v}\n" for c, v in vectors.items() for i in range(3)))
    (photos / "queries.txt").write_text("".join(f"{c}/03.png {v}\n" for c, v in vectors.items()))
    out = tmp_path / "audit"
    assert main(["audit", "--model", "my_tiny_hash:build", "--model-path", str(code_dir), "--weights", str(weights),
                 "--root", str(photos / "database.txt"), "--query-data", str(photos / "queries.txt"), "--size", "16",
                 "--eps", "0.05", "--steps", "1", "--n-t", "2", "--queries", "3", "--topk", "9", "--no-figures",
                 "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["num_queries"] == 3 and results["bits"] == 12 and results["settings"]["eps"] == 0.05
    assert results["dataset"] == "images:database.txt" and not (out / "sweep.json").exists()


def test_audited_model_undoes_tanh_and_normalises():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Tanh())
    x = torch.rand(4, 3, 2, 2)
    raw, untanh = AuditedModel(net), AuditedModel(net, output="tanh")
    assert torch.equal(torch.sign(raw(x)), torch.sign(untanh(x)))
    assert torch.allclose(torch.tanh(untanh(x)), raw(x), atol=1e-5)
    normed = AuditedModel(net, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    assert torch.allclose(normed(x), net((x - 0.5) / 0.25)) and normed.std.shape == (1, 3, 1, 1)
    with pytest.raises(InputError, match=r"must return a \(batch, K\) tensor"):
        AuditedModel(torch.nn.Identity())(x)
    with pytest.raises(InputError, match="give both mean and std"):
        AuditedModel(net, mean=[0.5])


@pytest.mark.parametrize("spec, message", [
    ("no_colon", "must look like package.module:factory"),
    ("not_a_module_xyz:build", "cannot import 'not_a_module_xyz'"),
    ("my_tiny_hash:missing", "has no 'missing'"),
])
def test_bad_model_specs(user_model, spec, message):
    with pytest.raises(InputError, match=message):
        load_user_model(spec, search_paths=[user_model[0]])


def test_weights_that_do_not_fit_or_are_not_a_state_dict(tmp_path, user_model):
    code_dir, weights = user_model
    with pytest.raises(InputError, match="does not fit the model"):
        load_user_model("my_tiny_hash:build", weights, {"bits": 8}, [code_dir])
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled module, not a state_dict
    with pytest.raises(InputError, match="not a plain state_dict"):
        load_user_model("my_tiny_hash:build", pickled, {}, [code_dir])


def test_image_folder_and_list_file(tmp_path):
    photos = make_photos(tmp_path / "photos", per_class=3)
    data, classes = load_image_folder(photos, size=8, channels=1)
    assert classes == ["cats", "dogs", "owls"] and data.images.shape == (9, 1, 8, 8)
    assert data.labels.sum(0).tolist() == [3, 3, 3]
    with pytest.raises(InputError, match="differs from .*give a size"):
        load_image_folder(photos)
    database, query = split_queries(data, 2, seed=0)
    assert len(database) == 7 and len(query) == 2
    lines = "cats/00.png 1 0 0\ndogs/00.png 0 1 1\n\n# a comment\nowls/00.png 0 0 1\n"
    (photos / "list.txt").write_text(lines)
    listed = load_list_file(photos / "list.txt", size=8)
    assert listed.labels.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]] and listed.images.shape == (3, 3, 8, 8)


@pytest.mark.parametrize("line, message", [
    ("cats/00.png 1 0", "line 2: 2 labels, but the first line has 3"),
    ("cats/00.png 0 0 0", "line 2: the label vector is all zeros"),
    ("cats/99.png 1 0 0", "line 2: image .*cats/99.png does not exist"),
    ("cats/00.png 1 2 0", "line 2: labels must be 0 or 1"),
])
def test_list_file_errors_name_the_line(tmp_path, line, message):
    photos = make_photos(tmp_path / "photos", per_class=1)
    (photos / "list.txt").write_text(f"dogs/00.png 0 1 0\n{line}\n")
    with pytest.raises(InputError, match=message):
        load_list_file(photos / "list.txt", size=8)


def test_unreadable_image_is_named(tmp_path):
    photos = make_photos(tmp_path / "photos", per_class=1)
    (photos / "cats" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png: cannot read the image"):
        load_image_folder(photos, size=8)


def test_audit_attacks_a_checkpoint_written_by_train(tmp_path, fake_fmnist, capsys):
    checkpoint, out = tmp_path / "X.pt", tmp_path / "RUN"
    assert main(["train", "--data", str(fake_fmnist), "--train-per-class", "5", "--epochs", "1", "--bits", "16",
                 "--out", str(checkpoint), "--quiet"]) == 0
    sha256 = sha256_of(checkpoint)
    assert main(["audit", "--checkpoint", str(checkpoint), "--dataset", "fashion-mnist", "--data", str(fake_fmnist),
                 "--train-per-class", "5", "--eps", "0.1", "0.2", "--steps", "2", "--queries", "4",
                 "--out", str(out), "--quiet"]) == 0
    assert "sweep over eps: 2 runs on 4 queries" in capsys.readouterr().out
    for eps in ("0.1", "0.2"):
        results = json.loads((out / f"eps-{eps}" / "results.json").read_text())
        assert results["model"]["source"] == "checkpoint" and results["model"]["path"] == str(checkpoint)
        assert results["model"]["sha256"] == sha256 and results["bits"] == 16
        assert results["architecture"] == "small-cnn" and results["settings"]["eps"] == float(eps)
        assert results["dataset"] == "fashion-mnist" and results["num_queries"] == 4
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["runs"] == ["eps-0.1", "eps-0.2"] and (out / "report.html").is_file()


def test_audit_needs_a_model(tmp_path, fake_fmnist, capsys):
    out = tmp_path / "RUN"
    assert main(["audit", "--dataset", "fashion-mnist", "--data", str(fake_fmnist), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == ("hashattack: error: audit attacks your model: give --model MODULE:FACTORY (with --weights) "
                   "or --checkpoint FILE\n")
    assert not out.exists()
