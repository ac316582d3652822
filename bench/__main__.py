"""`python -m bench [options]` runs the suite; `python -m bench seed ...` only seeds assets."""

import sys

from bench import run, seed


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "seed":
        return seed.main(argv[1:])
    return run.main(argv)


if __name__ == "__main__":
    sys.exit(main())
