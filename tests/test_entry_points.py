"""setup.cfg's entry points and the package's registrations agree, both ways."""

import configparser
import importlib
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import spacy
from spacy.util import registry

import spacy_bert_tasks

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"
PREFIX = "spacy-bert-tasks."


def read_entry_points():
    """{group: {name: "module:attr"}} from setup.cfg's [options.entry_points]."""
    parser = configparser.ConfigParser()
    parser.optionxform = str  # keep names' case
    parser.read(SETUP_CFG, encoding="utf8")
    groups = {}
    for group, value in parser["options.entry_points"].items():
        lines = [line.strip() for line in value.strip().splitlines() if line.strip()]
        groups[group] = dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)
    return groups


ENTRY_POINTS = read_entry_points()
LISTED = [
    (group, name, target) for group, names in ENTRY_POINTS.items() for name, target in names.items()
]


def load_target(target):
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def registry_of_group(group):
    """The catalogue registry whose entry-point group is `group` (spacy_architectures...)."""
    for name in registry.get_registry_names():
        reg = getattr(registry, name)
        if getattr(reg, "entry_point_namespace", None) == group:
            return reg
    return None


def import_whole_package():
    for info in pkgutil.walk_packages(spacy_bert_tasks.__path__, "spacy_bert_tasks."):
        if info.name != "spacy_bert_tasks.__main__":
            importlib.import_module(info.name)


def test_setup_cfg_lists_the_expected_groups():
    assert {"spacy_factories", "spacy_architectures", "spacy_scorers"} <= set(ENTRY_POINTS)
    assert set(ENTRY_POINTS["spacy_factories"]) == {
        "bert_transformer",
        "bert_ner",
        "bert_textcat",
        "bert_qa",
    }


@pytest.mark.parametrize("group, name, target", LISTED, ids=[f"{g}:{n}" for g, n, _ in LISTED])
def test_listed_name_resolves_to_its_target(group, name, target):
    func = load_target(target)
    assert callable(func)
    if group == "spacy_factories":
        assert spacy.Language.has_factory(name)
        assert spacy.Language.get_factory_meta(name).factory == name
        assert registry.factories.get(name) is func
        return
    assert name.startswith(PREFIX), "registered names carry the package prefix"
    if group == "spacy_architectures":
        assert registry.architectures.get(name) is func
    elif group == "spacy_scorers":
        assert registry.scorers.get(name) is func
    else:
        reg = registry_of_group(group)
        assert reg is not None, f"no spaCy/thinc registry reads entry-point group {group}"
        assert reg.get(name) is func


def test_every_registered_name_is_listed():
    import_whole_package()
    missing = []
    for reg_name in registry.get_registry_names():
        reg = getattr(registry, reg_name)
        for name, func in reg.get_all().items():
            ours = getattr(func, "__module__", "").startswith("spacy_bert_tasks")
            if reg_name == "factories":
                if ours and name not in ENTRY_POINTS["spacy_factories"]:
                    missing.append(("spacy_factories", name))
                continue
            if name.startswith(PREFIX) or ours:
                group = reg.entry_point_namespace
                if name not in ENTRY_POINTS.get(group, {}):
                    missing.append((group, name))
    assert missing == []


def test_entry_points_resolve_without_importing_the_package():
    # What `spacy train` and `spacy.load` see in a fresh process: only the installed entry points.
    # (Fails after editing setup.cfg until the package is re-installed: pip install -e .)
    script = f"""
import json, sys, spacy
from spacy.util import registry
listed = {json.dumps(LISTED)}
assert "spacy_bert_tasks" not in sys.modules
spacy.blank("en")  # loads the spacy_factories entry points
bad = []
for group, name, target in listed:
    if group == "spacy_factories":
        ok = spacy.Language.has_factory(name)
    else:
        reg = next(getattr(registry, r) for r in registry.get_registry_names()
                   if getattr(getattr(registry, r), "entry_point_namespace", None) == group)
        try:
            reg.get(name)
            ok = True
        except Exception:
            ok = False
    if not ok:
        bad.append([group, name])
print(json.dumps(bad))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
