"""One rule that names and groups stored results; every page, ``python -m kdcore report`` and the board use it.

**Grouping.** Results are summarised as mean ± std only when everything but the seed is equal: the config with
every seed removed (its teacher chain's too: a born-again generation has a seed of its own), the data source it
was measured on, and whether an older engine made it (:mod:`kdcore.engine`). :func:`group_key` is that identity;
:func:`group_results` builds the :class:`Group` s, and :meth:`Group.words` is the one way a group's figure is
written ("89.96 ± 0.09", "88.20 (one run)"), so two pages that show a group print the same string.

**Naming.** :func:`run_label` names the network ("MLP 784-784 student", "small CNN student", "teacher CNN"), the
method, T and α where the method uses them, and every setting in which the run differs from its method's
default job (the job the lab and ``distill`` build for that network: :meth:`kdcore.methods.Method.job` of the
course teacher): β, warm-up, aux temperature, width, schedule, epochs, data limits, data source. A method's swept
settings are always named, "(default)" marking the cell its method uses ("DKD, T = 4, β = 1, warm-up 6
(default)"). Two groups of one data set never share a label (``tests/test_groups_agree.py``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from kdcore.config import MHIST_STAGE1_EPOCHS, MHIST_STAGE2_EPOCHS, ConfigError, JobConfig
from kdcore.data.pairs import DATA_PAIRS

# The network, in the words the course uses for it.
NETWORK_WORDS = {"teacher_cnn": "teacher CNN", "student_cnn": "small CNN student", "student_mlp": "MLP student",
                 "resnetv2_50": "ResNetV2-50", "mobilenet_v2": "MobileNetV2", "resnet18": "ResNet-18"}
# A method's short name in a label (an unknown one: its Method.title).
METHOD_WORDS = {"scratch": "from scratch", "hinton": "Hinton KD", "dkd": "DKD", "fitnet": "FitNets",
                "attention": "attention transfer", "subclass": "subclass distillation",
                "subclass_teacher": "subclass teacher", "born_again": "born-again", "ban_ensemble": "BAN ensemble",
                "takd": "teacher-assistant KD", "early_stopped": "KD from an early-stopped teacher"}
# A setting's words (``method_params`` names); any other is written as its name.
SETTING_WORDS = {"dkd_beta": "β", "dkd_warmup": "warm-up", "dkd_alpha": "TCKD weight", "dkd_ce_weight": "CE weight",
                 "aux_temperature": "aux temperature", "aux_weight": "aux weight", "subclasses": "subclasses per class",
                 "width": "width", "stage1_epochs": "head epochs", "stage2_epochs": "fine-tuning epochs",
                 "micro_batch": "micro-batch", "class_weighted": "class-weighted loss", "hint_layer": "hint layer",
                 "guided_layer": "guided layer", "beta": "β", "at_p": "p", "at_layers": "layers",
                 "fitnet_stage1_epochs": "hint-stage epochs"}
# The settings a method's sweep varies: named on every run of it, so each sweep cell reads differently.
SWEPT = {"dkd": ("dkd_beta", "dkd_warmup"), "subclass_teacher": ("aux_temperature",)}


def strip_seeds(cfg: dict | None) -> dict | None:
    """A config dict without its seeds (the teacher chain's too): what the seed repeats of one setting share."""
    if cfg is None:
        return None
    out = {**{k: v for k, v in cfg.items() if k != "seed"}, "teacher": strip_seeds(cfg.get("teacher"))}
    if cfg.get("start_from") is not None:  # a compression job: the model it starts from has its seeds too
        out["start_from"] = strip_seeds(cfg["start_from"])
    return out


def digest(cfg: dict | None, source_id: str | None, stale: bool = False) -> str:
    """The id of (config without seeds, data source[, older engine])."""
    payload = {"c": strip_seeds(cfg), "d": source_id, **({"stale": True} if stale else {})}
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def group_key(result: dict) -> str:
    """The group a stored result belongs to: its config minus every seed, its data source, and whether an
    older engine made it (a stale result never pools with today's)."""
    from kdcore.engine import is_stale

    return digest(result.get("config"), result.get("data_source_id"), stale=is_stale(result))


# ---- naming -----------------------------------------------------------------------------------------
def _num(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def network_words(cfg: dict) -> str:
    """The network a config trains, e.g. "MLP 784-784 student", "small CNN student, width 16", "teacher CNN"."""
    arch = str(cfg.get("arch", "?"))
    if arch == "student_mlp":
        return f"MLP {'-'.join(str(h) for h in cfg.get('hidden', []))} student"
    words = NETWORK_WORDS.get(arch, arch)
    if arch == "student_cnn":
        from kdcore.views.form import DEFAULT_CNN_WIDTH

        width = dict(tuple(p) for p in cfg.get("method_params", [])).get("width", DEFAULT_CNN_WIDTH)
        if int(width) != DEFAULT_CNN_WIDTH:
            words += f", width {width}"
    return words


def _generation(cfg: dict | None) -> int:
    """k of a born-again generation-k config dict (0 for its label-trained teacher)."""
    if not cfg or cfg.get("method") != "born_again":
        return 0
    return 1 + _generation(cfg.get("teacher"))


def _method_words(cfg: dict) -> str:
    method = str(cfg.get("method", "?"))
    if method == "born_again":
        return f"born-again generation {_generation(cfg)}"
    if method == "ban_ensemble":
        return f"BAN ensemble of generations 1–{_generation(cfg.get('teacher'))}"
    if method in METHOD_WORDS:
        return METHOD_WORDS[method]
    try:
        from kdcore.methods import get_method

        return get_method(method).title
    except ConfigError:
        return method


def _params(cfg: dict | None) -> dict:
    return dict(tuple(p) for p in (cfg or {}).get("method_params", []))


def _code_defaults() -> dict[str, object]:
    """What a job without the setting means (the value each method's code reads by default)."""
    from kdcore.methods import dkd, subclass
    from kdcore.views.form import DEFAULT_CNN_WIDTH

    return {"dkd_beta": dkd.DEFAULT_BETA, "dkd_warmup": dkd.DEFAULT_WARMUP, "aux_temperature":
            subclass.LOSS_AUX_TEMPERATURE, "subclasses": subclass.DEFAULT_SUBCLASSES, "width": DEFAULT_CNN_WIDTH,
            "stage1_epochs": MHIST_STAGE1_EPOCHS, "stage2_epochs": MHIST_STAGE2_EPOCHS}


@lru_cache(maxsize=512)
def _default_job_json(cfg_json: str) -> str | None:
    """The default job of a config's method for its network (seeds dropped), as JSON; None when there is none."""
    from kdcore.course import course_student, course_teacher
    from kdcore.methods import get_method

    cfg = JobConfig.from_dict(json.loads(cfg_json))
    ds = cfg.dataset
    if ds not in DATA_PAIRS:
        return None
    schedule: dict = {}
    if DATA_PAIRS[ds].pipeline_params:  # the stand-in pipeline's short schedule (kdcore.course.pipeline_jobs)
        schedule = dict(DATA_PAIRS[ds].pipeline_params)
    try:
        method = get_method(cfg.method)
        teacher = course_teacher(ds, seed=cfg.seed, method_params=tuple(schedule.items()))
        own = {k: v for k, v in cfg.method_params if k == "width"}
        student = course_student(ds, "scratch", seed=cfg.seed, arch=cfg.arch, hidden=cfg.hidden,
                                 temperature=cfg.temperature, alpha=cfg.alpha,
                                 method_params=tuple({**schedule, **own}.items()))
        if cfg.teacher is None and cfg.method == "scratch":
            default = teacher if cfg.arch == teacher.arch else student
        elif cfg.method == "subclass_teacher":  # the subclass method's own teacher
            default = get_method("subclass").jobs(teacher, student)[0]
        else:
            default = method.job(teacher, student)
    except (ConfigError, KeyError, ValueError):
        return None
    return json.dumps(strip_seeds(default.to_dict()), sort_keys=True)


def default_job(cfg: dict) -> dict | None:
    """:func:`_default_job_json` as a dict (seeds dropped)."""
    text = _default_job_json(json.dumps(cfg, sort_keys=True))
    return None if text is None else json.loads(text)


def is_default(cfg: dict) -> bool:
    """Whether a run is its method's default job for its network (T and α at the method's own defaults too)."""
    from kdcore.views.form import form_defaults

    try:
        f = form_defaults(str(cfg.get("method")))
    except ConfigError:
        return False
    if cfg.get("teacher") is not None and (float(cfg.get("temperature", 0)) != float(f["T"])  # type: ignore[arg-type]
                                           or float(cfg.get("alpha", 0)) != float(f["alpha"])):  # type: ignore[arg-type]
        return False
    return default_job(cfg) == strip_seeds(cfg)


def _setting_words(name: str, value: object) -> str:
    if name == "subclasses":
        return f"{_num(value)} subclasses per class"
    if name in ("stage1_epochs", "stage2_epochs", "fitnet_stage1_epochs"):
        n = int(value)  # type: ignore[call-overload]
        return f"{n} {SETTING_WORDS[name].replace('epochs', 'epoch' if n == 1 else 'epochs')}"
    if name == "dkd_warmup":
        return f"warm-up {_num(value)}"
    if name in ("dkd_beta", "beta"):
        return f"β = {_num(value)}"
    return f"{SETTING_WORDS.get(name, name)} {_num(value)}"


# a config field's words ("1 epochs" is written "1 epoch": _differences)
FIELD_WORDS = {"epochs": "{} epochs", "batch_size": "batch {}", "lr": "learning rate {}",
               "train_limit": "first {} training images", "test_limit": "first {} test images",
               "data_source": "data: {}", "data_dir": "data folder {}", "l1": "L1 penalty λ = {}"}


def _differences(cfg: dict, default: dict | None) -> list[str]:
    """Words for every field and setting in which ``cfg`` differs from ``default`` (neither network nor T/α:
    the label names those itself; nor the teacher: see :func:`run_label`)."""
    if default is None:
        return []
    out = []
    for name, words in FIELD_WORDS.items():
        if cfg.get(name) != default.get(name):
            value = cfg.get(name)
            if value is None:
                out.append(f"no {name.replace('_', ' ')}")
            else:
                out.append(words.format(_num(value)).replace("1 epochs", "1 epoch") if value == 1 else
                           words.format(_num(value)))
    mine, theirs = _params(cfg), _params(default)
    method = str(cfg.get("method"))
    swept = SWEPT.get(method, ())
    for name in sorted(set(mine) | set(theirs)):
        if name in swept or name == "width":  # swept: named below, in order; width: in the network's words
            continue
        if mine.get(name) != theirs.get(name):
            out.append(_setting_words(name, mine[name]) if name in mine else f"{SETTING_WORDS.get(name, name)} unset")
    if (cfg.get("extra") or []) != (default.get("extra") or []):
        out += [f"{k} {_num(v)}" for k, v in cfg.get("extra") or []]
    return out


def _swept_words(cfg: dict, default: dict | None) -> tuple[list[str], bool]:
    """The method's swept settings in words, and whether they are all the default job's."""
    swept = SWEPT.get(str(cfg.get("method")), ())
    if not swept:
        return [], False
    code = _code_defaults()
    mine, theirs = _params(cfg), _params(default)
    words, same = [], default is not None
    for name in swept:
        value = mine.get(name, code.get(name))
        # unset where the default job sets it: an older job meaning the code's own value (its own group)
        words.append(_setting_words(name, value) + (" (unset)" if name not in mine and name in theirs else ""))
        same = same and value == theirs.get(name, code.get(name)) and (name in mine) == (name in theirs)
    return words, same


def _temperature_words(cfg: dict) -> list[str]:
    """T and α where the method reads them (the lab form's rule: :func:`kdcore.views.lab.uses_temperature`)."""
    from kdcore.views.form import uses_alpha, uses_temperature

    if cfg.get("teacher") is None:
        return []
    method = str(cfg.get("method"))
    t, a = float(cfg.get("temperature", 0)), float(cfg.get("alpha", 0))
    try:
        words = [f"T = {t:g}"] if uses_temperature(method, a) else []
        return words + ([f"α = {a:g}"] if uses_alpha(method) else [])
    except ConfigError:  # a method this build does not know: both, as stored
        return [f"T = {t:g}", f"α = {a:g}"]


def compression_words(cfg: dict) -> str:
    """One compression step in words (a compression job's own transform, not its start's), as the Compress page
    and the README table name it (:func:`kdcore.compress.results.step_label`), e.g. "prune 90% + 2-ep fine-tune
    (KD)", "int8", "weight sharing 4-bit"."""
    from kdcore.compress.results import step_label

    return step_label({**dict(cfg.get("compress") or []), "finetune_method": cfg.get("method")})


def run_label(cfg: dict) -> str:
    """A run's name in words (see the module docstring), e.g. "MLP 784-784 student · DKD, T = 4, β = 1, warm-up 6
    (default)", "teacher CNN, 3 epochs", "ResNetV2-50 · subclass teacher, 2 subclasses per class"; a compression
    job: its start model's name → each step (:func:`compression_words`)."""
    if cfg.get("start_from") is not None:
        return f"{run_label(cfg['start_from'])} → {compression_words(cfg)}"
    default = default_job(cfg)
    network = network_words(cfg)
    is_teacher = cfg.get("teacher") is None and cfg.get("method") == "scratch" and \
        cfg.get("arch") in ("teacher_cnn", "resnetv2_50")
    parts = [] if is_teacher else [_method_words(cfg)]
    parts += _temperature_words(cfg)
    swept, same = _swept_words(cfg, default)
    parts += swept
    parts += _differences(cfg, default)
    teacher = cfg.get("teacher")
    if teacher is not None and cfg.get("method") not in ("born_again", "ban_ensemble"):
        t_default = (default or {}).get("teacher")
        t_words = _swept_words(teacher, t_default)[0] if str(cfg.get("method")) == "subclass" else []
        own = set(parts)  # what the student already says (e.g. the tiny caps): not repeated for its teacher
        t_words += [w for w in _differences(teacher, t_default) if w not in own]
        if t_default is not None and teacher.get("arch") != t_default.get("arch"):
            t_words.insert(0, network_words(teacher))
        if t_words:
            parts.append("its teacher: " + ", ".join(t_words))
    text = network + (" · " if parts and not is_teacher else ", " if parts else "") + ", ".join(parts)
    if swept and same and not _differences(cfg, default):
        text += " (default)"
    return text


# ---- grouping ---------------------------------------------------------------------------------------
PERCENT = ("accuracy", "macro_f1", "f1", "auc")


def stat(values: Sequence[float]) -> tuple[float, float | None, int]:
    """(mean, sample std or None for one value, n) of ``values``; (nan, None, 0) for none."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return math.nan, None, 0
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return mean, None, 1
    return mean, math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)), len(vals)


def stat_words(values: Sequence[float], digits: int = 2) -> str:
    """"89.96 ± 0.09" (mean ± sample std over seeds), "88.20 (one run)", or "–" when there is nothing."""
    mean, std, n = stat(values)
    if n == 0:
        return "–"
    if std is None:
        return f"{mean:.{digits}f} (one run)"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def seeds_words(seeds: Iterable[int]) -> str:
    s = sorted(int(x) for x in seeds)
    return ("seed " if len(s) == 1 else "seeds ") + ", ".join(map(str, s))


@dataclass(frozen=True)
class Group:
    """The stored results of one setting (everything but the seed equal), seeds ascending."""

    key: str
    label: str
    results: tuple[dict, ...]

    @property
    def config(self) -> dict:
        return self.results[0].get("config", {})

    @property
    def dataset(self) -> str:
        return str(self.results[0].get("dataset", self.config.get("dataset")))

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(int(r.get("seed", r.get("config", {}).get("seed", 0))) for r in self.results)

    def values(self, metric: str = "accuracy") -> list[float]:
        """``metric`` of each member (accuracy, F1, AUC in %; others as stored), in seed order."""
        scale = 100.0 if metric in PERCENT else 1.0
        out = []
        for r in self.results:
            v = r.get("metrics", {}).get(metric)
            out.append(math.nan if v is None else scale * float(v))
        return out

    def stat(self, metric: str = "accuracy") -> tuple[float, float | None, int]:
        return stat(self.values(metric))

    def words(self, metric: str = "accuracy", digits: int = 2) -> str:
        return stat_words(self.values(metric), digits)

    def by_seed(self, metric: str = "accuracy") -> dict[int, float]:
        return dict(zip(self.seeds, self.values(metric), strict=True))


def _seed_of(r: dict) -> int:
    return int(r.get("seed", r.get("config", {}).get("seed", 0)))


def group_results(results: Iterable[dict]) -> list[Group]:
    """The stored ``results`` as :class:`Group` s, in first-seen order; one result per seed (of two stored for one
    seed, the first listed: the user's layer comes before the shipped one)."""
    members: dict[str, dict[int, dict]] = {}
    for r in results:
        members.setdefault(group_key(r), {}).setdefault(_seed_of(r), r)
    return [Group(key, run_label(next(iter(m.values())).get("config", {})),
                  tuple(m[s] for s in sorted(m))) for key, m in members.items()]


def group_of(result: dict, results: Iterable[dict]) -> Group:
    """The group of ``result`` among ``results`` (``result`` itself included even when not stored yet)."""
    key = group_key(result)
    same = [r for r in results if group_key(r) == key and _seed_of(r) != _seed_of(result)]
    return group_results([result, *same])[0]


__all__ = ["Group", "default_job", "digest", "group_key", "group_of", "group_results", "is_default",
           "compression_words", "network_words", "run_label", "seeds_words", "stat", "stat_words", "strip_seeds"]
