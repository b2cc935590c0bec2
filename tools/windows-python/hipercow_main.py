"""`hipercow ARGS...` for the Windows interpreter, which has no console-script launcher."""

import sys

from hipercow_cli.main import main

if __name__ == "__main__":
    sys.argv[0] = "hipercow"
    main()
