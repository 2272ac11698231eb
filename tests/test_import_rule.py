"""sastnet/ is pure science: it must not import orchestration (ray, mlflow, dvc, yaml)."""

import ast
import subprocess
import sys
from pathlib import Path

FORBIDDEN = {"ray", "mlflow", "dvc", "yaml", "pipelines", "stages"}
ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_sastnet_sources_import_no_orchestration():
    offenders = {}
    for path in sorted((ROOT / "sastnet").rglob("*.py")):
        bad = _imported_modules(path) & FORBIDDEN
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, f"sastnet/ imports orchestration: {offenders}"


def test_importing_sastnet_loads_no_orchestration():
    # yaml is left out here: transformers (allowed in sastnet/) imports it itself.
    forbidden_at_runtime = sorted(FORBIDDEN - {"yaml"})
    code = (
        "import sys, pkgutil, importlib, sastnet\n"
        "for m in pkgutil.walk_packages(sastnet.__path__, 'sastnet.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {forbidden_at_runtime!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"importing sastnet loaded: {out.stdout.strip()}"
