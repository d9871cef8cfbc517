"""Registries that refuse unknown names, naming the known ones: CLI subcommands, precompute parts, bench sections;
and the loss protocol, checked where a Method is built."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from kdcore.cli import COMMANDS, build_parser
from kdcore.cli import main as cli_main


def test_every_subcommand_of_the_parser_has_its_handler_and_no_handler_is_unreachable() -> None:
    [sub] = [a for a in build_parser()._actions if a.dest == "cmd"]
    assert set(sub.choices) == set(COMMANDS)


def test_an_unknown_subcommand_is_refused_naming_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        cli_main(["nosuchcommand"])
    assert e.value.code == 2 and "distill" in capsys.readouterr().err


def test_an_unknown_precompute_part_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    from kdcore.precompute import PARTS

    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "work"))
    assert cli_main(["precompute", "--only", "mnist,nosuchpart"]) == 2
    err = capsys.readouterr().err
    assert "'nosuchpart'" in err and all(name in err for name in PARTS) and "Traceback" not in err
    assert not (tmp_path / "work").exists()  # not even the working store was opened


def test_the_parts_are_one_registry_read_by_the_default_run_and_the_listing(capsys: pytest.CaptureFixture[str]) -> None:
    from kdcore.precompute import PARTS, check_parts

    assert all(part.name == name and part.summary for name, part in PARTS.items())
    default = check_parts(())
    assert "export" in default and "stale" not in default and "predictions" not in default
    assert check_parts(["export", "mnist"]) == ("export", "mnist")
    assert cli_main(["precompute", "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listing] == list(PARTS)


def test_precompute_runs_the_parts_asked_for_in_the_registry_s_order(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    import dataclasses

    from kdcore import precompute as pc

    ran: list[str] = []
    monkeypatch.setenv("KD_STORE_DIR", str(tmp_path / "work"))
    monkeypatch.setattr(pc, "PARTS", {n: dataclasses.replace(p, run=lambda r, n=n: ran.append((n, r.parts)))
                                      for n, p in pc.PARTS.items()})
    pc.precompute(only=["export", "mnist"])
    assert ran == [("mnist", ("export", "mnist")), ("export", ("export", "mnist"))]


def test_an_unknown_bench_section_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    from kdcore.bench import SECTIONS

    out = tmp_path / "bench.json"
    assert cli_main(["bench", "--only", "engine,nosuch", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "'nosuch'" in err and all(name in err for name in SECTIONS)
    assert not out.exists()


def test_each_bench_section_has_its_run_and_targets_and_the_table_checks_only_the_sections_run() -> None:
    from kdcore.bench import SECTIONS, markdown_table, section

    for name in SECTIONS:
        module = section(name)
        assert callable(module.run) and module.TARGETS, name
    table = markdown_table({"quick": True, "machine": {"cpus": 2},
                            "engine": {"ratio_kd_cached_vs_scratch": 1.05, "heap_policy_vs_default": 1.3},
                            "runner": {"classroom": {"lost": 0, "peak_rss_bytes": 2**30}}})
    assert "| engine | ratio_kd_cached_vs_scratch | 1.05 |" in table
    assert "| runner | classroom.peak_rss_mb | 1024 |" in table  # bytes get an MB twin
    assert "| kd_cached_epoch_s <= 1.15 x scratch_epoch_s | 1.05 | yes |" in table
    assert "| heap policy: KD epoch <= 1.1 x glibc defaults | 1.3 | NO |" in table
    assert "| 30 users: no request lost | 0 | yes |" in table
    assert "MHIST" not in table and "app:" not in table  # sections not run: their targets left out


# ---- the loss protocol -----------------------------------------------------------------------------
class _Terms(nn.Module):
    def forward(self, student_out, teacher_out, batch):  # noqa: ANN001, ANN201
        return {"ce": student_out.logits.sum() * 0}


def _method(loss_class: type, **kw: object):  # noqa: ANN202 - a Method
    from kdcore.methods.base import Method

    return Method(name="probe", title="Probe", summary="a test method", loss=lambda c, s, t: loss_class(),
                  loss_class=loss_class, **kw)


def test_a_method_whose_loss_keeps_the_protocol_is_built() -> None:
    class Warm(_Terms):
        def on_epoch_start(self, epoch: int) -> None:
            self.epoch = epoch

    assert _method(Warm).loss_class is Warm


@pytest.mark.parametrize("hook", ["on_epoch_begin", "logits_terms"])
def test_a_misspelt_hook_is_refused_where_the_method_is_built(hook: str) -> None:
    bad = type("Bad", (_Terms,), {hook: lambda self, *a: None})
    with pytest.raises(TypeError, match=f"probe.*Bad.{hook} is never called"):
        _method(bad)


def test_a_hook_with_the_wrong_arguments_is_refused() -> None:
    class NoEpoch(_Terms):
        def on_epoch_start(self) -> None:
            pass

    with pytest.raises(TypeError, match="on_epoch_start must take 1 argument"):
        _method(NoEpoch)


def test_a_feature_method_offered_on_mhist_needs_logit_terms_and_a_loss_is_a_module() -> None:
    with pytest.raises(TypeError, match="no logit_terms"):
        _method(_Terms, teacher_features=True, mhist_note="")
    assert _method(_Terms, teacher_features=True).teacher_features  # not on the MHIST page: no head-only stage
    with pytest.raises(TypeError, match="not an nn.Module"):
        _method(dict)


def test_the_loop_calls_the_epoch_hook_of_the_protocol() -> None:
    from kdcore.train.loop import FitSpec, fit

    class Seen(_Terms):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(1, 1)
            self.epochs: list[int] = []

        def on_epoch_start(self, epoch: int) -> None:
            self.epochs.append(epoch)

    from kdcore.models.contract import ModelOutput

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> ModelOutput:
            return ModelOutput(self.fc(x.flatten(1).float()), {})

    loss = Seen()
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    rows = fit(Net(), loss, x, y, x, y, FitSpec(epochs=3, batch_size=4, lr=1e-3, seed=0, device=torch.device("cpu")))
    assert loss.epochs == [0, 1, 2] and len(rows) == 3


def test_what_the_bench_runs_as_the_app_names_what_the_app_has() -> None:
    """The bench never imports the views: its app-like children run code naming them. That code compiles, and every
    module and function it names exists (a renamed view would otherwise fail only when someone benchmarks)."""
    import ast
    import importlib
    import importlib.util

    from kdcore.bench.app import _PLAYGROUND_TIMING
    from kdcore.bench.child import APP_PRELUDE

    for code in (APP_PRELUDE, _PLAYGROUND_TIMING):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("kdcore"):
                module = importlib.import_module(node.module)
                assert all(hasattr(module, a.name) for a in node.names), node.module
    named = ast.literal_eval(APP_PRELUDE.split("for _name in ", 1)[1].split(":", 1)[0])
    assert all(importlib.util.find_spec(name) is not None for name in named if name.startswith("kdcore"))
