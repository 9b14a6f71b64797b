"""The error a user can fix: the CLI prints it as one line and exits with code 2."""


class UserError(ValueError):
    """Bad flag, bad value or bad file."""
