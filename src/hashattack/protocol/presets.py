"""The paper's experiments as data: TOML run configs shipped with the package (`presets/*.toml`).

`hashattack experiment NAME` runs the preset NAME exactly as `hashattack run configs/NAME.toml`
runs the same file from the repository's configs/ folder (a test holds the two copies equal).
"""

from __future__ import annotations

from pathlib import Path

from hashattack.errors import InputError

FOLDER = Path(__file__).with_name("presets")


def preset_names() -> list[str]:
    """The shipped presets, by name."""
    return sorted(path.stem for path in FOLDER.glob("*.toml"))


def preset_path(name: str) -> Path:
    """The TOML file of preset `name`."""
    if name not in preset_names():
        raise InputError(f"unknown preset {name!r}: choose from {', '.join(preset_names())}")
    return FOLDER / f"{name}.toml"


__all__ = ["preset_names", "preset_path"]
