"""The internals of `deploy.py`: packaging, templates, stacks, and the commands."""
