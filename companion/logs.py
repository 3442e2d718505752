"""Event logs in the data dir. They hold events and errors only, never what the person typed."""

from __future__ import annotations

import logging
from pathlib import Path

from companion.config import Settings, create_private_file, ensure_private_dir

_configured: set[Path] = set()
# Until a command configures its log file, records go nowhere (never Python's last-resort print to the terminal).
logging.getLogger("companion").addHandler(logging.NullHandler())


def configure_logging(settings: Settings) -> Path:
    """Send the companion's log records to <home>/logs/companion.log (0600); never to the terminal."""
    ensure_private_dir(settings.home)
    ensure_private_dir(settings.log_dir)
    log_file = settings.log_dir / "companion.log"
    if log_file in _configured:
        return log_file
    create_private_file(log_file)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("companion")
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    root.propagate = False
    _configured.add(log_file)
    return log_file


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"companion.{name}")
