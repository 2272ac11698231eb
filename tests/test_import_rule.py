"""Import rules: sastnet/ imports no orchestration (ray, mlflow, dvc, yaml), and the import graph
of sastnet/, pipelines/ and stages/ has no circle and no arrow that runs back up the layers."""

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


# The import graph of the package: no circles, and arrows only point down this order (a group
# may import itself and the groups above it in the list, never one below). Imports inside
# functions count like the ones at the top: hiding an arrow in a function does not remove it.
LAYERS = (
    "sastnet",  # the science
    "pipelines.common",  # atomic writes, audio I/O, processes, local Ray, timings
    "pipelines",  # the package __init__: pins the numeric environment (common.determinism)
    "pipelines.params",  # params.yaml -> typed sections
    "pipelines.corpus",
    "pipelines.codecs",  # the codec zoo, resynthesis (reads the corpus manifests)
    "pipelines.dataset",  # VAD, shards, the loader
    "pipelines.whisper",
    "pipelines.knn",  # embeddings from the Whisper pool, kNN attribution
    "pipelines.launder",
    "pipelines.pretrain",
    "pipelines.tracking",  # MLflow runs, registry primitives, the UI
    "pipelines.train",  # driver -> loop -> model; logs through tracking
    "pipelines.evaluate",  # predictions, scores, tables, summary, calibration
    "pipelines.trace",  # the inference path: sastnet trace, the served pyfunc model
    "pipelines.export",  # export folders (a trace model written out)
    "pipelines.register",  # calibrated trace models, the champion alias
    "pipelines.cli",
    "pipelines.repro",  # dvc repro with stage times; re-renders the summary
    "stages",  # thin DVC stage CLIs
)
# Arrows that run up on purpose, each with why.
UPWARD_ALLOWED = {
    ("pipelines.tracking.pyfunc", "pipelines.trace.pyfunc"):
        "re-export: registry versions pickled before #34 name pipelines.tracking.pyfunc",
}


def _module_files() -> dict[str, Path]:
    files = {}
    for package in ("sastnet", "pipelines", "stages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """``{module: project modules it imports}``, anywhere in the file (relative imports
    resolved; ``from pkg import name`` counts as ``pkg.name`` when that is a module)."""
    files = _module_files()

    def known(name: str) -> str | None:  # the longest prefix that is a project module
        parts = name.split(".")
        while parts and ".".join(parts) not in files:
            parts.pop()
        return ".".join(parts) or None

    graph = {}
    for module, path in files.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    targets.add(known(f"{base}.{alias.name}") if f"{base}.{alias.name}" in files
                                else known(base))
        graph[module] = {t for t in targets if t and t != module}
    return graph


def layer_of(module: str) -> int:
    """Index in ``LAYERS`` of the longest group that holds ``module``."""
    best = max((g for g in LAYERS if module == g or module.startswith(g + ".")), key=len)
    return LAYERS.index(best)


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_import_graph_has_no_circle():
    assert import_circles(import_graph()) == []


def test_imports_point_down_the_layers():
    back = sorted(f"{m} -> {t}" for m, targets in import_graph().items() for t in targets
                  if layer_of(t) > layer_of(m) and (m, t) not in UPWARD_ALLOWED)
    assert not back, "imports that run back up the layers (tests/test_import_rule.py, LAYERS):\n" + \
        "\n".join(back)


def test_every_group_has_a_layer():
    groups = {".".join(m.split(".")[:2]) for m in _module_files() if m.startswith("pipelines.")}
    assert sorted(groups - set(LAYERS)) == []


def test_the_graph_sees_what_the_rules_are_about():
    graph = import_graph()
    assert "pipelines.evaluate.seeds" in graph["pipelines.evaluate.tables"]
    assert "pipelines.common.io" in graph["pipelines.cli"]  # an import inside a function
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("pipelines.trace.pyfunc") > layer_of("pipelines.tracking.runs")
