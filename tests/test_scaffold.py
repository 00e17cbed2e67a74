"""`rnnzoo new-plugin` refuses bad names and existing folders.

That the plugin it writes installs and passes its tests, with the CI it writes, is tests/test_scaffold_ci.py.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from rnnzoo.cli import main


@pytest.mark.parametrize(("name", "message"), [("Bad-Name", "invalid"), ("acme", "already exists")])
def test_bad_names_and_existing_folders_are_refused(name, message, tmp_path) -> None:
    (tmp_path / "rnnzoo-acme").mkdir()
    res = CliRunner().invoke(main, ["new-plugin", name, "--dir", str(tmp_path)])
    assert res.exit_code == 2 and message in res.output
