"""simclr/errors.py: the error classes the command line turns into one line and exit status 2."""

from __future__ import annotations

from simclr.cli import main
from simclr.errors import ConfigError, DataError, SimCLRError


def test_config_and_data_errors_are_simclr_errors_and_value_errors() -> None:
    for error in (ConfigError, DataError):
        assert issubclass(error, SimCLRError) and issubclass(error, ValueError)
    assert not issubclass(SimCLRError, ValueError)  # only the two kinds of bad value are


def test_the_command_line_prints_a_simclr_error_as_one_line_and_exits_2(capsys) -> None:
    assert main(["pretrain", "loss.temperature=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("simclr pretrain: error:")
    assert "loss.temperature" in err[0] and "Traceback" not in err[0]
