"""The KD losses: pure maths, one module per method (paper + equation in each docstring).

A loss is an ``nn.Module`` whose ``forward(student_out, teacher_out, batch)`` returns named terms. No
module here imports the job config, builds jobs or loads data: what a *method* is (its title, how its
loss is built from a job's settings, its checks and teacher arrangement) lives in :mod:`kdcore.methods`.
"""

from __future__ import annotations

from kdcore.losses.attention import AttentionTransfer, attention_map, attention_vector
from kdcore.losses.base import Batch
from kdcore.losses.born_again import BornAgainKD, ban_ensemble_logits
from kdcore.losses.dkd import DecoupledKD
from kdcore.losses.early_stop import EarlyStoppedKD
from kdcore.losses.fitnet import FitNetLoss
from kdcore.losses.hinton import HintonKD, soft_target_kl
from kdcore.losses.scratch import CrossEntropy
from kdcore.losses.sparse import L1Penalty
from kdcore.losses.subclass import SubclassKD, SubclassTeacherLoss, class_logits_from_subclass
from kdcore.losses.takd import TeacherAssistantKD

__all__ = [
    "AttentionTransfer", "Batch", "BornAgainKD", "CrossEntropy", "DecoupledKD", "EarlyStoppedKD", "FitNetLoss",
    "HintonKD", "L1Penalty", "SubclassKD", "SubclassTeacherLoss", "TeacherAssistantKD", "attention_map", "attention_vector",
    "ban_ensemble_logits", "class_logits_from_subclass", "soft_target_kl",
]
