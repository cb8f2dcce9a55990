"""`python -m hashattack` runs the command-line interface."""

from hashattack.cli import main

raise SystemExit(main())
