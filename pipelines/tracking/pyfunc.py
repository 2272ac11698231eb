"""Old home of the registered trace model's pyfunc class, kept for stored models only.

A registered trace model pickles its ``python_model`` by reference: versions registered before
issue #34 name ``pipelines.tracking.pyfunc.SastnetTraceModel``, and ``mlflow.pyfunc.load_model``
(``sastnet serve``, ``mlflow models serve``) imports this path to load them. The code lives in
``pipelines.trace.pyfunc``; nothing in the project imports this module (the import-graph test
allows its one upward arrow by name, ``tests/test_import_rule.py``).
"""

from pipelines.trace.pyfunc import SastnetTraceModel

__all__ = ["SastnetTraceModel"]
