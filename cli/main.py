"""Entry point: the `seqgen` click group, and one-line error reporting for every command."""

from __future__ import annotations

import sys

import click

from cli.info import info
from cli.sample import sample
from cli.score import score
from cli.train import train
from seqgen import __version__
from seqgen.errors import SeqgenError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="seqgen")
def cli() -> None:
    """Recurrent sequence models (LSTM, GRU, RNN) for text, music and waveforms.

    \b
    Typical session:
      seqgen train                          # a folk-tune model on the built-in ABC corpus (~4 min)
      seqgen sample --num 3                 # three new tunes from the newest checkpoint
      seqgen train input.txt --cell gru --max-time 600
      seqgen score "The apple and pear salad" "The apple and pair salad"
      seqgen info

    Checkpoints go to ./checkpoints/NAME; sample, score and info use the newest one unless -c is given.
    """


cli.add_command(train)
cli.add_command(sample)
cli.add_command(score)
cli.add_command(info)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every expected failure becomes one `seqgen: error: ...` line and a non-zero exit."""
    try:
        code = cli.main(args=argv, prog_name="seqgen", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("seqgen: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        hint = f" (see: seqgen {e.ctx.command.name} --help)" if getattr(e, "ctx", None) and e.ctx.command else ""
        click.echo(f"seqgen: error: {e.format_message()}{hint}", err=True)
        sys.exit(e.exit_code)
    except SeqgenError as e:
        click.echo(f"seqgen: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("seqgen: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
