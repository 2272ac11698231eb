from collections import Counter

import pytest

from sastnet.codecs import build_codec
from sastnet.codecs.zoo_spec import ZOO_CODECS, held_out_codecs, training_codecs, zoo_taxonomy
from sastnet.taxonomy import AUX_VALUES, CORS_CODECS, DEC_VALUES, VQ_VALUES


def _values(names):
    counts = Counter()
    for name in names:
        fam = ZOO_CODECS[name].family
        counts.update([fam.vq, fam.aux, fam.dec])
    return counts


def test_zoo_taxonomy_labels_match_the_specs():
    tax = zoo_taxonomy()
    for name, spec in ZOO_CODECS.items():
        assert name.startswith("zoo_") and name not in CORS_CODECS
        assert tax.labels(name) == spec.family.labels()
    assert tax.labels("zoo_mvq_none_time") == {"vq": 1, "aux": 1, "dec": 1, "bin": 1}
    assert tax.labels("zoo_svq_dis_freq") == {"vq": 2, "aux": 3, "dec": 2, "bin": 1}
    assert tax.labels("zoo_ho_mvq_sem_time") == {"vq": 1, "aux": 2, "dec": 1, "bin": 1}
    assert tax.labels("bonafide") == {"vq": 0, "aux": 0, "dec": 0, "bin": 0}
    assert tax.labels("DAC24")["vq"] == 1  # the CodecFake+ table is still there


def test_every_class_value_has_two_training_codecs_and_a_held_out_one():
    train, held = _values(training_codecs()), _values(held_out_codecs())
    for value in VQ_VALUES + AUX_VALUES + DEC_VALUES:
        assert train[value] >= 2, f"{value}: {train[value]} training codecs"
        assert held[value] >= 1, f"{value}: no held-out codec"


def test_training_codecs_of_a_class_differ_in_architecture():
    configs = [ZOO_CODECS[n].config for n in training_codecs()]
    assert len(set(configs)) == len(configs)


def test_generators_span_every_class_known_and_two_are_unseen():
    """CoSG (kn. codec) holds every class of every task; CoSG (All) adds >= 2 unseen codecs."""
    known = [s.family for s in ZOO_CODECS.values() if s.token_lm and not s.held_out]
    assert {f.vq for f in known} == {"mvq", "svq", "sq"}
    assert {f.aux for f in known} == {"none", "semantic", "disentangle"}
    assert {f.dec for f in known} == {"time", "freq"}
    assert sum(s.token_lm and s.held_out for s in ZOO_CODECS.values()) >= 2


@pytest.mark.parametrize("name", list(ZOO_CODECS))
def test_zoo_codecs_are_small(name):
    params = sum(p.numel() for p in build_codec(ZOO_CODECS[name].config).parameters())
    assert 0.2e6 <= params <= 1.5e6
