"""``sastnet trace``: which codec family made these clips? (docs/trace.md)

    sastnet trace my_clips/ --task all --format json

The same behaviour from Python:

    from pipelines.evaluate.trace import TraceOptions, load_trace_model, trace_files
    models = {"aux": load_trace_model(None, "aux")}       # the registry's champion
    records = trace_files(["clip.wav"], models, TraceOptions(rm_sil=False))

and from a served registry model (``pipelines.tracking.pyfunc``).
"""

from pipelines.evaluate.trace.core import SCHEMA, TraceOptions, trace_files, trace_report
from pipelines.evaluate.trace.inputs import expand_paths
from pipelines.evaluate.trace.models import TraceModel, load_trace_model

__all__ = ["SCHEMA", "TraceModel", "TraceOptions", "expand_paths", "load_trace_model",
           "trace_files", "trace_report"]
