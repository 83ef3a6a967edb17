"""What a person sees of a training run: one log line per tick, reals.png, a closing summary, Ctrl-C."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

import ganatomy.train.run as run_module
from ganatomy.train.log import LOG_FILE, tick_line
from ganatomy.train.run import REALS_FILE, run_training
from test_train_seams import TINY_SG2, _opts

pytestmark = pytest.mark.usefixtures("one_thread")


def test_log_lines_reals_and_summary(tmp_path, capsys):
    out = io.StringIO()
    run = run_training(_opts(TINY_SG2, outdir=str(tmp_path), progress=False), console=Console(file=out, width=80))
    lines = (run / LOG_FILE).read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("tick 1") and "loss_G" in lines[1] and "mem" in lines[1]
    assert capsys.readouterr().out.splitlines() == lines  # --no-progress: the same lines on stdout
    assert (run / REALS_FILE).is_file()
    summary = out.getvalue()
    assert "finished at 0.032 kimg" in summary and f"ganatomy train --resume {run} --kimg 0.064" in summary


def test_ctrl_c_says_how_to_resume(tmp_path, monkeypatch):
    def interrupted(prepared, run_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_prepared", interrupted)
    out = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_training(_opts(TINY_SG2, outdir=str(tmp_path)), console=Console(file=out, width=80))
    assert "interrupted" in out.getvalue() and "ganatomy train --resume" in out.getvalue()


def test_tick_line_reads_like_nvidias_log():
    line = tick_line(3, 12.0, 75.0, 20.0, 4.0, {"loss/G": 2.5, "loss/D": 0.75, "augment/p": 0.125})
    assert line.startswith("tick 3") and "kimg 12.0" in line and "time 1m15s" in line and "sec/kimg 5.00" in line
    assert "loss_G 2.5" in line and "aug_p 0.125" in line
