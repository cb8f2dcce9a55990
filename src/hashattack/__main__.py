"""`python -m hashattack` runs the command-line interface.

`python -m` puts the working folder first on sys.path; it is taken off again here, so a folder
named like a package (matplotlib/, faiss/) lying in the working folder is never imported in the
package's place when hashattack imports it later (the `hashattack` command never had it there).
"""

import os
import sys

if sys.path and not sys.flags.safe_path and os.path.abspath(sys.path[0] or os.curdir) == os.getcwd():
    del sys.path[0]

from hashattack.cli.main import main  # noqa: E402

raise SystemExit(main())
