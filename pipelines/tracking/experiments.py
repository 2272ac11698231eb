"""What the MLflow UI shows before a run is opened: experiment descriptions and the runs view.

Every run the pipeline opens (``runs.start_or_resume_run``) refreshes its experiment's tags:

- ``mlflow.note.content``: the description the UI shows above the runs (what the experiment
  holds, how runs are named, which profile and commit last wrote to it);
- ``mlflow.experimentKind`` = ``custom_model_development``: the experiment opens on its runs,
  not on the GenAI traces overview;
- ``mlflow.sharedViewState.sastnet``: a saved runs view (the columns a reader compares, every
  run shown in the charts), opened by ``runs_view_url`` (``?viewStateShareKey=sastnet``): the
  same mechanism as the UI's own "Share" button.

What MLflow does not let a project set: the UI's global mode (GenAI or machine learning) is a
per-browser setting (``workflowType`` in the URL or local storage; ``runs_view_url`` sets it);
which parent runs are expanded is kept per browser and left out of shared views; a view a
user changed is kept in their browser's local storage over the shared one.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from mlflow.tracking import MlflowClient

DESCRIPTION_TAG = "mlflow.note.content"
KIND_TAG = "mlflow.experimentKind"
VIEW_KEY = "sastnet"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"

# The columns of the training runs view, in reading order (MLflow's canonical column keys).
TRAINING_COLUMNS = (
    "attributes.`Duration`",
    "tags.`task`", "tags.`variant`", "tags.`seed`",
    "metrics.`dev/best_macro_f1`", "metrics.`dev/best_macro_f1_std`",
    "metrics.`test_seen/macro_f1`", "metrics.`test_seen/macro_f1_std`",
    "metrics.`test_unseen/macro_f1`",
    "metrics.`cosg_known/macro_f1`", "metrics.`cosg_all/macro_f1`",
    "metrics.`cosg_all/macro_f1_std`",
    "attributes.`Models`", "tags.`profile`", "attributes.`Version`",
)


def experiment_description(name: str, *, profile: str | None, commit: str) -> str:
    """Markdown the UI shows on the experiment page: what ``name`` holds and who wrote it."""
    made_by = (f"Last written by profile `{profile or 'custom params.yaml'}` at commit "
               f"`{commit}`.")
    if name.endswith("-pretrain"):
        return ("Self-supervised MAE pretraining of the spectrogram encoder (DVC stage "
                "`pretrain_mae`): one run per pretraining job, with its reconstruction loss on "
                "the dev clips. The training experiment's SASTNet runs start from its weights.\n\n"
                + made_by)
    if name == "knn":
        return ("Training-free SSL kNN attribution (DVC stage `knn`): one run per encoder and "
                "layer, with attribution F1 per taxonomy level, open-set figures and the chosen "
                "k.\n\n" + made_by)
    # no angle brackets: the UI's markdown drops them (and the code spans after them)
    return ("Source tracing trainings (DVC stages `train_baseline`, `train`): one run per task, "
            "variant and seed, named like `aux/sastnet/seed0`, under one parent run per task and "
            "variant (`aux/sastnet`) whose metrics are the mean over the seeds, with the sample "
            "std beside each (`dev/best_macro_f1_std`). Metrics are grouped by split: `train/` "
            "and `dev/` per epoch (`dev/best_macro_f1`: the epoch kept), then the evaluation "
            "sets `test_seen/`, `test_unseen/`, `cors/`, `cosg_known/`, `cosg_all/` (`_rm_sil`: "
            "silence removed). Every run holds its confusion matrices under `plots/`. The "
            "registered model of a task (`sastnet-aux`) holds one version per run, the "
            "`champion` alias on the best group's best seed.\n\n" + made_by)


def training_view() -> dict:
    """The saved runs view of the training experiment (the UI's shared view state format)."""
    widths = {"attributes.`Run Name`": 250,  # "aux/w2v2_aasist/seed0" in full
              **{c: 150 for c in TRAINING_COLUMNS if c.startswith("metrics.")}}
    return {"selectedColumns": list(TRAINING_COLUMNS), "columnOrder": list(TRAINING_COLUMNS),
            "columnWidths": widths, "runsHiddenMode": "SHOW_ALL"}


def describe_experiment(client: MlflowClient, experiment_id: str, name: str, *,
                        profile: str | None, commit: str) -> None:
    """Set the description, kind and (for trainings) the saved runs view of an experiment."""
    client.set_experiment_tag(experiment_id, DESCRIPTION_TAG,
                              experiment_description(name, profile=profile, commit=commit))
    client.set_experiment_tag(experiment_id, KIND_TAG, "custom_model_development")
    if not name.endswith("-pretrain") and name != "knn":
        client.set_experiment_tag(experiment_id, VIEW_TAG, json.dumps(training_view()))


def runs_view_url(base_url: str, experiment_id: str) -> str:
    """The training runs page with the saved view, in the UI's machine learning mode."""
    return (f"{base_url.rstrip('/')}/#/experiments/{quote(str(experiment_id))}/runs"
            f"?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning")
