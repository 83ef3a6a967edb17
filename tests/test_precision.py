"""bf16 only where the device computes it natively: the "auto" setting of every bf16 switch."""

import pytest
import torch

from ganatomy.errors import OptionsError
from ganatomy.train.options import TrainOptions, resolve_options
from ganatomy.utils.precision import native_bf16, resolve_precision, use_bf16


@pytest.fixture(params=[True, False], ids=["native", "emulated"])
def cpu_bf16(request, monkeypatch):
    """A CPU that has (or lacks) avx512_bf16."""
    capabilities = {"avx512_bf16": request.param, "amx_bf16": False}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    return request.param


def test_auto_follows_the_cpu(cpu_bf16):
    assert native_bf16("cpu") is cpu_bf16
    assert use_bf16("auto") is cpu_bf16 and use_bf16(None) is cpu_bf16
    assert use_bf16(True) is True and use_bf16(False) is False  # explicit settings win
    assert resolve_precision("auto") == ("bf16" if cpu_bf16 else "fp32")
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"


def test_training_resolves_auto_once_into_its_options(cpu_bf16):
    resolved = resolve_options(TrainOptions(), resolution=32, on_gpu=False)
    assert resolved.precision == ("bf16" if cpu_bf16 else "fp32")
    # options.json holds the resolved value, so a resume keeps the precision it started with.
    assert resolve_options(resolved, resolution=32, on_gpu=False).precision == resolved.precision
    assert resolve_options(TrainOptions(precision="bf16"), 32, on_gpu=False).precision == "bf16"


def test_a_bad_setting_is_refused():
    with pytest.raises(OptionsError, match="bf16 must be"):
        use_bf16("yes")


def test_a_dry_run_shows_the_resolved_precision_and_warns_about_emulated_bf16(cpu_bf16):
    import json
    import warnings

    from typer.testing import CliRunner

    from ganatomy.cli import app

    result = CliRunner().invoke(app, ["train", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["precision"] == ("bf16" if cpu_bf16 else "fp32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(app, ["train", "--dry-run", "--precision", "bf16"])
    assert result.exit_code == 0, result.output
    emulated = [w for w in caught if "emulation" in str(w.message)]
    assert len(emulated) == (0 if cpu_bf16 else 1)
