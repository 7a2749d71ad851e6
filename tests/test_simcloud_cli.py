"""`python -m relval.simcloud`: a foreground server another process can drive."""

from __future__ import annotations

import json
import subprocess
import sys

import urllib.error

import pytest

from relval.simcloud import configure, inventory, seed


def test_module_serves_seeds_and_lists_until_stopped(tmp_path):
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text("networks: [{name: net}]\nimages: [img]\n")
    process = subprocess.Popen([sys.executable, "-m", "relval.simcloud", "--port", "0",
                                "--seed", str(seed_file), "--clouds-yaml",
                                str(tmp_path / "clouds.yaml")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        started = json.loads(process.stdout.readline())
        url = started["url"]
        assert url.startswith("http://127.0.0.1:")
        assert started["env"]["OS_AUTH_URL"] == url + "/v3"
        assert "simcloud:" in (tmp_path / "clouds.yaml").read_text()
        assert seed(url, {"flavors": [{"name": "m1"}]})["flavors"]["m1"]
        listed = inventory(url)
        assert [n["name"] for n in listed["networks"]] == ["net"]
        assert listed["leftovers"] == 0 and all(n["seeded"] for n in listed["networks"])
        assert configure(url, {"boot_delay": 0, "quotas": {"instances": 3}})["quotas"]["instances"] == 3
        with pytest.raises(urllib.error.HTTPError) as refused:
            configure(url, {"boot_dlay": 1})
        assert refused.value.code == 400 and b"unknown setting: boot_dlay" in refused.value.read()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_bad_seed_is_one_line_and_exit_2(tmp_path):
    seed_file = tmp_path / "seed.yaml"
    seed_file.write_text("planets: [mars]\n")
    done = subprocess.run([sys.executable, "-m", "relval.simcloud", "--seed", str(seed_file)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2
    expected = ("simcloud: unknown seed kind: planets (known: networks, floating_ip_pools, "
                "images, flavors, keypairs, volume_types)")
    assert done.stderr.strip().splitlines() == [expected]


def test_non_loopback_host_is_refused(tmp_path):
    done = subprocess.run([sys.executable, "-m", "relval.simcloud", "--host", "0.0.0.0"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 2 and "loopback" in done.stderr
