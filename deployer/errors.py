"""The error `deploy.py` shows without a traceback: a problem the user can fix."""


class DeployError(Exception):
    """Says what is wrong and what to do; nothing was changed unless the message says so."""
