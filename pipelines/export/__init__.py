"""A trained model anyone can pick up: an export folder (safetensors, config, model card, ONNX).

    sastnet export models:/sastnet-aux@champion exports/sastnet-aux   # or a training folder
    sastnet trace clip.wav --model exports/sastnet-aux [--backend onnx]

From Python, without MLflow, DVC or Ray:

    from pipelines.export import load_model
    model = load_model("exports/sastnet-aux")        # backend="onnx": ONNX Runtime
    record = model.trace(wave, sample_rate_hz)       # a docs/trace.schema.json record

``folder`` (what the folder holds, ``load_model``), ``network`` (the module both backends
run), ``onnx_graph``, ``card`` (the model card from the run's reports), ``source`` (the
registry or training folder it comes from; the one place MLflow is imported), ``writer``.
docs/export.md is the guide.
"""

from pipelines.export.folder import ExportedModel, NotAnExportError, is_export_folder, load_model

__all__ = ["ExportedModel", "NotAnExportError", "is_export_folder", "load_model"]
