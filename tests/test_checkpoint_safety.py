"""Checkpoints are plain state_dicts checked by SHA-256: a pickle that would run code is refused
without running it, and weights that do not match their metadata are refused."""

import hashlib
import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from hashattack.training.checkpoints import load_checkpoint, metadata_path, save_checkpoint
from hashattack.errors import InputError
from hashattack.models import create_model


class WritesMarker:
    """Unpickling this object calls exec(), which creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def write_metadata_for(weights: Path) -> None:
    """Metadata that a careful attacker would ship: the right model config and the right SHA-256."""
    model = create_model("small-cnn", 16)
    record = {"format": "hashattack-checkpoint/1", "model": model.config(),
              "sha256": hashlib.sha256(weights.read_bytes()).hexdigest()}
    metadata_path(weights).write_text(json.dumps(record))


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle"])
def test_a_pickle_that_runs_code_is_refused_and_runs_nothing(tmp_path, container):
    marker = tmp_path / "marker"
    weights = tmp_path / "evil.pt"
    payload = {"hash_layer.weight": WritesMarker(marker)}
    if container == "torch-zip":
        torch.save(payload, weights)
        assert zipfile.is_zipfile(weights)
    else:
        weights.write_bytes(pickle.dumps(payload, protocol=2))
    write_metadata_for(weights)

    with pytest.raises(InputError, match=r"is not a plain state_dict \(UnpicklingError\); refusing to load it"):
        load_checkpoint(weights)
    assert not marker.exists()

    # the file is really dangerous: unpickling it the unsafe way does run the code
    if container == "torch-zip":
        torch.load(weights, weights_only=False)
    else:
        pickle.loads(weights.read_bytes())
    assert marker.read_text() == "code ran"


def test_weights_that_do_not_match_their_hash_are_refused(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16), {"dataset": "fashion-mnist"})
    model, meta = load_checkpoint(path)                       # the intact checkpoint loads
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

    other = io.BytesIO()                                      # other valid weights, same keys and shapes
    torch.save({k: torch.zeros_like(v) for k, v in model.state_dict().items()}, other)
    path.write_bytes(other.getvalue())
    with pytest.raises(InputError, match=r"model.pt: SHA-256 [0-9a-f]{12}… does not match its metadata"):
        load_checkpoint(path)


def test_metadata_problems_are_one_line_errors(tmp_path):
    path = save_checkpoint(tmp_path / "model.pt", create_model("small-cnn", 16))
    metadata_path(path).write_text("{broken")
    with pytest.raises(InputError, match=r"model.pt.json: malformed checkpoint metadata"):
        load_checkpoint(path)
    metadata_path(path).unlink()
    with pytest.raises(InputError, match=r"has no metadata file model.pt.json beside it"):
        load_checkpoint(path)
    with pytest.raises(InputError, match=r"checkpoint .*nothing.pt does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")
