"""`python -m fakestripe --port 12111`: the fake without Django."""

import argparse

from .config import add_arguments, config_from_options
from .server import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="fakestripe", description=__doc__)
    add_arguments(parser)
    run(config_from_options(vars(parser.parse_args())))


if __name__ == "__main__":
    main()
