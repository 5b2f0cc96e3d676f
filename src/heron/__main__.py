"""``python -m heron``: the same as the ``heron`` command."""

from heron.cli.app import main

main()
