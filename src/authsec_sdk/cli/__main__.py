"""``python -m authsec_sdk.cli``: the same as the ``authsec`` command."""

from . import main

main()
