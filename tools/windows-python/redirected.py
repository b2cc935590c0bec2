"""`python redirected.py OUT ERR SCRIPT ARGS...`: run SCRIPT with its output in two files.

Windows redirects the streams (as `> out.txt 2> err.txt` in cmd.exe does) and
this exits with SCRIPT's exit code. Under Wine it also keeps the caller's pipes
away from processes SCRIPT leaves running (a local daemon), which Wine would
otherwise hold open until they exit.
"""

import subprocess
import sys

if __name__ == "__main__":
    out, err, *command = sys.argv[1:]
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        code = subprocess.call(
            [sys.executable, *command], stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
    sys.exit(code)
