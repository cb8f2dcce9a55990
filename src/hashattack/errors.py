"""The one exception type for bad input: the CLI prints its message on one line and exits 2."""


class InputError(ValueError):
    """Bad input from the user (a file, a value, an option); the message says what would be right."""
