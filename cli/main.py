"""Entry point: the `seqgen` click group, and one-line error reporting for every command."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from seqgen.cli.datasets import datasets
from seqgen.cli.info import info
from seqgen.cli.models import models
from seqgen.cli.plot import plot
from seqgen.cli.sample import sample
from seqgen.cli.score import score
from seqgen.cli.serve import serve
from seqgen.cli.train import train

from seqgen import __version__
from seqgen.errors import SeqgenError


class SeqgenGroup(click.Group):
    """A click group whose every expected failure is one `seqgen: error: ...` line and a non-zero exit."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args, "seqgen", complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            _fail("interrupted", 130)
        except click.exceptions.NoArgsIsHelpError as e:
            click.echo(e.ctx.get_help())
            return 0
        except click.ClickException as e:
            ctx = getattr(e, "ctx", None)
            hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            _fail(f"{e.format_message()}{hint}", e.exit_code)
        except SeqgenError as e:
            _fail(str(e), 1)
        except OSError as e:  # a file the library did not name in its own error (the disk, the system)
            _fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e) or type(e).__name__, 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        if isinstance(code, int) and code:
            sys.exit(code)
        return code


def _fail(message: str, code: int) -> None:
    from seqgen import distributed  # torch: loaded only when a command fails

    rank = "" if distributed.is_main() else f"(rank {os.environ.get('RANK')}) "  # several processes under torchrun
    click.echo(f"seqgen: error: {rank}{message}", err=True)
    sys.exit(code)


@click.group(cls=SeqgenGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="seqgen")
def cli() -> None:
    """Recurrent sequence models (LSTM, GRU, RNN) for text, music and waveforms.

    \b
    Typical session:
      seqgen train                          # a folk-tune model on the built-in `folk` corpus (minutes)
      seqgen sample --midi tune.mid         # a new tune from the newest checkpoint (else a shipped model)
      seqgen models                         # the trained models seqgen ships (-c NAME uses one)
      seqgen datasets list                  # the built-in corpora
      seqgen train input.txt --cell gru --max-time 600
      seqgen score "The apple and pear salad" "The apple and pair salad"
      seqgen info
      seqgen plot                           # the newest run's losses against time and steps
      seqgen serve                          # a local page: compose, write, score, signals

    Checkpoints go to ./checkpoints/NAME; sample, score and info use the newest one unless -c is given (a folder,
    or a shipped model's name).
    """


cli.add_command(train)
cli.add_command(sample)
cli.add_command(score)
cli.add_command(info)
cli.add_command(plot)
cli.add_command(datasets)
cli.add_command(models)
cli.add_command(serve)


def main() -> None:
    """Console-script entry point."""
    cli.main()


if __name__ == "__main__":
    main()
