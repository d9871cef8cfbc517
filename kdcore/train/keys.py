"""A job's store key (:func:`job_key`: config + data source + revisions + backbone weights) and the stored teacher a
student can learn from without training it (:func:`stored_teacher`). Apart from :mod:`kdcore.train.job` so that the
compression jobs (:mod:`kdcore.compress.job`), which run inside ``run_job``, can ask them without an import circle."""

from __future__ import annotations

from kdcore.config import JobConfig
from kdcore.data import ArrayDataset, load_dataset
from kdcore.data.pairs import data_pair
from kdcore.engine import key_part
from kdcore.methods import get_method
from kdcore.store import store_key
from kdcore.train.common import AnyStore, stored_logits, weights_id


def job_key(config: JobConfig, data: ArrayDataset | None = None) -> str:
    data = data or load_dataset(config.dataset, config.data_source, config.data_dir)
    tag = data.source_id
    if revised := key_part(config):  # a method of the chain changed its results since revision 1 (kdcore.engine)
        tag += f"|revisions={revised}"
    if data_pair(config.dataset).transfer:
        # which weights started the backbone (by content), so a result trained from random init is never served
        # when ImageNet weights are present, or the reverse; and the teacher's own key (its weights too)
        tag += f"|weights={weights_id(config)[0]}"
        if config.teacher is not None:
            tag += f"|teacher={job_key(config.teacher, data)}"
    return store_key(config, tag)


def stored_teacher(config: JobConfig, store: AnyStore, data: ArrayDataset | None = None) -> dict | None:
    """The stored result of ``config``'s teacher if ``config`` can learn from it without training it: one
    with weights, or — for a method that reads only the teacher's logits — one whose training-set logits
    are stored for these inputs (the course teachers' ship in assets/store, mostly without weights). None
    when the teacher must be trained (or there is none)."""
    if config.teacher is None:
        return None
    data = data or load_dataset(config.dataset, config.data_source, config.data_dir)
    teacher_key = job_key(config.teacher, data)
    if (hit := store.get(teacher_key, need_weights=get_method(config.teacher.method).trains)) is not None:
        return hit
    if get_method(config.method).teacher_features or data_pair(config.dataset).transfer:
        return None
    hit = store.get(teacher_key)
    if hit is None:
        return None
    limit = config.train_limit if config.train_limit and config.train_limit < len(data.x_train) else None
    if stored_logits(store, teacher_key, "train_logits", data.x_train) is None and (  # the whole set's, or
            limit is None or stored_logits(store, teacher_key, "train_logits", data.x_train[:limit]) is None):
        return None  # the prefix a limited job trains on (kdcore.train.common.teacher_train_logits)
    return hit
