"""``python -m api.cli``: the ``minqing`` command without its installed script."""

from api.cli import main

main()
