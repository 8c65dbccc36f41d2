"""What the command-line scripts share: bad input is one line on stderr and exit code 2."""
import argparse
import sys

from .errors import one_line

#: exit code of a command refused for bad input (before it writes anything)
BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, except that a bad flag is one line (``PROG: error: ...``) and exit code 2, without the usage
    block."""

    def error(self, message: str) -> None:
        self.exit(BAD_INPUT, f"{self.prog}: error: {one_line(message)}\n")


def fail(prog: str, message: str) -> int:
    """Print ``prog: error: message`` as one line (cut to a few hundred characters); return the exit code 2."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return BAD_INPUT
