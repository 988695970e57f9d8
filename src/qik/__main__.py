"""``python -m qik``: the ``qik`` command, for an environment whose scripts are not on PATH."""

from qik.cli import main

if __name__ == "__main__":
    main()
