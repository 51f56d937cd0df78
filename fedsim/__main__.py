"""``python -m fedsim`` runs the ``fedsim`` command."""

from fedsim.cli.exit import console_main

if __name__ == "__main__":
    console_main()
