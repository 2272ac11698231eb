"""The register step: trained versions -> calibrated trace models -> the ``champion`` alias.

    python -m stages.register     # the DVC stage around ``champion.register_all``

``versions``: one trained version calibrated on dev and registered as its trace model;
``champion``: the groups (a variant over its seeds) scored, tagged and the alias moved.
The MLflow registry primitives both use live in ``pipelines/tracking/registry.py``.
"""
