"""One description per data set: what it looks like and which teacher/student pair the course trains on it.

The facts here were copied across modules as prefix checks on data set names and literals
(``"SSA"``, ``(3, 224, 224)``, ``"mobilenet_v2"`` …); :func:`data_pair` is the one place to read them.
Pure: no torch, no data loading — the config, the losses and the views import it freely. Facts that
hold whatever source a data set is loaded from (the MNIST-5k subset and the full MNIST share one pair;
a stand-in is a *source*, see :attr:`kdcore.data.ArrayDataset.is_standin`), except its size, given
per source (``examples``: the memory guard's estimate).

The default numbers mirror those the engine uses today (``kdcore.config.course_teacher`` /
``course_student``, the FitNets / attention-transfer default
layers); a test keeps them equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

MNIST_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
FASHION_CLASSES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                    "Sneaker", "Bag", "Ankle boot")
BINARY_CLASSES: tuple[str, str] = ("0–4", "5–9")  # MNIST collapsed to two classes (the subclass demo)
MHIST_CLASSES: tuple[str, str] = ("HP", "SSA")  # label 0 = HP (benign), 1 = SSA (precancerous, the positive class)

# The course's temperature grid (the handout's T sweep): the CLI's sweep default, precompute's T sweep, the
# temperature playground's curves.
COURSE_TEMPERATURES: tuple[float, ...] = (1.0, 2.0, 4.0, 16.0, 32.0, 64.0)
# The two-stage transfer schedule's defaults (kdcore.train.transfer): head epochs on the frozen backbone,
# then fine-tuning epochs. A job's ``stage1_epochs`` / ``stage2_epochs`` settings replace them.
TRANSFER_STAGE_EPOCHS: tuple[int, int] = (10, 25)
# The schedule the app and the shipped results use on the synthetic stand-in: the course's stage 1, and a 2-epoch
# stage 2 (a stage-2 epoch of ResNetV2-50 costs ~1 s per image on a 2-core CPU). It is recorded in each job's
# method_params, so its key and result.json say so.
STANDIN_SCHEDULE: tuple[tuple[str, int], ...] = (("stage1_epochs", 10), ("stage2_epochs", 2))


@dataclass(frozen=True)
class DataPair:
    """A data set and the course's teacher → student pair on it."""

    name: str  # the JobConfig.dataset name
    title: str  # shown in the app ("MHIST synthetic stand-in")
    family: str  # "mnist" (28×28 grey, the course CNN → MLP) or "mhist" (224×224 RGB, ResNetV2-50 → MobileNetV2)
    input_shape: tuple[int, int, int]  # (C, H, W) of one example
    classes: tuple[str, ...]
    positive_class: str | None  # the class F1 / AUC are computed for (binary sets); None: accuracy
    teacher_arch: str
    teacher_batch_size: int
    teacher_lr: float
    student_arch: str
    student_batch_size: int
    student_lr: float
    student_hidden: tuple[int, ...] | None  # the MLP student's hidden sizes (None: not an MLP)
    assistant_arch: str | None  # TAKD's assistant when it is another architecture (None: the student's, narrower)
    transfer: bool  # trained with the two-stage transfer schedule (kdcore.train.transfer) from pretrained backbones
    micro_batch: int | None  # fine-tuning micro-batch (gradient accumulation) of the transfer schedule
    imagenet_normalized: bool  # models take ImageNet-normalised floats (images are stored uint8)
    backbone_pair: bool  # features are the backbones' map28/map14/map7 (not conv1/conv2/fc…)
    hint_layers: tuple[str, str]  # FitNets default (teacher hint layer, student guided layer)
    at_layers: str  # attention transfer default layers (comma-separated feature names)
    user_folder: bool  # reads a user's own data folder (JobConfig.data_dir); else its sources are fixed
    synthetic: bool = False  # generated images (the MHIST stand-in), not a real data set or a subset of one
    subclasses: int = 2  # subclasses per class a subclass teacher invents here (the binary MNIST demo: the paper's 5)
    # temperature of the subclass teacher's auxiliary loss here. The authors' notebook uses 1 on its binary task and
    # their code says "usually less than 1"; with 10 classes at 1 most classes stay in one subclass (the sweep in
    # kdcore/methods/subclass.py picks the value for the 10-class sets)
    subclass_aux_temperature: float = 1.0
    # the L1 weight λ of the compression suite's sparse-regularisation students (kdcore.course.compression_suite).
    # Under Adam what the penalty zeroes grows with the optimiser steps, not the data set's size alone (MNIST-5k: 16
    # steps an epoch; Fashion-MNIST: 235), so each set has its own, chosen on seed 0 (README, "Compression")
    l1_weight: float = 1e-4
    # (train, test) examples as loaded, by JobConfig.data_source; any other source ("auto" included) counts as the
    # full release (None): offline "auto" MNIST may be the 5k subset, the larger figure is the safe guess
    examples: Mapping[str | None, tuple[int, int]] = field(default_factory=lambda: MappingProxyType({}))
    # what load_dataset holds per example: 28×28 float32 images in memory; MHIST keeps its images in their PNG files
    # (a path and a label each, about 512 bytes) and decodes one batch of uint8 images at a time
    bytes_per_example: int = 28 * 28 * 4
    images_on_disk: bool = False
    # the course's temperature grid on this data set (sweeps, the playground's curves)
    temperatures: tuple[float, ...] = COURSE_TEMPERATURES
    # (head, fine-tuning) epochs of the two-stage transfer schedule (None: the one loop, ``JobConfig.epochs``)
    stage_epochs: tuple[int, int] | None = None
    # ``method_params`` every job of the course pipeline gets here (the app, precompute): the stand-in's short schedule
    pipeline_params: tuple[tuple[str, int], ...] = ()
    # the pages that offer this data set in their picker (see :func:`offered`)
    pages: tuple[str, ...] = ()

    @property
    def is_standin(self) -> bool:
        """Generated images standing in for a data set that is not here (its results are marked as such)."""
        return self.synthetic

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def positive_index(self) -> int | None:
        """The label of :attr:`positive_class` (None when there is none)."""
        return None if self.positive_class is None else self.classes.index(self.positive_class)


MNIST_EXAMPLES = MappingProxyType({None: (60_000, 10_000), "mnist-5k": (4_000, 1_000)})


def _mnist_style(name: str, title: str, classes: tuple[str, ...],
                 examples: Mapping[str | None, tuple[int, int]] = MNIST_EXAMPLES) -> DataPair:
    return DataPair(
        name=name, title=title, family="mnist", input_shape=(1, 28, 28), classes=classes, positive_class=None,
        teacher_arch="teacher_cnn", teacher_batch_size=256, teacher_lr=1e-3,
        student_arch="student_mlp", student_batch_size=256, student_lr=1e-3, student_hidden=(784, 784),
        assistant_arch=None, transfer=False, micro_batch=None, imagenet_normalized=False, backbone_pair=False,
        hint_layers=("conv2", "conv2"), at_layers="conv1,conv2", user_folder=False, examples=examples,
        pages=("lab", "lesson"),
    )


def _mhist_style(name: str, title: str, user_folder: bool, examples: tuple[int, int]) -> DataPair:
    return DataPair(
        name=name, title=title, family="mhist", input_shape=(3, 224, 224), classes=MHIST_CLASSES,
        positive_class="SSA",
        teacher_arch="resnetv2_50", teacher_batch_size=32, teacher_lr=1e-4,
        student_arch="mobilenet_v2", student_batch_size=32, student_lr=1e-3, student_hidden=None,
        assistant_arch="resnet18", transfer=True, micro_batch=4, imagenet_normalized=True, backbone_pair=True,
        hint_layers=("map14", "map14"), at_layers="map28,map14,map7", user_folder=user_folder,
        examples=MappingProxyType({None: examples}), bytes_per_example=512, images_on_disk=True,
        stage_epochs=TRANSFER_STAGE_EPOCHS, pages=("mhist",),
    )


FOLDER_PREFIX = "folder-"  # every folder data set's name starts so (kdcore.data.folder)


def folder_registry_dir():  # -> Path
    """Where folder data sets are described (``KD_DATA_DIR/folders``): never inside the user's folder."""
    from kdcore.settings import settings

    return settings().data_dir / "folders"


def pair_to_json(pair: DataPair) -> dict:
    """``pair`` as JSON-ready data (the folder registry's record)."""
    out = dict(pair.__dict__)
    out["examples"] = [[k, list(v)] for k, v in pair.examples.items()]
    return out


def pair_from_json(record: dict) -> DataPair:
    """The :class:`DataPair` :func:`pair_to_json` wrote (lists back to tuples)."""
    fields = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
              for k, v in record.items() if k != "examples"}
    fields["examples"] = MappingProxyType({k: tuple(v) for k, v in record.get("examples", [])})
    return DataPair(**fields)


def folder_root(name: str) -> str | None:
    """The folder a registered folder data set is read from (its description under :func:`folder_registry_dir`):
    every job the job builder makes on it reads this folder (``JobConfig.data_dir``). None for any other data set,
    and for a folder data set no longer registered (loading it then names the fix)."""
    if not isinstance(name, str) or not name.startswith(FOLDER_PREFIX) or "/" in name or "\\" in name:
        return None
    import json

    try:
        root = json.loads((folder_registry_dir() / f"{name}.json").read_text(encoding="utf-8"))["root"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return str(root) if isinstance(root, str) and root else None


class _Pairs(dict):
    """DATA_PAIRS: the built-in pairs, plus the folder data sets registered in this process; a folder data set
    registered by another process (a worker's parent, an earlier session) is read from its JSON description on
    first use (:func:`folder_registry_dir`), so ``data_pair(name)`` works wherever the job runs."""

    def _lookup(self, name: object) -> DataPair | None:
        if not isinstance(name, str) or not name.startswith(FOLDER_PREFIX) or "/" in name or "\\" in name:
            return None
        import json

        try:
            record = json.loads((folder_registry_dir() / f"{name}.json").read_text(encoding="utf-8"))
            pair = pair_from_json(record["pair"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if pair.name != name:
            return None
        dict.__setitem__(self, name, pair)
        return pair

    def __missing__(self, name: str) -> DataPair:
        pair = self._lookup(name)
        if pair is None:
            raise KeyError(name)
        return pair

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or self._lookup(name) is not None

    def get(self, name, default=None):  # type: ignore[override]
        return self[name] if name in self else default


DATA_PAIRS: dict[str, DataPair] = _Pairs({
    # the subclass teacher's auxiliary temperature each sweep picked (precompute --only subclass-sweep; README)
    "mnist": replace(_mnist_style("mnist", "MNIST", MNIST_CLASSES), subclass_aux_temperature=0.2),
    "fashion_mnist": replace(_mnist_style("fashion_mnist", "Fashion-MNIST", FASHION_CLASSES,
                                          MappingProxyType({None: (60_000, 10_000)})), subclass_aux_temperature=0.3,
                             l1_weight=3e-5),
    # MNIST collapsed to 0–4 vs 5–9: the subclass-distillation paper's demo (the teacher never sees digits)
    "mnist_binary": replace(_mnist_style("mnist_binary", "MNIST 0–4 vs 5–9", BINARY_CLASSES), subclasses=5, pages=()),
    # the real release, from the user's folder (JobConfig.data_dir, else KD_MHIST_DIR)
    "mhist": _mhist_style("mhist", "MHIST", user_folder=True, examples=(2_175, 977)),
    # the synthetic stand-in, made by kdcore.data.synthetic_mhist under KD_DATA_DIR
    "mhist_synthetic": replace(_mhist_style("mhist_synthetic", "MHIST synthetic stand-in", user_folder=False,
                                           examples=(96, 48)),
                               synthetic=True, pipeline_params=STANDIN_SCHEDULE),
})
# The order a page lists its data sets in (its first is its default), where it is not DATA_PAIRS' order: the lab
# and the lesson open on Fashion-MNIST (real data, 60k/10k: the KD gain there is larger than the seed noise).
_PAGE_ORDER: dict[str, tuple[str, ...]] = {"lab": ("fashion_mnist", "mnist"), "lesson": ("fashion_mnist", "mnist")}


class UnknownDataset(KeyError, ValueError):
    """No data set of that name. A ``ValueError`` (and a ``KeyError``, as a dict lookup would be)."""

    def __str__(self) -> str:  # KeyError's str() quotes its message
        return str(self.args[0]) if self.args else ""


def data_pair(name: str) -> DataPair:
    """The :class:`DataPair` of data set ``name`` ("mnist", "fashion_mnist", "mhist", "mhist_synthetic")."""
    try:
        return DATA_PAIRS[name]
    except KeyError:
        raise UnknownDataset(f"unknown dataset {name!r}; choose one of {', '.join(DATA_PAIRS)}") from None


def datasets(family: str | None = None) -> tuple[str, ...]:
    """The data set names (of one ``family``: "mnist" or "mhist"), in display order."""
    return tuple(n for n, p in DATA_PAIRS.items() if family is None or p.family == family)


def family_of(name: object) -> str | None:
    """The family ("mnist" or "mhist") of data set ``name``, None for a name that is no data set (an old record)."""
    pair = DATA_PAIRS.get(str(name))
    return None if pair is None else pair.family


def offered(page: str) -> tuple[str, ...]:
    """The data sets page ``page`` ("lab", "lesson", "mhist") offers, its default first (``DataPair.pages``)."""
    order = _PAGE_ORDER.get(page, ())
    order += tuple(n for n in DATA_PAIRS if n not in order)  # then the rest (folder data sets registered here)
    return tuple(n for n in order if n in DATA_PAIRS and page in DATA_PAIRS[n].pages)


__all__ = ["COURSE_TEMPERATURES", "DATA_PAIRS", "FOLDER_PREFIX", "folder_registry_dir", "pair_from_json",
           "pair_to_json", "DataPair", "FASHION_CLASSES", "MHIST_CLASSES", "MNIST_CLASSES", "folder_root",
           "STANDIN_SCHEDULE", "TRANSFER_STAGE_EPOCHS", "UnknownDataset", "data_pair", "datasets", "family_of", "offered"]
