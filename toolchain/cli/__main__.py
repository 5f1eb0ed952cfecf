"""`python -m toolchain.cli`: the same as the `tlmc` script."""

from . import main

main()
