"""The method registry, written out by hand (no import-time decorator magic).

Each entry maps a method name (``JobConfig.method``) to a :class:`LossSpec`: how to build the loss
for a job, whether it needs a teacher, and what it is. Add a method = add a module + one entry.
"""

from __future__ import annotations

from kdcore.losses.attention import attention_map, build_attention
from kdcore.losses.base import Batch, LossSpec
from kdcore.losses.born_again import BornAgainKD, no_training_loss
from kdcore.losses.dkd import build_dkd
from kdcore.losses.early_stop import EarlyStoppedKD
from kdcore.losses.fitnet import build_fitnet
from kdcore.losses.hinton import HintonKD, soft_target_kl
from kdcore.losses.scratch import CrossEntropy
from kdcore.losses.subclass import build_subclass_kd, build_subclass_teacher, class_logits_from_subclass
from kdcore.losses.takd import TeacherAssistantKD

LOSSES: dict[str, LossSpec] = {
    "scratch": LossSpec(
        build=lambda config, student, teacher: CrossEntropy(),
        needs_teacher=False,
        title="From scratch (labels only)",
        summary="Cross-entropy on the true labels; the baseline every KD method must beat.",
    ),
    "hinton": LossSpec(
        build=lambda config, student, teacher: HintonKD(config.temperature, config.alpha),
        needs_teacher=True,
        title="Hinton KD (soft targets)",
        summary="Match the teacher's temperature-softened probabilities (KL · T²), mixed with label CE.",
    ),
    # ---- issue 5: beyond Hinton (one module each; see the module docstrings) ----------------
    "fitnet": LossSpec(
        build=build_fitnet,
        needs_teacher=True,
        title="FitNets (hints)",
        summary="A regressor maps a student layer onto a teacher layer (the hint); hint loss β·½‖r(f_S)−f_T‖² "
        "plus Hinton KD, optionally after k hint-only epochs. On the fully connected student use a vector "
        "hint: hint_layer=fc, guided_layer=fc1.",
        teacher_features=True,
        fc_student_ok=True,
    ),
    "attention": LossSpec(
        build=build_attention,
        needs_teacher=True,
        title="Attention transfer",
        summary="Match the teacher's normalised spatial attention maps Σ_c|A_c|² layer by layer (+ CE, + KD if "
        "alpha > 0). Needs spatial feature maps: CNN students only.",
        teacher_features=True,
        fc_student_ok=False,
    ),
    "dkd": LossSpec(
        build=build_dkd,
        needs_teacher=True,
        title="Decoupled KD (DKD)",
        summary="KD split into target-class (TCKD, weight dkd_alpha) and non-target-class (NCKD, weight "
        "dkd_beta) parts, plus CE; alpha is not used.",
    ),
    "subclass_teacher": LossSpec(
        build=build_subclass_teacher,
        needs_teacher=False,
        title="Subclass teacher (training)",
        summary="Train a teacher with s invented subclasses per class: CE on summed subclass probabilities plus "
        "an auxiliary loss that spreads examples over the subclasses. The network has C·s outputs.",
    ),
    "subclass": LossSpec(
        build=build_subclass_kd,
        needs_teacher=True,
        title="Subclass distillation",
        summary="The student (C·s outputs) matches the subclass teacher's C·s probabilities (KL · T²) plus "
        "class-level CE; more dark knowledge when there are few classes.",
    ),
    "born_again": LossSpec(
        build=lambda config, student, teacher: BornAgainKD(config.temperature, config.alpha),
        needs_teacher=True,
        title="Born-again networks",
        summary="Student = teacher's architecture, trained on the previous generation's outputs (paper: "
        "alpha = 1, T = 1); generations 1..k and their ensemble.",
    ),
    "ban_ensemble": LossSpec(
        build=no_training_loss,
        needs_teacher=True,
        title="Born-again ensemble (BAN-E)",
        summary="No training of its own: the average of born-again generations 1..k's class probabilities "
        "(here k = 2), scored like any model; it costs k networks at test time.",
        trains=False,
    ),
    "takd": LossSpec(
        build=lambda config, student, teacher: TeacherAssistantKD(config.temperature, config.alpha),
        needs_teacher=True,
        title="Teacher-assistant KD",
        summary="Hinton KD whose teacher is an intermediate-size assistant, itself distilled from the big "
        "teacher: bridges a large teacher–student gap.",
    ),
    "early_stopped": LossSpec(
        build=lambda config, student, teacher: EarlyStoppedKD(config.temperature, config.alpha),
        needs_teacher=True,
        title="Early-stopped teacher",
        summary="Hinton KD from a teacher trained for fewer epochs: less overfit, more teachable.",
    ),
}

__all__ = [
    "LOSSES", "Batch", "CrossEntropy", "HintonKD", "LossSpec", "attention_map", "class_logits_from_subclass",
    "soft_target_kl",
]
