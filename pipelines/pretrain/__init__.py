"""Self-supervised pretraining before fine-tuning (stage ``pretrain_mae``): ``pipelines.pretrain.mae``."""
