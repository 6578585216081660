"""How the command line reports mistakes in its input."""


class UserError(Exception):
    """A mistake in the command line or the input files: one line, exit status 2."""
