"""``python -m gan_eval`` runs the same click app as the ``gan-eval`` command."""

from gan_eval.cli import main

if __name__ == "__main__":
    main()
