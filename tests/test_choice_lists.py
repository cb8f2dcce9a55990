"""Each choice list has one home; the CLI's choices and the library's refusals are built from it."""

from __future__ import annotations

import pytest

from hashattack.attacks.dhta import PRECISIONS
from hashattack.cli.main import build_parser
from hashattack.cli.parsing import subcommand_parser
from hashattack.data.image_files import CHANNELS
from hashattack.errors import InputError
from hashattack.models.user import OUTPUTS
from hashattack.protocol.settings import AttackSettings
from hashattack.protocol.targets import TARGET_PROTOCOLS
from hashattack.retrieval.metrics import OTHER_CONVENTION, ZERO_RELEVANCE
from hashattack.training.adversarial import ADVERSARIAL_METHODS, AdversarialTraining
from hashattack.validation import EPS_SPACES, check_choice, choices_text


def test_a_choice_is_refused_with_the_list_it_belongs_to():
    assert check_choice("pixel", EPS_SPACES, "eps space") == "pixel"
    assert choices_text(("a",)) == "'a'" and choices_text(("a", "b", "c")) == "'a', 'b' or 'c'"
    with pytest.raises(InputError, match=r"^unknown eps space 'l2': choose 'pixel' or 'normalized'$"):
        check_choice("l2", EPS_SPACES, "eps space")
    assert OTHER_CONVENTION == {"zero": "drop", "drop": "zero"}


@pytest.mark.parametrize("field, value, words", [
    ("eps_space", "pixels", "unknown eps space 'pixels': choose 'pixel' or 'normalized'"),
    ("zero_relevance", "none", "unknown zero-relevance convention 'none': choose 'zero' or 'drop'"),
    ("precision", "fp16", "unknown precision 'fp16': choose 'fp32' or 'bf16'"),
])
def test_the_settings_refuse_by_the_lists(field, value, words):
    with pytest.raises(InputError, match=words):
        AttackSettings(**{field: value})
    with pytest.raises(InputError, match="unknown eps space"):
        AdversarialTraining(eps_space="l2")


def test_the_cli_offers_the_library_lists():
    parser = subcommand_parser(build_parser(), "demo")
    choices = {action.dest: action.choices for action in parser._actions if action.choices is not None}
    assert choices["eps_space"] is EPS_SPACES and choices["adv_eps_space"] is EPS_SPACES
    assert choices["zero_relevance"] is ZERO_RELEVANCE and choices["precision"] is PRECISIONS
    assert choices["output"] is OUTPUTS and choices["channels"] is CHANNELS
    assert choices["target_protocol"] is TARGET_PROTOCOLS and choices["adversarial"] is ADVERSARIAL_METHODS
