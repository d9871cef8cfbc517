"""Stored models at work: load a stored result's network once, score test images or a picture with it, soften.

What the pages show of a trained model (the temperature playground, the Learn page's attention maps, the
"what the student learned" view) is computed here; :mod:`kdcore.views` shapes it into frames and captions.
A stored network is loaded once per process and its logits on the first :data:`MAX_TEST` test images are
memoised (keyed by the result and the store: :func:`kdcore.store.store_id`), so a slider move re-runs only a
softmax over cached numbers.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from kdcore.data import DataError, load_dataset
from kdcore.data.pairs import data_pair
from kdcore.store import LayeredStore, store_from_id, store_id
from kdcore.train.loop import device_note, flush_denormals  # the app asks these here (app.py), not train/

# At most this many test images are scored (a fixed prefix of the test set): enough for a stable
# dark-knowledge map, small enough that the first (uncached) view takes about a second on CPU.
MAX_TEST = 2000


def input_transform(dataset: str):  # noqa: ANN201 - a callable or None
    """What a model of ``dataset`` takes its images through (MHIST: ImageNet normalisation), or None."""
    if not data_pair(dataset).imagenet_normalized:
        return None
    from kdcore.models.mhist import imagenet_normalize  # MHIST models take ImageNet-normalised floats

    return imagenet_normalize


@functools.lru_cache(maxsize=8)
def _model(key: str, sid: tuple):  # noqa: ANN202 - nn.Module
    from kdcore.train import load_model

    store = store_from_id(sid)
    result = store.get(key)
    if result is None:
        raise DataError(f"result {key} is no longer in the store; reload the page")
    return load_model(result, store)


@functools.lru_cache(maxsize=8)
def _test_logits(key: str, sid: tuple) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, labels, images) of the first :data:`MAX_TEST` test images for result ``key``; memoised."""
    from kdcore.train.loop import predict_logits

    result = store_from_id(sid).get(key)
    if result is None:  # it failed verification since it was picked
        raise DataError(f"result {key} no longer passes the store's check; reload the page")
    data = load_data(result)
    x, y = data.x_test[:MAX_TEST], data.y_test[:MAX_TEST]
    model = _model(key, sid)
    logits = predict_logits(model, x, batch_size=512, device=torch.device("cpu"),
                            transform=input_transform(result["dataset"]))
    return class_logits(result, logits), y, x


def load_data(result: dict):  # noqa: ANN201 - ArrayDataset
    """The data set ``result`` was scored on (its recorded source; else the best available one)."""
    folder = (result.get("config") or {}).get("data_dir")  # a user's MHIST folder: the one the job read
    try:
        return load_dataset(result["dataset"], result.get("data_source_id") or "auto", folder)
    except DataError:
        return load_dataset(result["dataset"], "auto", folder)


def class_logits(result: dict, logits: torch.Tensor) -> torch.Tensor:
    """Subclass networks have C·s outputs: sum their probabilities per class (log-sum-exp of logits)."""
    n_classes = len(result.get("classes") or []) or logits.shape[1]
    s = logits.shape[1] // n_classes
    return logits.view(len(logits), n_classes, s).logsumexp(-1) if s > 1 else logits


def stored_model(result: dict, store: LayeredStore | None = None):  # noqa: ANN201 - nn.Module
    """The trained network of ``result`` in eval mode, loaded once per process."""
    return _model(result["key"], store_id(store))


def test_logits(result: dict, store: LayeredStore | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(class logits, labels, images) of ``result``'s model on the first test images, computed once per process."""
    return _test_logits(result["key"], store_id(store))


def soften(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z / T) along the last axis."""
    return torch.softmax(logits.double() / float(temperature), dim=-1).float()


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits along the last axis (0 · log 0 taken as 0)."""
    p = probs.double().clamp_min(1e-30)
    return -(probs.double() * torch.log2(p)).sum(-1).float()


@torch.no_grad()
def image_logits(result: dict, store: LayeredStore | None, image: np.ndarray) -> torch.Tensor:
    """Class logits of ``result``'s model on one 28×28 picture in [0, 1] (``kdcore.views.playground.prepare_image``)."""
    model = _model(result["key"], store_id(store))
    x = torch.from_numpy(image).float().view(1, 1, 28, 28)
    return class_logits(result, model(x).logits.float())[0]


def display_image(x: torch.Tensor) -> np.ndarray:
    """One stored example as a picture to show: H×W in [0, 1] (grey), or H×W×3 (RGB)."""
    a = x.detach().float().numpy()
    if a.shape[0] == 1:
        return a[0] / max(a.max(), 1e-6)
    a = np.moveaxis(a, 0, -1)
    return a / 255.0 if a.max() > 1.0 else a


def soft_targets(teacher: dict, indices: list[int], temperature: float,
                 store: LayeredStore | None = None) -> torch.Tensor:
    """``teacher``'s softmax(z / T) on its test images ``indices`` (its weights must be stored), scored as the
    playground scores them (its input transform, subclass outputs summed per class)."""
    from kdcore.train.loop import predict_logits

    x = load_data(teacher).x_test[indices]
    model = stored_model(teacher, store)
    z = predict_logits(model, x, batch_size=256, device=torch.device("cpu"),
                       transform=input_transform(teacher["dataset"]))  # as the playground scores it
    return soften(class_logits(teacher, z), temperature)


@torch.no_grad()
def features(models: dict[str, dict], batch: torch.Tensor, store: LayeredStore | None = None) -> dict[str, dict]:
    """Each stored model's named feature maps (``ModelOutput.features``) on ``batch``, by the caller's row name."""
    return {row: stored_model(r, store)(batch).features for row, r in models.items()}


def attention_maps(models: dict[str, dict], pairs: list[tuple[str, str]], x: torch.Tensor, i: int, n: int,
                   store: LayeredStore | None = None) -> tuple[dict[str, dict[str, np.ndarray]], list[dict]]:
    """The attention maps (:func:`kdcore.losses.attention.attention_map`) of each stored model (``models``: row name
    → result, the teacher's row named "teacher") on image ``x[i]``, per (teacher layer, student layer) of ``pairs``,
    each scaled to its maximum and lined up with the teacher's; and per student and layer its distance to the
    teacher's map on that image and averaged over the first ``n`` images (rows: model, layer, distance_image,
    distance_mean)."""
    from kdcore.losses.attention import attention_map, attention_vector

    # the averaged images, plus the shown one when it lies beyond them: one forward pass per model
    shown = i if i < n else n
    batch = (x[:n] if i < n else torch.cat([x[:n], x[i: i + 1]])).float()
    maps: dict[str, dict[str, np.ndarray]] = {}
    rows = []
    feats = features(models, batch, store)
    with torch.no_grad():
        for row in models:
            maps[row] = {}
            for t_name, s_name in pairs:
                ref = feats["teacher"][t_name]
                size = tuple(ref.shape[-2:])
                name = t_name if row == "teacher" else s_name
                f_all, f_one = feats[row][name][:n], feats[row][name][shown: shown + 1]
                a = attention_map(f_one, size=size)[0].numpy()  # lined up with the teacher's picture
                maps[row][t_name] = a / max(float(a.max()), 1e-12)
                if row == "teacher":
                    continue
                d_all = (attention_vector(f_all, size=size) - attention_vector(ref[:n])).norm(dim=1)
                d_one = (attention_vector(f_one, size=size) - attention_vector(ref[shown: shown + 1])).norm(dim=1)
                rows.append({"model": row, "layer": t_name if t_name == s_name else f"{t_name} ↔ {s_name}",
                             "distance_image": float(d_one[0]), "distance_mean": float(d_all.mean())})
    return maps, rows


def clear_caches() -> None:
    """Forget memoised models and logits (tests; after the store was replaced)."""
    _model.cache_clear()
    _test_logits.cache_clear()


__all__ = ["MAX_TEST", "attention_maps", "class_logits", "clear_caches", "device_note", "display_image", "entropy_bits",
           "features", "flush_denormals", "image_logits", "input_transform", "load_data", "soft_targets", "soften",
           "stored_model", "test_logits"]
