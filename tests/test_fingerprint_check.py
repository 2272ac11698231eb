import numpy as np
from scipy.signal import lfilter

from pipelines.codecs.fingerprint import clip_features, fingerprint_report, log_mel_mean
from pipelines.common.audio_io import write_audio
from pipelines.corpus.synthetic import to_manifest_frame


def test_log_mel_mean_shape_and_level():
    rng = np.random.default_rng(0)
    loud, quiet = 0.5 * rng.standard_normal(16000), 0.05 * rng.standard_normal(16000)
    a, b = log_mel_mean(loud.astype(np.float32)), log_mel_mean(quiet.astype(np.float32))
    assert a.shape == (64,) and np.all(a > b)


def test_report_sees_a_lowpass_codec_but_not_a_copy(tmp_path):
    """"lp" low-passes (a fingerprint); "copy" is the bona fide clip itself (none)."""
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("train", 16), ("test", 12), ("cosg", 10)):
        for i in range(n):
            key = f"{split[:2]}{i:02d}_{i + 1:03d}"
            subset = "CoSG" if split == "cosg" else "CoRS"
            wave = (0.1 * rng.standard_normal(4000)).astype(np.float32)
            variants = {"bonafide": wave, "lp": lfilter([0.25] * 4, [1.0], wave),
                        "copy": wave.copy()}
            for codec, w in variants.items():
                k = key if codec == "bonafide" else f"{key}_{codec}"
                path = tmp_path / f"{k}.flac"
                write_audio(path, np.asarray(w, np.float32))
                labels = [0, 0, 0, 0] if codec == "bonafide" else [1, 1, 1, 1] if codec == "lp" \
                    else [2, 2, 2, 1]
                rows.append(dict(key=k, path=str(path), speaker=key[:4], utt_id=i + 1, text=None,
                                 codec=codec, subset=subset, split=split.replace("cosg", "test"),
                                 seen=True, pair_key=key,
                                 codec_seen=True, label_vq=labels[0], label_aux=labels[1],
                                 label_dec=labels[2], label_bin=labels[3], duration_s=0.25))
    df = to_manifest_frame(rows)
    df, feats, rejected = clip_features(df)
    report = fingerprint_report(df, feats)
    assert rejected == [] and report["test_clips"] == 36
    assert report["per_codec"]["lp"]["pairwise_balanced_acc"] > 0.9
    assert report["per_codec"]["copy"]["pairwise_balanced_acc"] < 0.8
    assert report["per_codec"]["lp"]["pairwise_balanced_acc_level_free"] > 0.9
    assert not report["summary"]["all_above_chance"]
    assert set(report["tasks"]) == {"vq", "aux", "dec", "bin"}
    assert report["tasks"]["vq"]["per_class_recall"][1] > 0.9
    # CoSG: the low-pass class is found, the copy cannot be told from bona fide (chance-like),
    # by the CoRS-trained probe and by one fitted inside CoSG (grouped by prompt)
    cosg = report["cosg"]
    assert cosg["clips"] == {"cosg_known": 30, "cosg_all": 30}
    assert cosg["aux"]["chance"] == 33.33
    assert 55 < cosg["aux"]["cors_trained_on_cosg_all"] < 90  # lp right, bona/copy confused
    assert 55 < cosg["aux"]["within_cosg_all_cv"] < 90
    assert cosg["bin"]["within_cosg_all_cv"] < 90


def test_a_run_rewriting_dvc_lock_leaves_the_tree_clean(tmp_path):
    """dvc.lock is the run's own record: only other tracked files make the commit dirty."""
    import subprocess

    from pipelines.tracking.fingerprint import git_state

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "dvc.lock").write_text("a\n")
    (tmp_path / "params.yaml").write_text("a\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    (tmp_path / "dvc.lock").write_text("b\n")
    assert git_state(tmp_path)[1] is False
    (tmp_path / "params.yaml").write_text("b\n")
    assert git_state(tmp_path)[1] is True


def test_a_verbatim_shipped_profile_is_clean_and_named(tmp_path):
    """`sastnet profile full` copies profiles/full.yaml over params.yaml: a shipped
    configuration, not an uncommitted change; an edited copy stays dirty."""
    import subprocess

    from pipelines.tracking.fingerprint import git_state, params_profile

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "default.yaml").write_text("epochs: 8\n")
    (tmp_path / "profiles" / "full.yaml").write_text("epochs: 16\n")
    (tmp_path / "params.yaml").write_text("epochs: 8\n")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x")
    assert params_profile(tmp_path) == "default" and git_state(tmp_path)[1] is False
    (tmp_path / "params.yaml").write_text("epochs: 16\n")
    assert params_profile(tmp_path) == "full" and git_state(tmp_path)[1] is False
    (tmp_path / "params.yaml").write_text("epochs: 17\n")
    assert params_profile(tmp_path) is None and git_state(tmp_path)[1] is True
