"""`python -m hashattack` runs the command-line interface."""

from hashattack.cli.main import main

raise SystemExit(main())
