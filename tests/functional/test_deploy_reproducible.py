"""Two clones on two machines build the same artifact, byte for byte (the Framework's "no
changes to deploy" check compares hashes): the shared default package against a second build
in another directory, by the same Python under another path (pip used to write that path into
jmespath's `bin/jp.py` and its RECORD), under another umask (pip used to leave the files' modes
to it). infra/serverless/reproducible.js and bytecode.js make the difference.

The second build is a full `serverless package` (about half a minute here), the price of
comparing real artifacts.
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path
from typing import Final

import pytest

from tests.functional import deploy_package
from tests.functional.deploy_package import SERVICE, Package

ARTIFACT: Final = f"{SERVICE}.zip"


@pytest.fixture(scope="session")
def package_default(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return deploy_package.build(tmp_path_factory)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_two_builds_make_byte_identical_artifacts(package_default: Package, tmp_path: Path) -> None:
    # The same interpreter under another path: a link to this venv (the venv still works,
    # its pyvenv.cfg is found beside the link).
    venv = tmp_path / "elsewhere" / "venv"
    venv.parent.mkdir()
    venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    python = str(venv / "bin" / Path(sys.executable).name)
    # A umask no machine here uses (0o022 is usual): pip's files come out 0600.
    second = deploy_package.package(tmp_path / "clone", python=python, umask=0o077)

    first_zip, second_zip = package_default.directory / ARTIFACT, second.directory / ARTIFACT
    with zipfile.ZipFile(first_zip) as a, zipfile.ZipFile(second_zip) as b:
        differ = sorted(
            n
            for n in set(a.namelist()) | set(b.namelist())
            if n not in b.namelist()
            or n not in a.namelist()
            or a.read(n) != b.read(n)
            or a.getinfo(n).external_attr != b.getinfo(n).external_attr
        )
        names = a.namelist()
    assert differ == []
    assert _sha256(first_zip) == _sha256(second_zip)
    # What used to differ is gone: no console scripts, no RECORD line outside the packages.
    assert not any(n.startswith("bin/") for n in names)
    with zipfile.ZipFile(first_zip) as a:
        records = [n for n in names if n.endswith(".dist-info/RECORD")]
        assert records
        for record in records:
            assert "\n../" not in "\n" + a.read(record).decode(), record
