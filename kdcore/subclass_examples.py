r"""What a subclass teacher invents: example test images per (class, subclass).

Subclass distillation (Müller, Kornblith & Hinton, arXiv:2002.03936, 2020) trains the teacher with
``s`` outputs per class (see :mod:`kdcore.losses.subclass`); it is only ever told the class, so how it
splits each class over its ``s`` outputs is its own invention. To show that split, every test image of
class ``c`` is assigned to its most likely subclass *within* class ``c``,

.. math::
    k(x) = \arg\max_{j < s} z_{c s + j}(x),

and for each (class, subclass) we keep the ``n`` test images the teacher puts there most confidently
(largest probability :math:`\mathrm{softmax}(z)_{c s + k}` over all ``C·s`` outputs), plus the
subclass's *share* of the class's test images. A subclass that wins on fewer than ``n`` test images
(a teacher may let one subclass win on every image of a class and keep the split graded) is topped
up with the other images of class ``c`` that it scores highest, flagged ``assigned = False``: the
images the teacher rates closest to that subclass.

The subclass teachers' weights are not shipped, so ``python -m kdcore precompute --only
subclass-examples,export`` computes the MNIST-style examples once and ships them as a small artefact.
MHIST (the binary task the paper motivates the method with) is computed where its teacher was trained:
after a subclass pipeline run the MHIST page calls :func:`teacher_examples` (through
``kdcore.views.mhist_view.subclass_examples``), which runs the
ResNetV2-50 subclass teacher on the job's test images (ImageNet-normalised, as in training), keeps
``MHIST_PER_SUBCLASS`` RGB tiles per subclass downscaled to ``MHIST_TILE`` pixels, and saves them as
an artefact of the user's store, so they are computed once per teacher. Artefacts
live in a result store of their own under ``<store>/artefacts`` (``objects/<key>/result.json`` +
``images.safetensors``, written and verified like any result) so that job listings — the Compare
page, ``python -m kdcore list`` — never mistake them for trained models.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from kdcore.data.pairs import data_pair
from kdcore.losses.subclass import assigned_subclasses
from kdcore.store import STAGING_DIR, LayeredStore, ResultStore, open_store, read_entry

KIND = "subclass_examples"
VERSION = 2  # bump when the selection rule or the stored fields change: it is part of the artefact key
PER_SUBCLASS = 6  # example images kept per (class, subclass): 10 x 2 x 6 MNIST images = 94 KB
DATASETS = ("mnist", "fashion_mnist", "mnist_binary")  # precomputed and shipped; MHIST's are made on the MHIST page
MAKE_COMMAND = "python -m kdcore precompute --only subclass-examples,export"
MHIST_PER_SUBCLASS = 4  # 2 classes x 2 subclasses x 4 RGB tiles of 112 px = 602 KB
MHIST_TILE = 112  # MHIST tiles (224 px) are shown at half size
MHIST_MADE_BY = "the MHIST page (after a subclass pipeline run)"
SELECTION = ("each test image of class c goes to its argmax subclass within class c; the examples of (c, k) "
             "are the images assigned to k with the largest softmax probability of output c*s+k over all C*s "
             "outputs; when fewer than n are assigned, the other images of class c with the largest such "
             "probability follow (assigned = false)")


@dataclass
class SubclassExamples:
    """Example test images of each (class, subclass) of one subclass teacher.

    Arrays are indexed ``[class, subclass, rank]``. ``assigned[c, k, i]`` says whether example ``i``
    is one of the images of class c the teacher assigns to subclass k (argmax), or, when fewer than
    ``n`` are, one of the other images of class c it scores highest for k. A class with fewer than
    ``n`` test images has index -1, a black image and NaN confidence in its unused slots.
    """

    classes: tuple[str, ...]
    images: np.ndarray  # uint8 (C, s, n, H, W) grayscale or (C, s, n, H, W, 3) RGB (MHIST)
    indices: np.ndarray  # int64 (C, s, n): test-set index of each example, -1 = empty slot
    confidence: np.ndarray  # float32 (C, s, n): softmax probability of output (c, k)
    assigned: np.ndarray  # bool (C, s, n): in subclass k by argmax (False: topped up, see above)
    counts: np.ndarray  # int64 (C, s): test images of class c assigned to subclass k
    meta: dict = field(default_factory=dict)  # teacher, data, how it was made
    # int64 (C, s, F): of the images of (c, k), how many carry each finer label the teacher never saw (the binary
    # MNIST demo: the digit); None when the data set has none
    fine_counts: np.ndarray | None = None

    @property
    def subclasses(self) -> int:
        return int(self.counts.shape[1])

    @property
    def shares(self) -> np.ndarray:
        """(C, s) fraction of class c's test images in subclass k (rows sum to 1; 0 for a class with no test image)."""
        total = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, total, out=np.zeros(self.counts.shape), where=total > 0)

    @property
    def fine_labels(self) -> tuple[str, ...]:
        """Names of the finer labels (the digits of the binary MNIST demo); () when there are none."""
        return tuple(self.meta.get("fine_labels", ()))

    def purity(self) -> np.ndarray | None:
        """(C,) cluster purity of each class's subclasses against the finer labels: the share of the class's
        test images whose subclass's most common finer label is their own (1 = each subclass is one digit).
        None without finer labels."""
        if self.fine_counts is None:
            return None
        total = self.fine_counts.sum(axis=(1, 2))
        best = self.fine_counts.max(axis=2).sum(axis=1)
        return np.divide(best, total, out=np.zeros(len(total)), where=total > 0)

    def one_subclass_purity(self) -> np.ndarray | None:
        """(C,) the purity a teacher scores that puts a whole class into one subclass (its commonest finer label's
        share): what :meth:`purity` is compared with."""
        if self.fine_counts is None:
            return None
        per_label = self.fine_counts.sum(axis=1)
        total = per_label.sum(axis=1)
        return np.divide(per_label.max(axis=1), total, out=np.zeros(len(total)), where=total > 0)

    def fine_mix(self, c: int, k: int, top: int = 2) -> str:
        """E.g. ``"digits: 7 (81 %), 9 (12 %)"``: the commonest finer labels of (c, k)'s images ("" without)."""
        if self.fine_counts is None or self.fine_counts[c, k].sum() == 0:
            return ""
        row = self.fine_counts[c, k]
        order = np.argsort(-row, kind="stable")[:top]
        names = self.fine_labels or tuple(str(i) for i in range(len(row)))
        return "digits: " + ", ".join(f"{names[i]} ({100 * row[i] / row.sum():.0f} %)" for i in order if row[i] > 0)

    def label(self, c: int, k: int) -> str:
        """E.g. ``"subclass 1 — 62 % of class 7 (62 test images)"`` (subclasses counted from 1), plus what
        the examples are when the subclass wins on fewer images than are shown."""
        n, shown = int(self.counts[c, k]), int((self.indices[c, k] >= 0).sum())
        text = f"subclass {k + 1} — {100 * self.shares[c, k]:.0f} % of class {self.classes[c]} ({n} test images)"
        if n == 0:
            text += f"; none lands here: shown, the {shown} it scores closest"
        elif n < shown:
            text += f"; shown: those {n}, then the {shown - n} it scores closest"
        if mix := self.fine_mix(c, k):
            text += f"; {mix}"
        return text

    def caption(self) -> str:
        """Where the pictures come from: the teacher, its accuracy, the data (stand-ins say so) and the command."""
        from kdcore.data import DATASET_TITLES

        m = self.meta
        data = DATASET_TITLES.get(m.get("dataset", ""), m.get("dataset", "?"))
        if m.get("is_standin"):
            data += f" (stand-in data: {m.get('data_source_id', '?')})"
        init = f", backbone: {m['pretrained_source']}" if m.get("pretrained_source") else ""
        acc = m.get("teacher_accuracy")
        acc_text = f", test accuracy {100 * acc:.1f} %" if isinstance(acc, (int, float)) else ""
        n_test = f"{m['n_test']:,}" if isinstance(m.get("n_test"), int) else "?"
        made_by = m.get("made_by", MAKE_COMMAND)
        made_by = f"`{made_by}`" if made_by.startswith("python ") else made_by  # a command, or e.g. "the MHIST page"
        return (f"Teacher: `{m.get('teacher_name', '?')}` (s = {self.subclasses} subclasses per class{acc_text}"
                f"{init}), "
                f"on the {n_test} test images of {data}. Made by {made_by} "
                f"on {str(m.get('created', '?'))[:10]}.")

    def summary(self) -> str:
        """One sentence on how evenly the teacher uses its subclasses (argmax shares over the test set), with the
        auxiliary-loss temperature it was trained with."""
        from kdcore.methods.subclass import LOSS_AUX_TEMPERATURE, SPLIT_SHARE, classes_split

        total = int((self.counts.sum(axis=1) > 0).sum())
        one_sided = total - classes_split(self.shares.tolist())
        params = dict(tuple(p) for p in self.meta.get("teacher_config", {}).get("method_params", []))
        t_aux = float(params.get("aux_temperature", LOSS_AUX_TEMPERATURE))
        trained = f" (auxiliary loss at temperature {t_aux:g})"
        most = f"{100 * SPLIT_SHARE:.0f} %"
        if one_sided == total:
            return (f"For every class ({total} of {total}) one subclass takes more than {most} of its test images"
                    f"{trained}: this teacher keeps each class in one subclass, and its other subclasses carry little "
                    "information. The other columns show the images it scores closest to those subclasses.")
        if one_sided:
            return (f"{total - one_sided} of {total} classes are split between subclasses{trained}; in the other "
                    f"{one_sided} one subclass takes more than {most} of the class's test images (the other column then "
                    "shows the images the teacher scores closest to it).")
        return f"Each of the {total} classes is split between its subclasses{trained}."

    def tile(self, c: int, k: int, columns: int = 3, gap: int = 2) -> np.ndarray:
        """The examples of (c, k) as one uint8 picture: ``columns`` per row, mid-grey ``gap`` between them
        (``(H, W)`` for grayscale examples, ``(H, W, 3)`` for RGB ones)."""
        imgs = self.images[c, k][self.indices[c, k] >= 0]
        (h, w), channels = self.images.shape[3:5], self.images.shape[5:]
        if len(imgs) == 0:
            return np.full((h, w, *channels), 128, np.uint8)
        columns = max(1, min(columns, len(imgs)))
        rows = -(-len(imgs) // columns)
        out = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, *channels), 128, np.uint8)
        for i, img in enumerate(imgs):
            r, q = divmod(i, columns)
            out[r * (h + gap): r * (h + gap) + h, q * (w + gap): q * (w + gap) + w] = img
        return out


# ---- computing ---------------------------------------------------------------------------------
def is_default_teacher(teacher_config: dict) -> bool:
    """Whether a subclass teacher has its data set's default subclass settings (the job the lab and precompute make;
    settings that are not the subclass teacher's own, e.g. the MHIST pipeline's stage epochs, are kept as they are)."""
    from kdcore.config import JobConfig
    from kdcore.methods import get_method
    from kdcore.methods.subclass import subclass_configs

    try:
        cfg = JobConfig.from_dict(teacher_config)
        own = set(get_method("subclass_teacher").params)
        base = cfg.replace(method="scratch", method_params=tuple((k, v) for k, v in cfg.method_params if k not in own))
        default, _ = subclass_configs(base, cfg)
        return dict(default.method_params) == dict(cfg.method_params)
    except Exception:  # a config this engine cannot read: not the default
        return False


def _teacher_rank(teacher_config: dict, n_train: int) -> tuple:
    """Which teacher's pictures to show first: the data set's default settings, most training data, lowest seed."""
    return (not is_default_teacher(teacher_config), -int(n_train or 0), int(teacher_config.get("seed", 0)))


def subclass_teachers(store: ResultStore | LayeredStore, dataset: str | None = None) -> list[dict]:
    """Stored subclass teachers (with weights) of ``dataset``: the data set's default settings first, then most
    training data, then lowest seed."""
    found = [r for r in store.list()
             if r.get("config", {}).get("method") == "subclass_teacher" and "weights.safetensors" in r.get("files", {})
             and (dataset is None or r.get("dataset") == dataset)]
    return sorted(found, key=lambda r: (*_teacher_rank(r["config"], r.get("n_train", 0)), r["key"]))


def compute_subclass_examples(result: dict, store: ResultStore | LayeredStore | None = None,
                              per_subclass: int | None = None, made_by: str | None = None) -> SubclassExamples:
    """Run the subclass teacher of ``result`` on its job's test images and pick each (class, subclass)'s examples.

    MNIST-style data: ``per_subclass`` (default :data:`PER_SUBCLASS`) 28×28 grayscale images. MHIST:
    ``per_subclass`` (default :data:`MHIST_PER_SUBCLASS`) RGB tiles downscaled to :data:`MHIST_TILE` px.
    """
    from kdcore.config import JobConfig
    from kdcore.data import load_dataset
    from kdcore.methods import outputs_per_class
    from kdcore.train.job import eval_logits, load_model, subset, versions

    config = JobConfig.from_dict(result["config"])
    if config.method != "subclass_teacher":
        raise ValueError(f"{result.get('name', result['key'])} is a {config.method!r} job, not a subclass teacher")
    mhist = data_pair(config.dataset).family == "mhist"
    per_subclass = per_subclass or (MHIST_PER_SUBCLASS if mhist else PER_SUBCLASS)
    store = store or open_store()
    if mhist:  # MHIST sources are folders / sizes: load as the job did, then check it is the same data
        data = load_dataset(config.dataset, config.data_source, config.data_dir)
        if result.get("data_source_id") not in (None, data.source_id):
            raise ValueError(f"the teacher was trained on {result['data_source_id']}, but {config.dataset} now "
                             f"loads {data.source_id}: its test images are not the teacher's")
    else:
        data = load_dataset(config.dataset, result.get("data_source_id") or config.data_source)
    _, _, x, y = subset(data, config)  # the job's own test images (its test_limit)
    s, n_classes = outputs_per_class(config), data.num_classes
    z = eval_logits(load_model(result, store), x, config)  # all C·s outputs
    if z.shape[1] != n_classes * s:
        raise ValueError(f"the network has {z.shape[1]} outputs, expected {n_classes} classes x {s} subclasses")
    prob = torch.softmax(z.double(), dim=1).view(len(z), n_classes, s)
    rows = torch.arange(len(z))
    own = prob[rows, y]  # (N, s): the probabilities of the true class's subclasses (they rank the pictures)
    sub = assigned_subclasses(z, y, s)

    indices = np.full((n_classes, s, per_subclass), -1, np.int64)
    confidence = np.full((n_classes, s, per_subclass), np.nan, np.float32)
    counts = np.zeros((n_classes, s), np.int64)
    assigned = np.zeros((n_classes, s, per_subclass), bool)
    for c in range(n_classes):
        for k in range(s):
            score = own[:, k]
            members = torch.nonzero((y == c) & (sub == k)).flatten()
            others = torch.nonzero((y == c) & (sub != k)).flatten()
            counts[c, k] = len(members)
            ranked = [ids[torch.argsort(score[ids], descending=True, stable=True)] for ids in (members, others)]
            best = torch.cat(ranked)[:per_subclass].numpy()
            indices[c, k, : len(best)] = best
            confidence[c, k, : len(best)] = score[best].numpy()
            assigned[c, k, : len(best)] = np.arange(len(best)) < len(members)
    images = _example_pixels(x, indices, mhist)
    fine_counts, fine_labels = None, []
    if (fine := data.extra.get("digits_test")) is not None:  # labels the teacher never saw (binary MNIST: digits)
        fine_y = fine[: len(y)].numpy()
        fine_labels = [str(d) for d in range(int(fine_y.max()) + 1)]
        fine_counts = np.zeros((n_classes, s, len(fine_labels)), np.int64)
        np.add.at(fine_counts, (y.numpy(), sub.numpy(), fine_y), 1)
    meta = {
        "kind": KIND,
        "version": VERSION,
        "dataset": config.dataset,
        "classes": list(data.classes),
        "subclasses": s,
        "per_subclass": per_subclass,
        "teacher_key": result["key"],
        "teacher_name": result.get("name", ""),
        "teacher_config": result["config"],
        "teacher_accuracy": result.get("metrics", {}).get("accuracy"),
        "data_source": data.source,
        "data_source_id": data.source_id,
        "is_standin": bool(data.is_standin),
        **({"pretrained_source": result.get("pretrained_source"), "weights_id": result.get("weights_id"),
            "tile_px": MHIST_TILE} if mhist else {}),
        "n_train": result.get("n_train"),
        "n_test": len(y),
        "selection": SELECTION,
        "fine_labels": fine_labels,
        "made_by": made_by or (MHIST_MADE_BY if mhist else MAKE_COMMAND),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }
    return SubclassExamples(tuple(data.classes), images, indices, confidence, assigned, counts, meta, fine_counts)


def _example_pixels(x: torch.Tensor, indices: np.ndarray, rgb: bool) -> np.ndarray:
    """uint8 pixels of the chosen test images (index -1: black): ``(C, s, n, 28, 28)`` from MNIST-style
    floats in [0, 1]; ``(C, s, n, T, T, 3)`` from MHIST's uint8 RGB files (only these are decoded),
    area-averaged down to ``T = MHIST_TILE``."""
    chosen = indices[indices >= 0]
    if not rgb:
        h, w = x.shape[-2:]
        out = np.zeros((*indices.shape, h, w), np.uint8)
        out[indices >= 0] = (x[torch.from_numpy(chosen), 0] * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        return out
    out = np.zeros((*indices.shape, MHIST_TILE, MHIST_TILE, 3), np.uint8)
    if len(chosen):
        imgs = x[torch.from_numpy(chosen)].float()  # ImageFiles: decodes just these files
        small = torch.nn.functional.interpolate(imgs, size=(MHIST_TILE, MHIST_TILE), mode="area")
        out[indices >= 0] = small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return out


# ---- storing -----------------------------------------------------------------------------------
def artefact_store(layer: ResultStore) -> ResultStore:
    """The store of artefacts that belongs to one result-store folder (``<root>/artefacts``)."""
    return ResultStore(Path(layer.root) / "artefacts", readonly=layer.readonly)


def artefact_key(teacher_key: str, per_subclass: int = PER_SUBCLASS) -> str:
    payload = json.dumps({"kind": KIND, "version": VERSION, "teacher": teacher_key, "n": per_subclass}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def save_subclass_examples(ex: SubclassExamples, store: ResultStore) -> str:
    """Write ``ex`` into ``store``'s artefacts (atomic, sha256-verified like any result); returns its key."""
    key = artefact_key(ex.meta["teacher_key"], int(ex.images.shape[2]))
    result = {**ex.meta, "name": f"{KIND}: {ex.meta.get('teacher_name', '')}", "counts": ex.counts.tolist(),
              "shares": ex.shares.round(6).tolist(), "indices": ex.indices.tolist(),
              "assigned": ex.assigned.tolist(),
              "fine_counts": None if ex.fine_counts is None else ex.fine_counts.tolist(),
              "confidence": [[[None if np.isnan(v) else float(f"{v:.4g}") for v in row] for row in per_class]
                             for per_class in ex.confidence]}
    artefact_store(store).put(key, result, {"images": {"images": torch.from_numpy(ex.images)}})
    return key


def _from_entry(result: dict, images: torch.Tensor) -> SubclassExamples:
    conf = np.array([[[np.nan if v is None else v for v in row] for row in per_class]
                     for per_class in result["confidence"]], np.float32)
    arrays = ("key", "files", "counts", "shares", "indices", "confidence", "assigned", "fine_counts")
    meta = {k: v for k, v in result.items() if k not in arrays}
    fine = result.get("fine_counts")
    return SubclassExamples(tuple(result["classes"]), images.numpy(), np.array(result["indices"], np.int64), conf,
                            np.array(result["assigned"], bool), np.array(result["counts"], np.int64), meta,
                            None if fine is None else np.array(fine, np.int64))


def load_subclass_examples(dataset: str = "mnist", store: LayeredStore | ResultStore | None = None) -> SubclassExamples | None:
    """The stored examples of ``dataset`` (the user store first, then the shipped one); None when there are none.

    Within a layer: the teacher with the data set's default settings, then most training data, then the lowest
    seed (as precompute picks it).
    """
    store = store or open_store()
    for layer in getattr(store, "layers", (store,)):
        arts = artefact_store(layer)
        found = [r for r in arts.list() if r.get("kind") == KIND and r.get("dataset") == dataset]
        found.sort(key=lambda r: (*_teacher_rank(r.get("teacher_config", {}), r.get("n_train") or 0),
                                  r.get("created", "")))
        for r in found:
            tensors = arts.load_tensors(r["key"], "images")
            if tensors is not None and "images" in tensors:
                return _from_entry(r, tensors["images"])
    return None


def _default_per_subclass(teacher: dict) -> int:
    return MHIST_PER_SUBCLASS if data_pair(str(teacher.get("dataset", "mnist"))).family == "mhist" else PER_SUBCLASS


def examples_saved(teacher: dict, store: LayeredStore | ResultStore | None = None) -> bool:
    """Whether a teacher's examples were saved (any layer); reads no images — the MHIST page asks on every rerun."""
    store = store or open_store()
    key = artefact_key(teacher["key"], _default_per_subclass(teacher))
    return any(artefact_store(layer).get(key, verify=False) is not None for layer in getattr(store, "layers", (store,)))


def stored_examples(teacher: dict, store: LayeredStore | ResultStore | None = None,
                    per_subclass: int | None = None) -> SubclassExamples | None:
    """The saved examples of one subclass teacher (user store first, then the shipped ones), or None."""
    store = store or open_store()
    key = artefact_key(teacher["key"], per_subclass or _default_per_subclass(teacher))
    for layer in getattr(store, "layers", (store,)):
        arts = artefact_store(layer)
        entry, tensors = arts.get(key), arts.load_tensors(key, "images")
        if entry is not None and tensors is not None and "images" in tensors:
            return _from_entry(entry, tensors["images"])
    return None


def teacher_examples(teacher: dict, store: LayeredStore | ResultStore | None = None,
                     per_subclass: int | None = None) -> SubclassExamples:
    """The examples of one stored subclass teacher: its artefact when one exists (user store first,
    then the shipped one), else computed now and saved in the user store's artefacts (best effort: a
    read-only store just does not keep them), so each teacher is run over its test set once."""
    store = store or open_store()
    if per_subclass is None:
        per_subclass = _default_per_subclass(teacher)
    if (ex := stored_examples(teacher, store, per_subclass)) is not None:
        return ex
    layers = getattr(store, "layers", (store,))
    ex = compute_subclass_examples(teacher, store, per_subclass)
    if not layers[0].readonly:
        try:
            save_subclass_examples(ex, layers[0])
        except OSError:  # a full or unwritable disk costs only the cache
            pass
    return ex


def make_subclass_examples(work: ResultStore, datasets: tuple[str, ...] = DATASETS,
                           per_subclass: int = PER_SUBCLASS) -> list[str]:
    """Precompute part: examples of the first stored subclass teacher with the data set's default settings (most
    data, lowest seed) of each data set in ``work``; idempotent (an artefact already made for that teacher is kept)."""
    made = []
    for ds in datasets:
        # the data set's default teacher only: a sweep cell's pictures would never be shown (load_subclass_examples)
        teachers = [t for t in subclass_teachers(work, ds) if is_default_teacher(t["config"])]
        if not teachers:
            continue
        teacher = teachers[0]
        key = artefact_key(teacher["key"], per_subclass)
        if artefact_store(work).get(key) is None:
            save_subclass_examples(compute_subclass_examples(teacher, work, per_subclass), work)
        made.append(key)
    return made


def export_artefacts(src: ResultStore, dst_root: Path) -> int:
    """Copy the artefacts of ``src`` missing from ``dst_root``'s (precompute's export step); returns how many."""
    src_arts, dst_arts = artefact_store(src), ResultStore(Path(dst_root) / "artefacts")
    n = 0
    for r in src_arts.list():
        if dst_arts.get(r["key"]) is None and (entry := read_entry(src_arts, r["key"])) is not None:
            dst_arts.put(r["key"], *entry)
            n += 1
    shutil.rmtree(dst_arts.root / STAGING_DIR, ignore_errors=True)  # the store's own working folder: never shipped
    shutil.rmtree(dst_arts.root / "locks", ignore_errors=True)
    return n


__all__ = ["MAKE_COMMAND", "MHIST_PER_SUBCLASS", "MHIST_TILE", "SubclassExamples", "compute_subclass_examples",
           "export_artefacts", "load_subclass_examples", "make_subclass_examples", "save_subclass_examples",
           "subclass_teachers", "teacher_examples"]
