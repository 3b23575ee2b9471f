"""Tests of ablation/config.py: ablation files, the planned runs, and every run's config checked
before any starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablation.config import check_all_runs, load_ablation, plan_runs, run_config
from simclr.config.recipes import RECIPES
from simclr.errors import ConfigError


def test_plan_of_grid_and_runs(tmp_path, write_ablation):
    path = write_ablation(
        tmp_path,
        grid={"encoder.name": ["resnet18", "resnet34"], "encoder.residual": [True, False]},
        runs=[{"name": "hot", "overrides": ["loss.temperature=1.0"]}],
    )
    names = [run.name for run in plan_runs(load_ablation(path))]
    assert names == [
        "base",
        "encoder.name=resnet18,encoder.residual=true",
        "encoder.name=resnet18,encoder.residual=false",
        "encoder.name=resnet34,encoder.residual=true",
        "encoder.name=resnet34,encoder.residual=false",
        "hot",
    ]


def test_an_ablation_needs_a_grid_or_runs(tmp_path, write_ablation):
    with pytest.raises(ConfigError, match="needs 'grid' or 'runs'"):
        load_ablation(write_ablation(tmp_path))


def test_a_grid_that_plans_no_runs_is_an_error(tmp_path, write_ablation, capsys):
    """An empty list in the grid made the sweep plan 0 runs, exit 0, and rank an empty table."""
    path = write_ablation(tmp_path, grid={"loss.temperature": []}, include_base=False)
    with pytest.raises(ConfigError, match=r"^grid.loss.temperature: an empty list of values"):
        plan_runs(load_ablation(path))
    path = write_ablation(tmp_path, grid={"loss.temperature": []})  # with the base: still refused
    from simclr.cli import main

    assert main(["ablate", "--config", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_run_names_must_be_unique(tmp_path, write_ablation):
    runs = [{"name": "same", "overrides": ["loss.temperature=0.1"]}, {"name": "same"}]
    with pytest.raises(ConfigError, match="repeated: same"):
        plan_runs(load_ablation(write_ablation(tmp_path, runs=runs)))


def test_overrides_change_the_ablation_files_keys_and_paths_are_from_the_file(
    tmp_path, write_ablation
):
    (tmp_path / "base.yaml").write_text("loss:\n  temperature: 0.2\n")
    path = write_ablation(tmp_path, base_config="base.yaml", runs=[{"name": "a"}])
    config = load_ablation(path, ["name=renamed", "include_base=false"])
    assert config.name == "renamed" and not config.include_base
    assert Path(config.base_config) == tmp_path / "base.yaml"
    (run,) = plan_runs(config)
    pretrain = run_config(config, run, tmp_path / "runs")
    assert pretrain.loss.temperature == 0.2  # the base config, then the budget, then the run
    assert pretrain.run.name == "a" and Path(pretrain.run.out_dir) == tmp_path / "runs"


def test_a_bad_key_in_any_run_is_found_before_the_first_starts(tmp_path, write_ablation):
    runs = [{"name": "ok", "overrides": []}, {"name": "typo", "overrides": ["loss.tempreture=1"]}]
    config = load_ablation(write_ablation(tmp_path, runs=runs))
    with pytest.raises(ConfigError, match="run 'typo': .*loss.tempreture") as error:
        check_all_runs(config, tmp_path / "runs")
    assert "\n" not in str(error.value)


def test_an_ablation_by_name_finds_its_base_config_beside_it() -> None:
    config = load_ablation("ablations/temperature")
    assert config.name == "temperature"
    assert Path(config.base_config) == RECIPES / "ablations" / "budget.yaml"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"name": "../../../escaped", "runs": [{"name": "a"}]}, "name="),
        ({"name": "..", "runs": [{"name": "a"}]}, "name='..'"),
        ({"runs": [{"name": ".."}]}, "runs[0].name="),
        ({"runs": [{"name": "a"}, {"name": "."}]}, "runs[1].name='.'"),
    ],
)
def test_names_are_one_path_component(tmp_path, write_ablation, fields, named):
    """A name that is a path would put results and runs outside out_dir."""
    with pytest.raises(ConfigError) as error:
        plan_runs(load_ablation(write_ablation(tmp_path, **fields)))
    message = str(error.value)
    assert named in message
    assert "\n" not in message and "\x1b" not in message and "one file name" in message


def test_out_dir_and_base_config_are_checked_when_read(tmp_path, write_ablation):
    (tmp_path / "file").write_text("x")
    path = write_ablation(tmp_path, out_dir=str(tmp_path / "file"), runs=[{"name": "a"}])
    with pytest.raises(ConfigError, match=r"^out_dir .*file: is a file, not a folder$"):
        load_ablation(path)
    path = write_ablation(tmp_path, base_config="none.yaml", runs=[{"name": "a"}])
    with pytest.raises(ConfigError, match=r"^base_config: .*none.yaml"):
        load_ablation(path)


def test_a_sweep_measures_on_val_and_refuses_a_run_without_one_before_any_starts(
    tmp_path, write_ablation
):
    runs = [{"name": "all-train", "overrides": ["data.val_fraction=0"]}]
    config = load_ablation(write_ablation(tmp_path, runs=runs, include_base=True))
    assert config.eval.measure_on == "val"  # a sweep chooses: never on the test split
    with pytest.raises(ConfigError, match="run 'all-train': eval.measure_on='val' needs") as error:
        check_all_runs(config, tmp_path / "runs")
    assert "\n" not in str(error.value) and not (tmp_path / "runs").exists()
    test = write_ablation(tmp_path, runs=runs, eval={"measure_on": "test"})
    assert len(check_all_runs(load_ablation(test), tmp_path / "runs")) == 2


def test_an_unknown_measured_split_is_one_line(tmp_path, write_ablation):
    path = write_ablation(tmp_path, runs=[{"name": "a", "overrides": []}])
    with pytest.raises(ConfigError, match=r"eval\.measure_on='train'.*test, val") as error:
        load_ablation(path, ["eval.measure_on=train"])
    assert "\n" not in str(error.value)
