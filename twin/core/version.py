"""The celltwin version (also in pyproject.toml; a test holds them equal)."""

__version__ = "0.1.0"
