"""The app paints before the heavy libraries load: importing it, or painting its first frame, pulls in neither."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("llama_cpp", "chromadb")


def run_python(code: str, home: Path) -> dict:
    env = {
        "PYTHONPATH": str(ROOT),
        "COMPANION_HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_app_imports_neither_llama_cpp_nor_chromadb(companion_home):
    code = (
        "import json, sys\n"
        "import companion.tui.app\n"
        f"print(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))\n"
    )
    loaded = run_python(code, companion_home)
    assert loaded == {name: False for name in HEAVY}


def test_headless_modules_never_import_textual(companion_home):
    code = (
        "import json, sys\n"
        "import companion.cli, companion.services, companion.listen.reflect, companion.store.journal\n"
        "import companion.cli.common\n"
        "print(json.dumps({'textual': 'textual' in sys.modules}))\n"
    )
    assert run_python(code, companion_home) == {"textual": False}


def test_the_first_frame_paints_before_the_heavy_libraries_load(companion_home):
    # A real headless run of the app: at the first paint (Ready), neither library may be in the process yet.
    code = (
        "import json, sys\n"
        "from companion.config import Settings\n"
        "from companion.tui.app import CompanionApp\n"
        "seen = {}\n"
        "class Probe(CompanionApp):\n"
        "    def on_ready(self):\n"
        f"        seen.update({{name: name in sys.modules for name in {HEAVY!r}}})\n"
        "        seen['painted_status'] = self.services_status\n"
        "        self.exit()\n"
        "Probe(Settings.load(), load_services=True).run(headless=True, size=(100, 30))\n"
        "print(json.dumps(seen))\n"
    )
    seen = run_python(code, companion_home)
    assert seen["llama_cpp"] is False and seen["chromadb"] is False
    assert seen["painted_status"] == "starting"
