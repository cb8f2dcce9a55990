"""The paper's protocol: what a run is (spec), targets and manifests, the engine, run folders, torchrun."""

from hashattack.protocol.engine import run
from hashattack.protocol.settings import AttackSettings, conventions
from hashattack.protocol.spec import DataSpec, ModelSpec, RunControls, RunSpec
from hashattack.protocol.targets import Manifest, choose_targets, load_manifest

__all__ = ["run", "AttackSettings", "conventions", "DataSpec", "ModelSpec", "RunSpec", "RunControls", "Manifest", "choose_targets",
           "load_manifest"]
