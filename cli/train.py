"""`seqgen train`: fit a model to data and save it as a checkpoint folder."""

from __future__ import annotations

import math
import signal
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import click
from click.core import ParameterSource
from seqgen.cli.options import device_option, setting_option
from seqgen.cli.progress import ProgressBar

import seqgen
from seqgen.choices import DEFAULT_DATA, DEFAULT_DATA_BUDGET_S
from seqgen.config import cli_options, library_default
from seqgen.presets import PRESETS

PRESET_HELP = "\n".join(textwrap.fill(f"{p.name}: {p.description}; DATA: {p.data}. Sets {p.flags()}.", 100,
                                       initial_indent="  ", subsequent_indent="    ") for p in PRESETS.values())

def settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add a flag for every declared setting (model, domains, training: seqgen.config), in that order."""
    for option in reversed(cli_options()):
        command = setting_option(option)(command)
    return command


HELP = f"""Train a model on DATA: files, folders, glob patterns or built-in corpus names.

\b
Music files (.mid .midi .abc .xml .mxl .musicxml .krn) train a music model (metrical REMI tokens for
scores and MIDI on a beat grid, performance events for other MIDI; --codec chooses); other files are
read as UTF-8 text for a character model. Built-in corpora (see `seqgen datasets list`): folk, chorales
(music) and folk-abc (text). Parsed music is cached, so only the first run over a corpus parses it.
\b
With no DATA: a {library_default("cell").upper()} on the `{DEFAULT_DATA}` corpus (folk tunes as metrical tokens) for
{DEFAULT_DATA_BUDGET_S:.0f} s of training; then `seqgen sample --midi tune.mid` writes a new tune.
\b
Examples:
  seqgen train chorales --max-time 600 --transpose 3
  seqgen train midi_folder/ --max-files 200 --out checkpoints/piano
  seqgen train input.txt --cell gru --layers 2 --hidden 256 --max-time 600
  seqgen train --resume checkpoints/piano --max-time 1200
  seqgen train my_tunes/ --from folk --max-time 120
  seqgen train my_letters.txt --from checkpoints/shakespeare --max-time 300
  seqgen train data/tinyshakespeare --preset shakespeare-cpu
  seqgen train input.txt --nproc 2 --max-time 600
  torchrun --standalone --nproc_per_node=4 -m seqgen train input.txt --max-time 600
\b
Presets (--preset NAME; options given on the command line override the preset's):
{PRESET_HELP}

Prints the checkpoint folder and the final validation loss in nats per token; the folder also gets curve.png
(losses against time and steps; `seqgen plot` redraws it).
"""


@click.command(help=HELP)
@click.argument("data", nargs=-1)
@click.option("-o", "--out", type=click.Path(), help="Checkpoint folder. Default: checkpoints/<data>-<cell>[-N].")
@click.option("--resume", type=click.Path(), help="Continue the checkpoint in this folder from its saved step.")
@click.option("--from", "start_from", metavar="CKPT",
              help="Fine-tune: start a new run from this checkpoint's weights, architecture and codec (a text "
                   "model's vocabulary grows by DATA's new characters); training options resolve as usual.")
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint in --out.")
@click.option("--preset", type=click.Choice(list(PRESETS)),
              help="Start from a named preset's settings (listed above); a budget given replaces the preset's.")
@click.option("--sentences", is_flag=True,
              help="Text: treat every line as a sentence wrapped in <bos>/<eos>, so `score` rates whole sentences.")
@click.option("--max-files", type=click.IntRange(min=1),
              help="Use a fixed random subset of this many files of each corpus or file list (quick runs).")
@click.option("--val", multiple=True, metavar="DATA",
              help="Validate on this data (files, folders, globs or corpus names; repeat for more) instead of the "
                   "tail of the training data; the checkpoint records it.")
@settings
@device_option
@click.option("--nproc", type=click.IntRange(min=1),
              help="Train as N processes on this machine (N GPUs, or CPU cores shared out), started by torchrun's "
                   "launcher; --batch-size is the global batch. Several machines: see README, Scaling up.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train(data: tuple[str, ...], out: str | None, resume: str | None, start_from: str | None, overwrite: bool,
          preset: str | None,
          sentences: bool, max_files: int | None, val: tuple[str, ...], device: str, nproc: int | None, quiet: bool,
          **options: object) -> None:
    """Parse options, run seqgen.train with a progress bar, print where the checkpoint went."""
    from seqgen import distributed  # torch: imported here so that `seqgen train --help` starts at once

    if nproc is not None and nproc > 1:
        sys.exit(distributed.launch(nproc, _given_args(click.get_current_context())))
    main = distributed.is_main()  # under torchrun only rank 0 draws progress and prints the summary
    bar = ProgressBar(enabled=not quiet and main)
    try:
        result = seqgen.train(list(data) or None, out, resume=resume, start_from=start_from, progress=bar,
                              device=device,
                              boundaries=sentences, overwrite=overwrite, max_files=max_files, preset=preset,
                              val=list(val) or None, **options)
    except BaseException:
        bar.close(failed=True)
        raise
    bar.close()
    if not main:
        sys.exit(128 + result.stop_signal if result.stop_signal is not None else 0)
    click.echo(f"checkpoint: {result.folder}")
    if result.final_val_loss is not None:
        click.echo(f"validation loss: {result.final_val_loss:.4f} nats/token "
                   f"({result.final_val_loss / math.log(2):.4f} bits/token), "
                   f"best {result.best_val_loss:.4f} (weights kept), step {result.saved_step}")
    elif result.final_train_loss is not None:
        click.echo(f"no validation data (--val-fraction 0); final training loss "
                   f"{result.final_train_loss:.4f} nats/token, step {result.saved_step}")
    if result.stop_signal is not None:
        click.echo(f"seqgen: stopped by {signal.Signals(result.stop_signal).name} at step {result.steps}; the "
                   f"checkpoint holds step {result.saved_step}; continue with: seqgen train --resume {result.folder}",
                   err=True)
        sys.exit(128 + result.stop_signal)


def _given_args(ctx: click.Context) -> list[str]:
    """The options and DATA given on this command line except --nproc: what each launched process is told."""
    args: list[str] = []
    data: list[str] = []
    for param in ctx.command.params:
        value = ctx.params[param.name]
        if param.name == "nproc" or ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        if isinstance(param, click.Argument):
            data = list(value)
        elif isinstance(param, click.Option) and param.is_flag:
            args.append(param.opts[-1] if value or not param.secondary_opts else param.secondary_opts[-1])
        elif isinstance(param, click.Option) and param.multiple:
            args += [item for v in value for item in (param.opts[-1], str(v))]
        else:
            args += [param.opts[-1], str(value)]
    return [*args, "--", *data] if data else args
