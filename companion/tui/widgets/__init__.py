"""Widgets grouped by area: the status line, cited sections, conversation turns."""
