"""The Learn page's method catalogue: every entry cites its own paper, never a library's docstring; the BAN
ensemble, which has no loss class, shows its citation, equation and the code that computes it."""

from __future__ import annotations

from pathlib import Path

import apphelpers
import pytest

from kdcore.methods import METHODS
from kdcore.views.learn import method_catalog, method_info


def test_ban_ensemble_shows_its_own_citation_equation_and_code() -> None:
    info = method_info("ban_ensemble")
    assert "Furlanello" in info.citation and "Born-Again Neural Networks" in info.citation and "ICML" in info.citation
    assert "Built-in" not in info.citation
    # the average of generations 1..K's class probabilities (σ(z_k)), as the engine's docstring writes it
    assert any(r"\frac{1}{K}" in eq and r"\sigma(z_k)" in eq for eq in info.equations), info.equations
    assert info.code_name == "kdcore.train.ensemble.compute_ban_ensemble"
    assert "def compute_ban_ensemble" in info.code and "def ban_ensemble_logits" in info.code


@pytest.mark.parametrize("key", list(METHODS))
def test_every_entry_cites_a_kdcore_source_with_code(key: str) -> None:
    info = method_info(key)
    assert info.citation and "Built-in" not in info.citation, (key, info.citation)
    assert info.code.lstrip().startswith(("class ", "def ")), key
    assert info.equations, key


def test_learn_page_shows_ban_e_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_app_caches: None) -> None:
    monkeypatch.setattr("kdcore.store.SHIPPED_STORE", tmp_path / "no-shipped")
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "store"))
    at = apphelpers.open_page("app_pages/learn.py")
    assert any(h.value == METHODS["ban_ensemble"].title for h in at.subheader)
    captions = " ".join(c.value for c in at.caption)
    assert "Built-in" not in captions and "Furlanello" in captions
    assert any("def compute_ban_ensemble" in c.value for c in at.code)
    assert not any("(source not available)" in c.value for c in at.code)
    assert len(method_catalog()) == len(METHODS)
