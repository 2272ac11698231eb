"""One module per DVC stage: parse params, call a pipeline or pure function, write outputs atomically."""

# Before torch loads (``python -m stages.x`` imports this first): MKL_CBWR and friends.
from pipelines.common.determinism import pin_numeric_env as _pin_numeric_env

_pin_numeric_env()
