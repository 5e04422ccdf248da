"""``python -m gateway``: the same as the ``trs-gateway`` command."""

from .cli import main

raise SystemExit(main())
