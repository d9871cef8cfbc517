r"""The Learn page's content: the tutorial in our words, the course's methods, and the method registry.

The prose and equations live here (plain strings, no Streamlit) so the page stays a thin renderer.
:func:`method_catalog` reads :data:`kdcore.methods.METHODS` — titles, summaries, the loss module's
citation, the ``.. math::`` blocks of its docstrings and its source code — so a method added to the
registry appears on the page without touching the app.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap
import types
import typing
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kdcore.data.pairs import data_pair

if typing.TYPE_CHECKING:
    from kdcore.subclass_examples import SubclassExamples

# ---- the tutorial ----------------------------------------------------------------------------
INTRO: list[tuple[str, str]] = [
    ("Why compress a model?", """
The networks that win benchmarks are large: millions of weights, billions of operations per image,
sometimes an ensemble of several such networks voting together. A phone, a microscope's controller or
a sensor on a factory line has little memory, a small battery and must answer in milliseconds. **Model
compression** asks for a network that is fast, small and frugal with energy *while keeping most of the
accuracy* — either by training a light model well from the start or by shrinking a trained one.

Five families of techniques do this:

1. **Sparse regularisation** — a penalty (e.g. L1) during training pushes many weights to (nearly) zero,
   so they can be set to zero and dropped.
2. **Quantisation** — store and compute with fewer bits (int8 instead of float32: 4× smaller).
3. **Weight sharing** — many connections reuse one stored value (clusters of weights, hashing).
4. **Pruning** — remove weights, channels or whole layers that contribute little, then fine-tune.
5. **Knowledge distillation** — train a small *student* network to imitate a large *teacher*.
"""),
    ("What is knowledge distillation?", """
Think of what a trained network *knows* not as its particular weights but as the mapping it has
learned from inputs to outputs. Distillation transfers that mapping from a large, cumbersome model
(or an ensemble of them) into a lighter one that is easier to deploy, losing little accuracy.

The trick is in *what* the student imitates. A label says "this is a 7". The teacher's full output
says "a 7, quite possibly a 1, a bit like a 9, certainly not a 0". Those small probabilities —
Hinton called them **dark knowledge** — describe how the teacher generalises, and they are a much
richer training signal per example than a single correct label.
"""),
    ("Distillation vs transfer learning", """
Both move knowledge between networks, but for different reasons:

| | Knowledge distillation | Transfer learning |
|---|---|---|
| Goal | a *smaller* (or better) model for the same task | a model for a *new* task or domain |
| Knowledge moves | teacher → student, same task | pretrained task (e.g. ImageNet) → target task |
| Used when | the big model is too slow or too large to deploy | the target data or labels are scarce |

They combine well: on MHIST both the teacher (ResNet-50 v2) and the student (MobileNetV2) start from
ImageNet weights (transfer learning), and then the student learns from the teacher (distillation).
"""),
    ("An ensemble in one network", """
Averaging the predictions of several independently trained networks is one of the most reliable ways to
gain accuracy — and one of the most expensive: *k* models cost *k* times the compute at test time. By
training one student to reproduce the ensemble's averaged soft outputs, most of the ensemble's gain can
be kept in a single network of ordinary size. That was the original motivation for distillation
(Buciluǎ et al. 2006; Hinton et al. 2015).
"""),
]


@dataclass(frozen=True)
class CourseMethod:
    """One method of the course handout, with what the page shows for it."""

    key: str  # registry key of kdcore.methods.METHODS ("" when the engine does not train it)
    title: str
    citation: str
    link: str
    idea: str
    equations: tuple[str, ...]
    demo: str = ""  # "temperature" | "hint" | "attention" | "subclass" | "born_again" | ""


COURSE_METHODS: tuple[CourseMethod, ...] = (
    CourseMethod(
        "hinton", "Soft targets (transfer class probabilities)",
        "Hinton, Vinyals & Dean, “Distilling the Knowledge in a Neural Network”, NIPS 2014 Deep Learning Workshop "
        "(arXiv:1503.02531, 2015).", "https://arxiv.org/abs/1503.02531",
        "Divide the logits by a temperature T > 1 before the softmax: the distribution flattens and the small "
        "probabilities become visible. The student matches the teacher's softened distribution (KL, scaled by "
        "T² so gradients keep their size), mixed with ordinary cross-entropy on the labels. Here α weighs the "
        "KD term and 1 − α the label term.",
        (r"p_i(T) = \frac{\exp(z_i / T)}{\sum_j \exp(z_j / T)}",
         r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\!\big(p^{T}(z_T) \,\|\, p^{T}(z_S)\big)"
         r" + (1-\alpha)\, \mathrm{CE}\big(y,\, p^{1}(z_S)\big)"),
        demo="temperature",
    ),
    CourseMethod(
        "fitnet", "FitNets: hints (transfer hidden activations)",
        "Romero, Ballas, Kahou, Chassang, Gatta & Bengio, “FitNets: Hints for Thin Deep Nets”, ICLR 2015 "
        "(arXiv:1412.6550).", "https://arxiv.org/abs/1412.6550",
        "Besides the outputs, a thinner but deeper student is guided *inside*: one of its hidden layers must "
        "predict one of the teacher's hidden layers (the hint), through a small learned regressor when the "
        "shapes differ. The handout writes the objective as a scaled feature match:",
        (r"\min \sum_{x_i \in \mathcal{X}} \big\| \beta\, f_T(x_i) - f_S(x_i) \big\|_2^2",
         r"\mathcal{L}_{\text{hint}} = \tfrac12 \big\| u_h(x) - r\big(v_g(x)\big) \big\|_2^2"
         r"\quad\text{(paper: teacher hint } u_h\text{, student guided layer } v_g\text{, regressor } r)"),
        demo="hint",
    ),
    CourseMethod(
        "attention", "Attention transfer",
        "Zagoruyko & Komodakis, “Paying More Attention to Attention: Improving the Performance of Convolutional "
        "Neural Networks via Attention Transfer”, ICLR 2017 (arXiv:1612.03928).", "https://arxiv.org/abs/1612.03928",
        "Summarise a convolutional layer by *where* it is active: the spatial map Σ_c |A_c|². The student is "
        "trained so its normalised attention maps match the teacher's at chosen layers — a cheap, "
        "shape-agnostic hint that needs no regressor.",
        (r"Q = \frac{\mathrm{vec}\big(\sum_c |A_c|^2\big)}{\big\|\mathrm{vec}\big(\sum_c |A_c|^2\big)\big\|_2}",
         r"\mathcal{L} = \mathrm{CE}(y, p_S) + \frac{\beta}{2} \sum_{j} \big\| Q_S^{j} - Q_T^{j} \big\|_2"),
        demo="attention",
    ),
    CourseMethod(
        "subclass", "Subclass distillation",
        "Müller, Kornblith & Hinton, “Subclass Distillation”, arXiv:2002.03936 (2020).",
        "https://arxiv.org/abs/2002.03936",
        "With only a few classes (MHIST has two) the teacher's soft targets carry little information. So the "
        "teacher is trained with s invented *subclasses* per class (an auxiliary loss spreads examples over "
        "them); the student matches all C·s subclass probabilities, and class probabilities are sums over "
        "subclasses.",
        (r"p_c = \sum_{s=1}^{S} p_{c,s}, \qquad p_{c,s} = \mathrm{softmax}(z)_{c,s}",
         r"\mathcal{L} = \alpha\, T^2\, \mathrm{KL}\big(p^{T}_{\text{sub}}(z_T) \,\|\, p^{T}_{\text{sub}}(z_S)\big)"
         r" + (1-\alpha)\, \mathrm{CE}\big(y, p_{\text{class}}(z_S)\big)"),
        demo="subclass",
    ),
    CourseMethod(
        "born_again", "Born-again networks (student over teacher)",
        "Furlanello, Lipton, Tschannen, Itti & Anandkumar, “Born-Again Neural Networks”, ICML 2018 "
        "(arXiv:1805.04770).", "https://arxiv.org/abs/1805.04770",
        "The student has exactly the teacher's architecture and is trained on the teacher's outputs. In the paper "
        "(CIFAR-10/100, Penn Treebank) it often ends up *more* accurate than its teacher; whether it does here is "
        "what the stored results below say, seed by seed. Repeat for several "
        "generations and average them for an ensemble.",
        (r"f_k = \arg\min_f\; \mathcal{L}\big(f_{k-1}(x),\, f(x)\big), \qquad f_0 \text{ trained on labels}",
         r"\hat{f}^{\,\text{BAN}}(x) = \frac{1}{K} \sum_{k=1}^{K} f_k(x)"),
        demo="born_again",
    ),
    CourseMethod(
        "", "Label refinery (student over teacher)",
        "Bagherinezhad, Horton, Rastegari & Farhadi, “Label Refinery: Improving ImageNet Classification through "
        "Label Progression”, arXiv:1805.02641 (2018).", "https://arxiv.org/abs/1805.02641",
        "Ground-truth labels are often incomplete (one label for an image with several objects) and inconsistent "
        "across random crops. A trained model *refines* the labels — its per-crop soft outputs become the next "
        "model's targets — and the process is repeated. Same spirit as born-again networks with T = 1 and α = 1; "
        "the engine trains it as born-again with those settings.",
        (r"\mathcal{L}_k = \mathrm{KL}\big(\mathrm{softmax}(z_{k-1}(x)) \,\|\, \mathrm{softmax}(z_k(x))\big),"
         r"\qquad z_0 \equiv \text{one-hot labels}",),
    ),
)


# ---- the registry, read for the page ------------------------------------------------------------
@dataclass
class MethodInfo:
    key: str
    title: str
    summary: str
    needs_teacher: bool
    citation: str = ""
    equations: list[str] = field(default_factory=list)
    code: str = ""  # source of the loss module's class (the show_code trick)
    code_name: str = ""


def _math_blocks(doc: str | None) -> list[str]:
    """The bodies of ``.. math::`` blocks in a docstring, each joined to one LaTeX string."""
    if not doc:
        return []
    lines = textwrap.dedent(doc).splitlines()
    out, i = [], 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        indent, body = len(m.group(1)), [m.group(2)] if m.group(2) else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i].strip())
            i += 1
        eq = " ".join(b for b in body if b)
        if eq:
            out.append(eq)
    return out


def _resolve(ref: str) -> typing.Any:
    module_name, _, name = ref.partition(":")
    return getattr(importlib.import_module(module_name), name)


def _citation(module: types.ModuleType | None) -> str:
    """The first paragraph of a kdcore module's docstring (never a library's, e.g. ``builtins``)."""
    if module is None or not module.__name__.startswith("kdcore."):
        return ""
    return " ".join((inspect.getdoc(module) or "").split("\n\n")[0].split())


def _evaluation_info(info: MethodInfo, maths_ref: str, code_ref: str) -> MethodInfo:
    maths, code = _resolve(maths_ref), _resolve(code_ref)
    info.citation = _citation(inspect.getmodule(maths))
    info.equations = _math_blocks(inspect.getdoc(maths))
    try:
        info.code = inspect.getsource(code) + "\n\n" + inspect.getsource(maths)
        info.code_name = f"{code.__module__}.{code.__name__}"
    except (OSError, TypeError):
        pass
    return info


def method_info(key: str) -> MethodInfo:
    """What the registry says about ``key``, plus citation, equations and code from its loss class
    (``Method.loss_class``); an evaluation-only method without one (the BAN ensemble) shows the maths it
    applies and the function that computes its result (``Method.evaluation_code``)."""
    from kdcore.methods import get_method

    method = get_method(key)
    info = MethodInfo(key=key, title=method.title, summary=method.summary, needs_teacher=method.needs_teacher)
    cls = method.loss_class
    if cls is None and method.evaluation_code is not None:
        return _evaluation_info(info, *method.evaluation_code)
    module = inspect.getmodule(cls) if cls is not None else inspect.getmodule(method.loss)
    if module is not None:
        doc = inspect.getdoc(module) or ""
        info.citation = _citation(module)
        info.equations = (_math_blocks(inspect.getdoc(cls)) if cls is not None else []) or _math_blocks(doc)
    if cls is not None and module is not None:
        try:
            info.code = inspect.getsource(cls)
            info.code_name = f"{module.__name__}.{cls.__name__}"
        except (OSError, TypeError):
            pass
    return info


def method_catalog() -> list[MethodInfo]:
    """Every registered method, in registry order."""
    from kdcore.methods import METHODS

    return [method_info(key) for key in METHODS]


# ---- attention transfer, side by side ----------------------------------------------------------
ATTENTION_MISSING = (
    "The side-by-side attention maps need the weights of two MNIST CNN students — one trained with attention "
    "transfer, one from scratch — besides the teacher's. Train them and ship their weights in assets/store with "
    "`python -m kdcore precompute --only methods,export` (without `,export` they stay in precompute's store, "
    "which the app reads only when `KD_STORE_DIR` names it).")
AT_ROWS = ("teacher", "AT student", "scratch student")  # the comparison's rows, top to bottom


@dataclass
class AttentionComparison:
    """What the Learn page draws to show attention transfer at work, ready to draw.

    ``maps[row][layer]`` is the attention map Σ_c|A_c|² of that model on the one test image, scaled to
    [0, 1]; a student's map has the teacher's spatial size for the same layer (resized if it had not),
    so the rows line up picture by picture. ``distance`` measures what the eye compares: the paper's
    ‖Q_S − Q_T‖₂ of the normalised maps, per student and layer, on this image and averaged over
    ``n_mean`` test images (one image can mislead).
    """

    available: bool
    notice: str = ""
    image: np.ndarray | None = None  # the test image, H×W in [0, 1]
    label: str = ""  # its true class
    index: int = 0
    layers: list[str] = field(default_factory=list)  # the teacher's layer names, in AT's pair order
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # row (AT_ROWS) -> layer -> map
    models: dict[str, str] = field(default_factory=dict)  # row -> "model label · test acc"
    distance: pd.DataFrame = field(default_factory=pd.DataFrame)  # model, layer, distance_image, distance_mean
    n_mean: int = 0
    data: str = ""  # the data set, with "stand-in" when it is one
    summary: str = ""  # one sentence: is the AT student closer to the teacher than the scratch one, per layer


def _with_weights(results: list[dict]) -> list[dict]:
    return [r for r in results if "weights.safetensors" in r.get("files", {})]


def _at_students(dataset: str, store: typing.Any) -> tuple[dict | None, dict | None, dict | None]:
    """(teacher, AT student, scratch student) results with weights; the AT student decides the teacher.

    Starting from the AT student (not the playground's teacher) keeps the comparison fair when the user
    store holds a better teacher: the maps are compared with the teacher the student was trained on.
    Preferred: seed 0, the documented defaults (no method params, α = 0), most training data.
    """
    from kdcore.views.results import stored_results

    results = _with_weights([r for r in stored_results(store) if r.get("dataset") == dataset
                             and r.get("config", {}).get("arch") == "student_cnn"])
    by_key = {r["key"]: r for r in _with_weights(stored_results(store))}
    ats = [r for r in results if r["config"].get("method") == "attention" and r.get("teacher_key") in by_key]
    if not ats:
        return None, None, None
    at = min(ats, key=lambda r: (r["config"].get("seed") != 0, bool(r["config"].get("method_params")),
                                 r["config"].get("alpha") != 0, -r.get("n_train", 0), r["key"]))
    scratch = [r for r in results if r["config"].get("method") == "scratch"
               and r.get("data_source_id") == at.get("data_source_id")]
    best = min(scratch, key=lambda r: (r["config"].get("seed") != at["config"].get("seed"),
                                       r["config"].get("epochs") != at["config"].get("epochs"),
                                       bool(r["config"].get("method_params")), -r.get("n_train", 0), r["key"]),
               default=None)
    return by_key[at["teacher_key"]], at, best


def _model_line(result: dict) -> str:
    from kdcore.views.results import model_label

    return f"{model_label(result['config'])} · test acc {result['metrics']['accuracy']:.1%}"


def attention_comparison(dataset: str = "mnist", index: int = 0, n_mean: int = 200,
                         store: typing.Any = None) -> AttentionComparison:
    """Attention maps of the teacher, the CNN student trained with attention transfer and the same student
    trained from scratch, on test image ``index``, with each student's distance to the teacher's maps.

    The teacher and students come from the store (weights needed); ``available=False`` with a notice saying
    how to make them when they are missing. ``store`` is a :class:`kdcore.store.LayeredStore` (default: the
    app's). Layers are the AT student's own pairs (:func:`kdcore.methods.attention.at_layers`).
    """
    from kdcore.config import JobConfig
    from kdcore.data import DATASET_TITLES
    from kdcore.inference import attention_maps, display_image, test_logits
    from kdcore.losses.features import parse_layer_pairs
    from kdcore.methods.attention import at_layers
    from kdcore.views.results import STANDIN_NOTE

    teacher, at, scratch = _at_students(dataset, store)
    if teacher is None or at is None:
        return AttentionComparison(available=False, notice=ATTENTION_MISSING)
    pairs = parse_layer_pairs(at_layers(JobConfig.from_dict(at["config"])))
    _, labels, x = test_logits(teacher, store)
    i = int(np.clip(index, 0, len(x) - 1))
    n = int(min(max(n_mean, 1), len(x)))
    picked = [("teacher", teacher), ("AT student", at)] + ([("scratch student", scratch)] if scratch else [])
    maps, rows = attention_maps(dict(picked), pairs, x, i, n, store)
    data = DATASET_TITLES.get(dataset, dataset)
    if teacher.get("is_standin"):
        data += f" ({STANDIN_NOTE}: {teacher.get('data_source_id') or teacher.get('data_source', '')})"
    classes = list(teacher.get("classes") or [])
    y = int(labels[i])
    return AttentionComparison(
        available=True, notice="" if scratch else "No scratch CNN student with weights is stored, so the third row "
        "is missing: `python -m kdcore precompute --only methods,export` trains it.",
        image=display_image(x[i]), label=classes[y] if y < len(classes) else str(y), index=i,
        layers=[t for t, _ in pairs], maps=maps, models={row: _model_line(r) for row, r in picked},
        distance=pd.DataFrame(rows, columns=["model", "layer", "distance_image", "distance_mean"]), n_mean=n,
        data=data, summary=_at_summary(rows, n))


def _at_summary(rows: list[dict], n: int) -> str:
    """One sentence comparing the students' mean distances per layer, saying "not" where AT is not closer:
    the page states what the numbers show, not what the method promises."""
    mean = {(r["model"], r["layer"]): r["distance_mean"] for r in rows}
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    if not all(("scratch student", layer) in mean for layer in layers):
        return ""
    parts = [f"{'' if mean['AT student', layer] < mean['scratch student', layer] else 'not '}at {layer} "
             f"({mean['AT student', layer]:.3f} vs {mean['scratch student', layer]:.3f})" for layer in layers]
    return (f"Averaged over the first {n} test images, the AT student's maps are closer to the teacher's than the "
            f"scratch student's {'; '.join(parts)}.")


# ---- FitNets: the hint regression over training ----------------------------------------------------
HINT_MISSING = (
    "No FitNets CNN student is stored yet, so there is no hint curve to show. Train it with "
    "`python -m kdcore precompute --only methods,export` (MNIST).")
HINT_CAPTION = (
    "The hint loss ½‖r(v_g) − u_h‖²/D per training epoch: the student's guided layer, passed through the "
    "learned regressor r, learning to predict the teacher's hint layer — it falls as the student's "
    "features come to carry what the teacher's carry.")


def fitnet_hint_history(datasets: tuple[str, ...] = ("mnist", "fashion_mnist"), seed: int = 0,
                        store: typing.Any = None) -> pd.DataFrame:
    """The hint term of each data set's stored FitNets CNN student (seed ``seed``, else the lowest), per epoch.

    Columns ``data``, ``dataset``, ``epoch``, ``hint`` (½‖r(v_g) − u_h‖²/D: the logged term divided by its
    weight, β in the KD stage and 1 in hint-only epochs, so the curve is the regression error itself),
    ``logged`` (the term as trained), ``layers`` (hint ← guided). Empty when none is stored. The term is read
    from the history's ``loss_*`` columns whose name contains "hint", so only what the run logged is shown.
    """
    from kdcore.config import JobConfig
    from kdcore.data import DATASET_TITLES
    from kdcore.methods.fitnet import DEFAULT_BETA, hint_layers
    from kdcore.views.results import STANDIN_NOTE, stored_results

    columns = ["data", "dataset", "epoch", "hint", "logged", "layers"]
    rows = []
    for ds in datasets:
        runs = [r for r in stored_results(store) if r.get("dataset") == ds and r.get("history")
                and r.get("config", {}).get("method") == "fitnet" and r["config"].get("arch") == "student_cnn"]
        if not runs:
            continue
        r = min(runs, key=lambda r: (r["config"].get("seed") != seed, bool(r["config"].get("method_params")),
                                     r["config"].get("seed", 0), -r.get("n_train", 0), r["key"]))
        term = next((k for k in r["history"][0] if k.startswith("loss_") and "hint" in k), None)
        if term is None:
            continue
        try:
            cfg = JobConfig.from_dict(r["config"])
            beta, stage1 = float(cfg.param("beta", DEFAULT_BETA)), int(cfg.param("fitnet_stage1_epochs", 0))
            hint, guided = hint_layers(cfg)
        except Exception:  # a config from another engine version: show the logged term as is
            beta, stage1, (hint, guided) = 1.0, 0, ("hint", "guided")
        data = DATASET_TITLES.get(ds, ds) + f" ({r.get('data_source_id', '')}, seed {r['config'].get('seed')})"
        if r.get("is_standin"):
            data += f", {STANDIN_NOTE}"
        for h in r["history"]:
            if term not in h:
                continue
            weight = 1.0 if int(h["epoch"]) <= stage1 else beta
            rows.append({"data": data, "dataset": ds, "epoch": int(h["epoch"]),
                         "hint": float(h[term]) / weight if weight else float("nan"), "logged": float(h[term]),
                         "layers": f"teacher {hint} ← student {guided}"})
    return pd.DataFrame(rows, columns=columns)


# ---- born-again networks: does generation k pass its teacher? --------------------------------------
BAN_MISSING = (
    "No born-again generations are stored yet. Train them with `python -m kdcore sweep --suite methods "
    "--dataset mnist` (or pick “Born-again ensemble” in the Distill lab).")
BAN_ORDER = ("teacher (gen 0)", "gen 1", "gen 2", "gen 3", "BAN ensemble")


def born_again_generations(results: list[dict] | None = None) -> pd.DataFrame:
    """Accuracy of every stored born-again chain, generation by generation, one row per (chain, step).

    A chain is a label-trained teacher (generation 0), its born-again generations 1..k and their BAN
    ensemble, all with the paper's settings (T = 1, α = 1) and on full data (no ``train_limit``).
    Columns ``data``, ``seed``, ``step`` (see :data:`BAN_ORDER`), ``accuracy`` (in %), ``vs_teacher``
    (points above generation 0). Empty when none is stored.
    """
    from kdcore.data import DATASET_TITLES
    from kdcore.views.results import STANDIN_NOTE, stored_results

    columns = ["data", "seed", "step", "accuracy", "vs_teacher"]
    results = stored_results() if results is None else results
    by_key = {r["key"]: r for r in results}

    def paper_settings(cfg: dict) -> bool:
        return cfg.get("temperature") == 1.0 and cfg.get("alpha") == 1.0 and cfg.get("train_limit") is None

    rows = []
    for r in results:
        cfg = r.get("config", {})
        if cfg.get("method") != "born_again" or not paper_settings(cfg):
            continue
        chain, cur = [r], r  # walk down to generation 0
        while (cur := by_key.get(cur.get("teacher_key") or "")) is not None:
            chain.append(cur)
            if cur["config"].get("method") != "born_again":
                break
        if chain[-1]["config"].get("method") == "born_again" or len(chain) != 2:
            continue  # teacher missing, or not generation 1: each chain is listed once, from its gen 1
        chain = chain[::-1]  # gen 0, gen 1
        while (nxt := next((g for g in results if g.get("teacher_key") == chain[-1]["key"]
                            and g["config"].get("method") == "born_again" and paper_settings(g["config"])), None)):
            chain.append(nxt)
        steps = [(BAN_ORDER[0] if k == 0 else f"gen {k}", g) for k, g in enumerate(chain)]
        ens = next((g for g in results if g.get("config", {}).get("method") == "ban_ensemble"
                    and g.get("teacher_key") == chain[-1]["key"]), None)
        if ens is not None:
            steps.append((BAN_ORDER[-1], ens))
        data = DATASET_TITLES.get(r.get("dataset", ""), r.get("dataset", ""))
        if r.get("is_standin"):
            data += f" ({STANDIN_NOTE}: {r.get('data_source_id', '')})"
        base = 100 * chain[0]["metrics"]["accuracy"]
        seed = int(chain[0]["config"].get("seed", 0))  # the chain's: each generation trains with a seed of its own
        for step, g in steps:
            acc = 100 * g["metrics"]["accuracy"]
            rows.append({"data": data, "seed": seed, "step": step, "accuracy": acc,
                         "vs_teacher": acc - base})
    return pd.DataFrame(rows, columns=columns).sort_values(["data", "seed"], kind="stable").reset_index(drop=True)


BAN_CAPTION = (
    "Each line is one seed's chain: the label-trained teacher (generation 0), the born-again generations — each "
    "from a fresh random initialisation (a seed of its own: the chain's seed + 1000·k), trained on the previous "
    "generation's outputs alone (T = 1, α = 1, as in the paper) — and the ensemble of generations 1..k. "
    "Furlanello et al. see generation 1 pass its teacher on CIFAR with networks trained to convergence; the "
    "summary above says what the stored chains show here, seed by seed.")


RUNS = "stored runs: each generation and ensemble, each seed"


def born_again_summary(frame: pd.DataFrame) -> str:
    """What the stored seeds show overall (does the paper's "more accurate than its teacher" hold here?), then one
    sentence per data set: how often each step passed its teacher, and by how much on average."""
    if frame.empty:
        return ""
    steps = frame[frame["step"] != BAN_ORDER[0]]
    passed, n = int((steps["vs_teacher"] > 0).sum()), len(steps)
    if passed == 0:
        lead = f"**Here no born-again network beats its teacher** (0 of {n} {RUNS})."
    elif passed == n:
        lead = f"**Here every born-again network beats its teacher** ({n} of {n} {RUNS})."
    else:
        lead = f"**Here {passed} of {n} beat their teacher** ({RUNS})."
    lines = [lead]
    for data, d in frame.groupby("data", sort=True):
        parts = []
        for step in BAN_ORDER[1:]:
            s = d[d["step"] == step]
            if s.empty:
                continue
            parts.append(f"{step} beats its teacher on {int((s['vs_teacher'] > 0).sum())} of {len(s)} seeds "
                         f"({s['vs_teacher'].mean():+.2f} points on average)")
        lines.append(f"**{data}:** " + "; ".join(parts) + ".")
    return "  \n".join(lines)


SUBCLASS_INTRO = f"""
**What the teacher invented.** The subclass teacher below was only ever told the class ("this is a 7"); it
had to spread each class over its s outputs, and how it split them is its own invention. Each test image of
a class is put into the subclass that scores highest within that class; shown are the images the teacher
puts there most confidently, and each subclass's share of the class's test images. Whether the columns
differ in a way you can name is for you to judge: nobody told the teacher what they should mean.

With ten classes the auxiliary loss at the authors' temperature (1) leaves most classes in one subclass: the
class outputs already make two examples of different classes look unlike each other, so the loss gains little by
splitting a class. A lower temperature sharpens it onto the most similar pairs — examples of the same class —
and the authors' code says it is "usually less than 1". Each ten-class teacher uses the temperature a small
sweep picked for its data set (MNIST {data_pair('mnist').subclass_aux_temperature:g}, Fashion-MNIST
{data_pair('fashion_mnist').subclass_aux_temperature:g}: most classes split — README, *The subclass
teacher's auxiliary temperature*); splitting costs the teacher some accuracy, the sweep's table shows how much.
"""
SUBCLASS_MISSING = (
    "No subclass examples are stored yet. They are made from a trained MNIST subclass teacher (weights are not "
    "shipped): `python -m kdcore precompute --only methods,subclass-examples` trains it and saves the pictures in "
    "precompute's store, which the app reads when `KD_STORE_DIR` names it (add `,export` to ship them in "
    "assets/store, which the app always reads).")


SUBCLASS_DEMOS: dict[str, str] = {
    "mnist_binary": "MNIST 0–4 vs 5–9 — the paper's demo (2 classes × 5 subclasses)",
    "mnist": "MNIST (10 classes × 2 subclasses)",
    "fashion_mnist": "Fashion-MNIST (10 classes × 2 subclasses)",
}
SUBCLASS_BINARY_INTRO = """
**The authors' own demonstration** (Müller, Kornblith & Hinton; their notebook uses this course's CNN, Adam,
batch 256, 12 epochs): MNIST collapsed to two classes, digits 0–4 vs 5–9, and a teacher with 5 subclasses per
class. The teacher is never shown a digit label — only "low" or "high" — yet its auxiliary loss makes it spread
each class over its subclasses, and the subclasses it invents can be compared with the digits it never saw:
*purity* is the share of a class's test images whose subclass's commonest digit is their own (1 = every
subclass is one digit; a teacher that put a whole class into one subclass would score the commonest digit's
share, about 0.2).
"""


def subclass_purity_line(examples: SubclassExamples) -> str:
    """E.g. "Digit purity of the subclasses: 0–4: 0.65, 5–9: 0.45 (one subclass per class would score 0.21 / 0.20)"
    — from the stored artefact's counts; "" when the data set has no finer labels."""
    purity, single = examples.purity(), examples.one_subclass_purity()
    if purity is None or single is None:
        return ""
    got = ", ".join(f"{c}: {p:.2f}" for c, p in zip(examples.classes, purity, strict=True))
    base = " / ".join(f"{p:.2f}" for p in single)
    return (f"Digit purity of the subclasses — {got} (a teacher putting each class into one subclass would score "
            f"{base}).")


def subclass_students(dataset: str = "mnist_binary", results: list[dict] | None = None) -> pd.DataFrame:
    """The course MLP on ``dataset`` trained from scratch, by Hinton KD and by subclass distillation, and the two
    teachers: test accuracy in %, mean ± std over the stored seeds (one row each; ``seeds`` lists them).
    Only full-data runs at the course settings of today's engine (no ``train_limit``, no stale results; T, α and
    the schedule of the course, the data set's default subclass teacher), so each row compares like with like."""
    from kdcore.course import course_student, course_teacher
    from kdcore.engine import is_stale
    from kdcore.subclass_examples import is_default_teacher
    from kdcore.views.results import stored_results

    results = stored_results() if results is None else results
    course = course_student(dataset, "hinton")
    hidden = list(course.hidden or ())

    def course_settings(cfg: dict) -> bool:  # like with like: the course's T, α and schedule, default subclasses
        if cfg.get("method") in ("hinton", "subclass") and (
                cfg.get("temperature") != course.temperature or cfg.get("alpha") != course.alpha):
            return False
        schedule = {"student_mlp": course, "teacher_cnn": course_teacher(dataset)}.get(str(cfg.get("arch")))
        if schedule is not None and (cfg.get("epochs"), cfg.get("lr"), cfg.get("batch_size")) != (
                schedule.epochs, schedule.lr, schedule.batch_size):
            return False  # e.g. the early-stopped (3-epoch) teacher is not "the teacher"
        teacher = cfg if cfg.get("method") == "subclass_teacher" else cfg.get("teacher") or {}
        return teacher.get("method") != "subclass_teacher" or is_default_teacher(teacher)

    roles = {("student_mlp", "scratch"): "student from scratch", ("student_mlp", "hinton"): "Hinton KD student",
             ("student_mlp", "subclass"): "subclass-distilled student", ("teacher_cnn", "scratch"): "teacher (labels)",
             ("teacher_cnn", "subclass_teacher"): "subclass teacher"}
    rows: dict[str, list[tuple[int, float]]] = {}
    for r in results:
        cfg = r.get("config", {})
        role = roles.get((cfg.get("arch"), cfg.get("method")))
        if (r.get("dataset") != dataset or role is None or cfg.get("train_limit") or is_stale(r)
                or (cfg.get("arch") == "student_mlp" and list(cfg.get("hidden") or ()) != hidden)
                or not course_settings(cfg)):
            continue
        rows.setdefault(role, []).append((int(cfg.get("seed", 0)), 100 * float(r["metrics"]["accuracy"])))
    out = []
    for role in roles.values():
        if role in rows:
            seeds, acc = zip(*sorted(rows[role]), strict=True)
            a = np.array(acc)
            out.append({"model": role, "accuracy": a.mean(), "std": a.std(ddof=1) if len(a) > 1 else float("nan"),
                        "seeds": ", ".join(map(str, seeds))})
    return pd.DataFrame(out, columns=["model", "accuracy", "std", "seeds"])


def subclass_demo(dataset: str = "mnist") -> SubclassExamples | None:
    """Example test images per (class, subclass) of a stored subclass teacher (:mod:`kdcore.subclass_examples`),
    read from the user store or the shipped artefacts; None when none were made."""
    from kdcore.subclass_examples import load_subclass_examples

    return load_subclass_examples(dataset)


__all__ = ["SUBCLASS_BINARY_INTRO", "SUBCLASS_DEMOS", "subclass_purity_line", "subclass_students",
           "ATTENTION_MISSING", "AT_ROWS", "BAN_CAPTION", "BAN_MISSING", "BAN_ORDER", "born_again_generations",
           "born_again_summary", "COURSE_METHODS", "HINT_CAPTION", "HINT_MISSING", "INTRO", "SUBCLASS_INTRO",
           "SUBCLASS_MISSING", "AttentionComparison", "CourseMethod", "MethodInfo", "attention_comparison",
           "fitnet_hint_history", "method_catalog", "method_info", "subclass_demo"]
