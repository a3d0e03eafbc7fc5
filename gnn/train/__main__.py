"""``python -m gnn.train``: runs :func:`gnn.train.cli.main`.

A separate module, so that ``-m`` executes a file ``import gnn`` has not already imported
(``gnn/__init__.py`` imports :mod:`gnn.train`; running that module itself would make
runpy warn that it was "found in sys.modules" and load it twice).
"""

from gnn.train.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
