"""companion: a private, local terminal companion that helps you listen to the person you love."""

__version__ = "0.1.0"
