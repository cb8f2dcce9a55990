"""The paper's protocol: what a run is (spec), targets and manifests, the engine, run folders, torchrun."""

from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings, conventions
from hashattack.protocol.spec import CheckpointModel, DataSpec, FactoryModel, RunControls, RunSpec, TrainedModel
from hashattack.protocol.targets import Manifest, choose_targets, load_manifest

__all__ = ["run", "AttackSettings", "conventions", "DataSpec", "TrainedModel", "CheckpointModel", "FactoryModel",
           "RunSpec", "RunControls", "Manifest", "choose_targets",
           "load_manifest"]
