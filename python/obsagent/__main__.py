"""``python -m obsagent``: the same as the ``obsagent`` command."""

from .cli import main

main(prog_name="obsagent")
