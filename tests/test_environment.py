"""The conda environment file, the pip lock and the running interpreter agree."""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def lock_lines():
    text = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in text if line.strip() and not line.startswith("#")]


def test_environment_yml_pins_equal_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "syft-fl"
    deps = env["dependencies"]
    assert "python=3.7" in deps and "pip" in deps
    pip_section = [d for d in deps if isinstance(d, dict)]
    assert len(pip_section) == 1
    assert pip_section[0]["pip"] == lock_lines()


def test_lock_is_fully_pinned_with_the_required_versions():
    pins = dict(line.split("==") for line in lock_lines())
    assert all(pins.values()), "every lock line is name==version"
    for name, version in {
        "syft": "0.2.4",
        "torch": "1.4.0",
        "torchvision": "0.5.0",
        "numpy": "1.18.5",
        "protobuf": "3.20.3",
        "MarkupSafe": "2.0.1",
        "mlxtend": "0.23.1",
        "ray": "2.7.1",  # the last Ray release for Python 3.7
    }.items():
        assert pins[name] == version


def test_running_interpreter_and_packages_match_the_lock():
    import syft
    import torch
    import torchvision

    assert sys.version_info[:2] == (3, 7)
    assert (syft.__version__, torch.__version__, torchvision.__version__) == ("0.2.4", "1.4.0", "0.5.0")
