"""``python -m loci``: the ``loci`` command."""

from .cli.main import main

main()
