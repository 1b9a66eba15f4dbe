"""`seqgen train`: fit a model to data and save it as a checkpoint folder."""

from __future__ import annotations

import math
import signal
import sys
import textwrap

import click
from click.core import ParameterSource
from seqgen.cli.options import SEED, device_option
from seqgen.cli.progress import ProgressBar

import seqgen
from seqgen.choices import CELLS, DEFAULT_DATA, DEFAULT_DATA_BUDGET_S, MODEL_DEFAULTS, PRECISIONS
from seqgen.presets import PRESETS

PRESET_HELP = "\n".join(textwrap.fill(f"{p.name}: {p.description}; DATA: {p.data}. Sets {p.flags()}.", 100,
                                       initial_indent="  ", subsequent_indent="    ") for p in PRESETS.values())

HELP = f"""Train a model on DATA: files, folders, glob patterns or built-in corpus names.

\b
Music files (.mid .midi .abc .xml .mxl .musicxml .krn) train a note-event model; other files are read
as UTF-8 text for a character model. Built-in corpora (see `seqgen datasets list`): folk, chorales
(music) and folk-abc (text). Parsed music is cached, so only the first run over a corpus parses it.
\b
With no DATA: a {MODEL_DEFAULTS['cell'].upper()} on the `{DEFAULT_DATA}` corpus (folk tunes as note events) for
{DEFAULT_DATA_BUDGET_S:.0f} s of training; then `seqgen sample --midi tune.mid` writes a new tune.
\b
Examples:
  seqgen train chorales --max-time 600 --transpose 3
  seqgen train midi_folder/ --max-files 200 --out checkpoints/piano
  seqgen train input.txt --cell gru --layers 2 --hidden 256 --max-time 600
  seqgen train --resume checkpoints/piano --max-time 1200
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
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint in --out.")
@click.option("--preset", type=click.Choice(list(PRESETS)),
              help="Start from a named preset's settings (listed above); a budget given replaces the preset's.")
@click.option("--cell", type=click.Choice(CELLS), help="Recurrent cell.  [default: gru]")
@click.option("--layers", type=click.IntRange(min=1), help="Stacked recurrent layers.  [default: 2]")
@click.option("--hidden", type=click.IntRange(min=1), help="Hidden units per layer.  [default: 256]")
@click.option("--embed", type=click.IntRange(min=0), help="Embedding size; 0 feeds one-hot vectors.  [default: 64]")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), help="Dropout between layers.  [default: 0]")
@click.option("--tie-weights/--no-tie-weights", default=None, help="Share the embedding with the output layer.")
@click.option("--sentences", is_flag=True,
              help="Text: treat every line as a sentence wrapped in <bos>/<eos>, so `score` rates whole sentences.")
@click.option("--max-files", type=click.IntRange(min=1),
              help="Use a fixed random subset of this many files of each corpus or file list (quick runs).")
@click.option("--transpose", type=click.IntRange(0, 24),
              help="Music: move each training piece by a random interval in [-N, N] semitones, anew every "
                   "epoch (augmentation).  [default: 0]")
@click.option("--step-ms", type=click.FloatRange(min=0, min_open=True),
              help="Music: time resolution of the event codec in milliseconds.  [default: 10]")
@click.option("--velocity-bins", type=click.IntRange(1, 127), help="Music: loudness levels.  [default: 32]")
@click.option("--drums", is_flag=True, default=None, help="Music: keep drum tracks (left out by default).")
@click.option("--rate", type=click.IntRange(min=1),
              help="Waveforms: the model's sample rate; recordings are resampled to it.  "
                   "[default: audio min(native, 16000), signals native]")
@click.option("--bits", type=click.IntRange(2, 16), help="Waveforms: mu-law levels are 2**bits.  [default: 8]")
@click.option("--sample-rate", type=click.FloatRange(min=0, min_open=True),
              help="Waveforms: the rate of files that do not say theirs (.npy, CSV without a time column).")
@click.option("--channel", help="Waveforms: channel index, or a WFDB signal name (e.g. MLII). Audio default: "
                                "mono mix-down; signals: the first channel.")
@click.option("--column", help="Waveforms: CSV column name or 0-based index.  [default: the first non-time column]")
@click.option("--gaps", type=click.Choice(["interpolate", "skip", "error"]),
              help="Waveforms: what to do with NaN/inf stretches (flat lines are reported).  [default: interpolate]")
@click.option("-b", "--batch-size", type=click.IntRange(min=1), help="Parallel streams per step.  [default: 64]")
@click.option("-t", "--seq-len", type=click.IntRange(min=1), help="BPTT window in tokens.  [default: 128]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Peak learning rate.  [default: 0.002]")
@click.option("--lr-schedule", type=click.Choice(["cosine", "constant"]),
              help="After warmup: cosine decay to lr/10 over the budget, or constant.  [default: cosine]")
@click.option("--warmup", "warmup_steps", type=click.IntRange(min=0), help="Linear warmup steps.  [default: 50]")
@click.option("--weight-decay", type=click.FloatRange(min=0), help="AdamW weight decay.  [default: 0.01]")
@click.option("--clip", type=click.FloatRange(min=0, min_open=True),
              help="Clip the global gradient norm to this.  [default: 1.0]")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True),
              help="Budget in passes over the data.  [default: 10 when no other budget is given]")
@click.option("--max-steps", type=click.IntRange(min=1), help="Budget in optimiser steps (whole run).")
@click.option("--max-time", type=click.FloatRange(min=0, min_open=True),
              help="Budget in seconds (whole run, resumes included).")
@click.option("--eval-every", type=click.IntRange(min=1),
              help="Validate and checkpoint every N steps.  [default: 250]")
@click.option("--save-every", type=click.FloatRange(min=0, min_open=True), metavar="MINUTES",
              help="Also save the run every MINUTES of training between validations, so a kill loses minutes "
                   "(validation keeps the best weights; these saves keep the run resumable).  [default: 10]")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True),
              help="Tail of the data held out for validation.  [default: 0.1]")
@click.option("--seed", type=SEED, help="Fixes initialisation, data order and dropout.  [default: 0]")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="What the forward pass runs in (weights and loss stay fp32). auto: bf16 autocast where the CPU "
                   "(AVX512-BF16, AMX) or GPU computes bfloat16 natively, fp32 elsewhere (emulated bf16 is slower); "
                   "fp16: CUDA only. Stored in the checkpoint; --resume decides auto anew on its machine.  "
                   "[default: auto]")
@device_option
@click.option("--nproc", type=click.IntRange(min=1),
              help="Train as N processes on this machine (N GPUs, or CPU cores shared out), started by torchrun's "
                   "launcher; --batch-size is the global batch. Several machines: see README, Scaling up.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def train(data: tuple[str, ...], out: str | None, resume: str | None, overwrite: bool, preset: str | None,
          sentences: bool, max_files: int | None, device: str, nproc: int | None, quiet: bool,
          **options: object) -> None:
    """Parse options, run seqgen.train with a progress bar, print where the checkpoint went."""
    from seqgen import distributed  # torch: imported here so that `seqgen train --help` starts at once

    if nproc is not None and nproc > 1:
        sys.exit(distributed.launch(nproc, _given_args(click.get_current_context())))
    main = distributed.is_main()  # under torchrun only rank 0 draws progress and prints the summary
    bar = ProgressBar(enabled=not quiet and main)
    try:
        result = seqgen.train(list(data) or None, out, resume=resume, progress=bar, device=device,
                              boundaries=sentences, overwrite=overwrite, max_files=max_files, preset=preset,
                              **options)
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
        else:
            args += [param.opts[-1], str(value)]
    return [*args, "--", *data] if data else args
