"""`python -m roomsim.sweep SWEEP.yaml -o DIR`: the sweep command without the main CLI.

Usage errors are shortened to the same one stderr line (exit 2) as bad sweep files.
"""

import sys

import click

from roomsim.sweep.cli import sweep_command


def main() -> None:
    """Run the command; click's multi-line usage errors become one line."""
    try:
        code = sweep_command.main(prog_name="python -m roomsim.sweep", standalone_mode=False)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("error: interrupted; finished points are saved, rerun to resume", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
