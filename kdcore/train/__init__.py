"""Training: the one loop (:mod:`kdcore.train.loop`) and the job entry point (:mod:`kdcore.train.job`)."""

from kdcore.train.job import job_key, load_model, run_job, teacher_train_logits
from kdcore.train.loop import JobCancelled, fit, pick_device, predict_logits

__all__ = ["JobCancelled", "fit", "job_key", "load_model", "pick_device", "predict_logits", "run_job", "teacher_train_logits"]
