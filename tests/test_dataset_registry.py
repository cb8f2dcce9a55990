"""The dataset registry and defaults resolved once, in the library: a spec built in Python and the same run
given on the command line resolve to the same settings and the same run fingerprint, for every dataset."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict

import pytest
import torch

from hashattack.cli.main import build_parser
from hashattack.cli.options import spec_from_args
from hashattack.data.base import LabeledSet, RetrievalDataset, one_hot
from hashattack.data.registry import PAPER_EPS, PIXEL_EPS, available_datasets, dataset_entry
from hashattack.errors import InputError
from hashattack.models import available_models
from hashattack.protocol.fingerprint import run_fingerprint
from hashattack.protocol.settings import DATASET_DEPENDENT, AttackSettings
from hashattack.protocol.sources import with_defaults
from hashattack.protocol.spec import DataSpec, RunControls, RunSpec
from hashattack.protocol.targets import choose_targets
from hashattack.protocol.transfer_spec import TransferSpec

ROOT = "/nonexistent/data"     # never opened: the specs are compared, not run


def needs_root(name: str) -> bool:
    """Whether the dataset's spec is refused without a folder (so a newly registered dataset needs no edit here)."""
    try:
        DataSpec(dataset=name)
    except InputError:
        return True
    return False


def python_spec(name: str) -> RunSpec:
    return RunSpec(data=DataSpec(dataset=name, **({"root": ROOT} if needs_root(name) else {})))


def cli_spec(name: str, *options: str) -> RunSpec:
    command = "video" if dataset_entry(name).video else "demo"
    root = ["--data", ROOT] if needs_root(name) else []
    return spec_from_args(build_parser().parse_args([command, "--dataset", name, *root, *options]))


def tiny_dataset() -> RetrievalDataset:
    """Ten objects of two classes: enough to draw a manifest and take a dataset fingerprint."""
    images, labels = torch.zeros(10, 1, 4, 4), one_hot(torch.tensor([0, 1] * 5), 2)
    objects = LabeledSet(images, labels, torch.arange(10))
    return RetrievalDataset("tiny", objects, objects, objects, ["a", "b"], {})


def fingerprint(spec: RunSpec) -> dict:
    """run.json's fingerprint of `spec` (resolved) on a stand-in dataset: every input that depends on the spec."""
    dataset = tiny_dataset()
    manifest = choose_targets(dataset.query.labels.numpy(), dataset.database.labels.numpy(), 2, n_ts=(1, 3), seed=0)
    identity = with_defaults(spec.model, spec.data).identity({}, 32)
    return run_fingerprint(dataset, manifest, identity, asdict(spec.attack), spec.methods, spec.controls.device,
                           spec.controls.export)


@pytest.mark.parametrize("name", available_datasets())
def test_python_and_the_command_line_run_the_same_experiment_on_every_dataset(name):
    library, command = python_spec(name).resolved(), cli_spec(name).resolved()
    assert library.attack == command.attack
    assert all(getattr(library.attack, field) is not None for field in DATASET_DEPENDENT)
    assert library.to_json() == command.to_json()            # what results.json records
    assert fingerprint(library) == fingerprint(command)      # what run.json records


@pytest.mark.parametrize("name", available_datasets())
def test_given_settings_win_alike_and_an_eps_space_brings_its_own_eps(name):
    other = "pixel" if dataset_entry(name).eps_space == "normalized" else "normalized"
    library = RunSpec(data=python_spec(name).data, attack=AttackSettings(eps_space=other, steps=100, topk=7))
    command = cli_spec(name, "--eps-space", other, "--steps", "100", "--topk", "7")
    assert library.resolved().attack == command.resolved().attack
    resolved = library.resolved().attack
    assert resolved.eps == {"pixel": PIXEL_EPS, "normalized": PAPER_EPS}[other] and resolved.topk == 7
    assert resolved.step_size == (1.0 if dataset_entry(name).step_size else 2000 / 100)
    assert fingerprint(library.resolved()) == fingerprint(command.resolved())


def test_the_issue_table_now_agrees():
    """nus-wide and moving-fashion: the values that differed between Python and the command line."""
    rows = {name: (python_spec(name).resolved().attack, cli_spec(name).resolved().attack)
            for name in ("nus-wide", "moving-fashion")}
    for library, command in rows.values():
        assert library == command
    nus, clips = rows["nus-wide"][0], rows["moving-fashion"][0]
    assert (nus.eps, nus.eps_space, nus.topk, nus.zero_relevance) == (0.032, "normalized", 5000, "drop")
    assert (clips.eps, clips.steps, clips.step_size) == (0.1, 200, 10.0)


def test_resolution_is_done_once_and_sweeps_keep_the_base_step_size():
    spec = RunSpec(data=DataSpec(dataset="moving-fashion"), attack=AttackSettings(steps=100),
                   axes=(("steps", (100, 400)),))
    resolved = spec.resolved()
    assert resolved.resolved() == resolved
    assert [p.spec.attack.step_size for p in resolved.points()] == [20.0, 20.0]   # as the command line's sweep
    cli = spec_from_args(build_parser().parse_args(["video", "--steps", "100", "400"])).resolved()
    assert [p.spec.attack for p in cli.points()] == [p.spec.attack for p in resolved.points()]


def test_every_entry_is_complete():
    for name in available_datasets():
        entry = dataset_entry(name)
        assert entry.name == name and entry.architecture in available_models() and entry.summary.startswith(name)
        assert entry.zero_relevance in ("zero", "drop") and entry.eps_space in ("pixel", "normalized")
        assert set(entry.options) <= {f.name for f in dataclasses.fields(DataSpec)}
        assert DataSpec(dataset=name, root=ROOT).is_video == entry.video


def test_options_of_another_dataset_and_unknown_names_are_refused_in_one_line():
    with pytest.raises(InputError, match="^train_list applies to imagenet100, nus-wide, not fashion-mnist$"):
        DataSpec(dataset="fashion-mnist", train_list="train.txt")
    with pytest.raises(InputError, match="^frames applies to moving-fashion, not nus-wide$"):
        DataSpec(dataset="nus-wide", frames=8)
    with pytest.raises(InputError, match="^unknown dataset 'cifar': choose from fashion-mnist, "):
        DataSpec(dataset="cifar")
    with pytest.raises(InputError, match="needs a folder or list file of images"):
        DataSpec(dataset="images")
    assert main_error(["demo", "--train-per-class", "5", "--dataset", "mosaic-fashion"]) == \
        "train_per_class applies to fashion-mnist, not mosaic-fashion"


def main_error(argv: list[str]) -> str:
    with pytest.raises(InputError) as error:
        spec_from_args(build_parser().parse_args(argv))
    return str(error.value)


def test_unresolved_settings_refuse_to_build_an_attack():
    with pytest.raises(InputError, match="^attack settings eps, eps_space, steps, step_size, topk, zero_relevance "
                                         "are unset: resolve them"):
        AttackSettings().attack_options()
    assert AttackSettings().resolved(DataSpec()).attack_options()["eps"] == 0.2


def test_specs_are_keyword_only_and_keep_run_controls_apart():
    with pytest.raises(TypeError):
        DataSpec("fashion-mnist")
    with pytest.raises(TypeError):
        AttackSettings(0.1)
    spec = RunSpec(controls=RunControls(out="runs/x", device="cpu", progress=False, force=True, figures=False))
    assert spec.controls.out == "runs/x" and "controls" not in spec.to_json() and "axes" not in spec.to_json()
    assert list(spec.to_json()) == ["data", "model", "methods", "attack", "queries", "seed", "manifest",
                                    "database_codes", "database_labels", "target_protocol", "index"]
    shared = {f.name for f in dataclasses.fields(TransferSpec)} & {f.name for f in dataclasses.fields(RunSpec)}
    assert shared == {"data", "attack", "queries", "seed", "manifest", "controls"}
    assert TransferSpec(victims=(spec.model,), surrogates=((spec.model,),)).controls.out == "runs/transfer"
