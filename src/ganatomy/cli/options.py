"""CLI flags tied to the options dataclasses, so that each default is declared once."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import typer


def default_of(cls: type, dotted: str) -> Any:
    """The default of option ``dotted`` (e.g. ``"loss.r1_gamma"``) in dataclass ``cls``."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        field = {f.name: f for f in dataclasses.fields(cls)}[part]
        cls = field.default_factory  # nested options are dataclass factories
    field = {f.name: f for f in dataclasses.fields(cls)}[leaf]
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def explicit_flags(ctx: Any, names: Iterable[str]) -> list[str]:
    """The parameters among ``names`` that the user gave on the command line (or environment).

    Compared by name: typer ships its own copy of click, whose enum is not click's.
    """
    given = ("COMMANDLINE", "ENVIRONMENT")
    return [n for n in names if getattr(ctx.get_parameter_source(n), "name", None) in given]


def check_flag_keys(cls: type, flag_keys: Mapping[str, str]) -> None:
    """Raise if a flag maps to no option of ``cls`` (run by the tests for every command)."""
    for flag, dotted in flag_keys.items():
        try:
            default_of(cls, dotted)
        except KeyError:
            raise AssertionError(f"flag {flag} maps to {dotted}, which {cls.__name__} does not have") from None


def set_threads(threads: int | None) -> None:
    """``--threads N``: torch's intra-op threads for this command (None leaves torch's default)."""
    if threads is None:
        return
    if threads < 1:
        from ganatomy.errors import OptionsError

        raise OptionsError(f"--threads must be >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def resolved_command(ctx: Any) -> str:
    """The command with every option resolved (defaults included), recorded in the checkpoint.

    Built from the parsed parameters rather than ``sys.argv``, so it is right however the command
    was invoked and it re-creates the checkpoint even if a default changes later.
    """
    words = ["ganatomy", *ctx.command_path.split()[1:]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        flag = "--" + param.name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words)


DEVICE_HELP = "auto (a GPU when there is one), cpu, cuda or cuda:N."
# ``--device`` of every command that runs a network: one declaration, resolved by ``resolve_device``.
DEVICE_OPTION = typer.Option("auto", help=DEVICE_HELP)


def resolve_device(text: str) -> str:
    """``--device``: 'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda' without one is a one-line error."""
    import torch

    from ganatomy.errors import OptionsError

    text = str(text).strip().lower()
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return "cpu"
    if text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        if not torch.cuda.is_available():
            raise OptionsError(f"--device {text}: torch sees no GPU here (this torch: {torch.__version__}); use cpu")
        index = int(text[5:]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise OptionsError(f"--device {text}: there are {torch.cuda.device_count()} GPUs")
        return text
    raise OptionsError(f"--device {text!r}: use {DEVICE_HELP}")
