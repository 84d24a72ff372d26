"""The layers and front doors of ``.importlinter`` hold (CI runs ``lint-imports`` too), and the
custom contract really catches a violation."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lint_imports_passes():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_the_boundaries_contract_reports_a_side_door(tmp_path):
    """A throwaway project: ``low.public`` is the front door, ``low.services`` is not, and
    ``high`` may import ``low`` but ``low`` may not import ``high``."""
    for pkg, files in {"low": {"public": "", "services": "", "models": "import high.views\n"},
                       "high": {"views": "import low.public\nimport low.services\n"}}.items():
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
        for name, text in files.items():
            (tmp_path / pkg / f"{name}.py").write_text(text)
    (tmp_path / ".importlinter").write_text(
        "[importlinter]\nroot_packages =\n    low\n    high\ncontract_types =\n"
        "    app_boundaries: config.architecture.AppBoundariesContract\n\n"
        "[importlinter:contract:b]\nname = b\ntype = app_boundaries\nfront_door =\n    models\n    public\n"
        "allowed =\n    low:\n    high: low\n")
    lint = Path(sys.executable).with_name("lint-imports")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "- high.views -> low.services (l. 2)" in done.stdout
    assert "- low.models -> high.views (l. 1)" in done.stdout
    assert "high.views -> low.public" not in done.stdout
