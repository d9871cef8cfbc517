"""Finding compression results in a store (the page, the README table and the bench read them from here)."""

from __future__ import annotations

from kdcore.store import open_store


def compression_results(dataset: str | None = None, store: object | None = None) -> list[dict]:
    """Every stored compression result (one with ``compression`` and ``deploy``), of ``dataset`` if given,
    shipped ones included (open_store layers assets/store under the user's store)."""
    store = store or open_store()
    return [r for r in store.list()  # type: ignore[attr-defined]
            if "compression" in r and "deploy" in r and (dataset is None or r.get("dataset") == dataset)]
