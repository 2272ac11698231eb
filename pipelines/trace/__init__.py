"""``sastnet trace``: which codec family made these clips? (docs/trace.md)

    sastnet trace my_clips/ --task all --format json

The same behaviour from Python:

    from pipelines.trace import TraceOptions, load_trace_model, trace_files
    models = {"aux": load_trace_model(None, "aux")}       # the registry's champion
    records = trace_files(["clip.wav"], models, TraceOptions(rm_sil=False))

and from a served registry model (``pipelines.trace.pyfunc``).

The user's inference path, in one group: ``inputs`` (audio files, windows), ``models`` (the model
from the registry, a run, a checkpoint or an export folder), ``origin`` (which checkout a model
came from), ``knn`` (the open-set kNN check), ``core`` (records), ``render`` (table, JSON, CSV)
and ``pyfunc`` (the registered MLflow model that serves the same records: ``sastnet serve``).
"""

from pipelines.trace.core import SCHEMA, TraceOptions, trace_files, trace_report
from pipelines.trace.inputs import expand_paths
from pipelines.trace.models import TraceModel, load_trace_model

__all__ = ["SCHEMA", "TraceModel", "TraceOptions", "expand_paths", "load_trace_model",
           "trace_files", "trace_report"]
