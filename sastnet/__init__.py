"""SASTNet science: models, losses, augmentation, taxonomy, metrics, codecs.

Pure PyTorch + numpy + scipy. Nothing here imports ray, mlflow, dvc or yaml
(``tests/test_import_rule.py`` checks it).
"""
