"""SASTNet, its W2V2-AASIST baseline and the ablations of the paper's Tables III-IV.

    from sastnet.models import build_model, model_config
    model = build_model(model_config("sastnet", "aux", "tiny"))
    out = model(wave, whisper=feats, labels=labels)   # ModelOutput(logits, loss, terms)
"""

from sastnet.models.acoustic import load_w2v2_from_baseline
from sastnet.models.audiomae import audiomae_state_dict, load_audiomae, load_audiomae_file
from sastnet.models.config import (
    CLASS_WEIGHTS,
    SIZES,
    VARIANTS,
    AASISTConfig,
    FusionConfig,
    LossConfig,
    MAEConfig,
    MelConfig,
    ModelConfig,
    W2V2Config,
    model_config,
)
from sastnet.models.network import ModelOutput, SourceTracingModel, build_model, param_groups

__all__ = [
    "CLASS_WEIGHTS", "SIZES", "VARIANTS", "AASISTConfig", "FusionConfig", "LossConfig",
    "MAEConfig", "MelConfig", "ModelConfig", "ModelOutput", "SourceTracingModel", "W2V2Config",
    "audiomae_state_dict", "build_model", "load_audiomae", "load_audiomae_file",
    "load_w2v2_from_baseline", "model_config", "param_groups",
]
