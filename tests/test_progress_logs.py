"""Progress output: a bar on a terminal only; in a log, one plain line per finished batch."""

import torch

from hashattack.attacks import DHTA
from hashattack.models import create_model
from hashattack.protocol.attacking import attacked_batches


def test_log_gets_one_line_per_batch_and_no_carriage_returns(capsys):
    torch.manual_seed(0)
    model = create_model("small-cnn", 8, feature_dim=16)
    images = torch.rand(5, 1, 28, 28)
    anchors = torch.where(torch.randn(5, 8) > 0, 1.0, -1.0)
    attack = DHTA(model, eps=0.1, steps=3)
    attack.progress = True                    # the step bar too: it must stay off when stderr is no TTY
    records, _ = attacked_batches("DHTA", attack, model, images, anchors, list(range(5)), batch_size=2,
                                  progress=True)
    err = capsys.readouterr().err             # capsys: stderr is not a terminal
    assert len(records) == 3
    assert "\r" not in err and "\x1b" not in err
    lines = err.splitlines()
    assert lines == [line for line in lines if line.startswith("DHTA: batch ")] and len(lines) == 3
    assert lines[0].startswith("DHTA: batch 1/3 done (queries 0..1, ")
    assert lines[2].startswith("DHTA: batch 3/3 done (queries 4..4, ")


def test_no_progress_means_silence(capsys):
    model = create_model("small-cnn", 8, feature_dim=16)
    images = torch.rand(2, 1, 28, 28)
    anchors = torch.ones(2, 8)
    attacked_batches("P2P", DHTA(model, eps=0.1, steps=2), model, images, anchors, [0, 1], batch_size=1,
                     progress=False)
    assert capsys.readouterr().err == ""
