"""``python -m livegate`` runs the command line, as the ``livegate`` script does."""

from livegate.cli import main

if __name__ == "__main__":
    main()
