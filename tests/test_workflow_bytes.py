"""Commands run exactly as written, through the real makeflow: backslashes, quotes, every
byte; placeholder values are quoted for the spot they stand in. Before, makeflow ate the
backslash of `sed 's/\\./_/g'`, and a chunk URL with `&...;touch${IFS}X` created a file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.skipif(shutil.which("makeflow") is None, reason="makeflow not installed")

URL = "root://eos.cern.ch//eos/f.root?svc=x&authz=y;touch${IFS}PWNED;'q'\"$(id)\""
WEIRD = "it's \"x\" $y `z` \\ \\. %041 \t tab é €"
LONG_WORD = "w\\" * 1500                     # one word of 3,000 bytes, half backslashes
LONG_TEXT = "L'\\ " * 12_000               # 48,000 bytes: too long for a rule's command line

CASES = {  # stage name -> (command, expected bytes of its output)
    "sed": ("echo a.b.c | sed 's/\\./_/g' > {outputs[0]}", "a_b_c\n"),
    "literal": ("printf %s 'a\\.b \\\\ c \"q\" $HOME `x` %d é' > {outputs[0]}",
                "a\\.b \\\\ c \"q\" $HOME `x` %d é"),
    "spaces": ("printf '%s|' a  'b   c' \"d\t e\" > {outputs[0]}", "a|b   c|d\t e|"),
    "bare": ("printf %s {weird} > {outputs[0]}", WEIRD),
    "double": ("printf %s \"v={weird}\" > {outputs[0]}", "v=" + WEIRD),
    "single": ("printf %s 'v={weird}' > {outputs[0]}", "v=" + WEIRD),
    "longword": ("printf %s " + LONG_WORD.replace("\\", "\\\\") + " > {outputs[0]}",
                 LONG_WORD.replace("\\\\", "\\")),
    "longcmd": ("printf %s '" + LONG_TEXT.replace("'", "'\\''") + "' > {outputs[0]}", LONG_TEXT),
}


def campaign_file(tmp_path: Path) -> Path:
    stages = [{"name": name, "per": "job", "command": command, "outputs": [f"{name}.txt"]}
              for name, (command, _) in CASES.items()]
    stages.append({"name": "chunk", "per": "chunk", "command": "printf %s {chunk} > {outputs[0]}",
                   "outputs": ["chunk.txt"]})
    doc = {"campaign": "bytes", "release": "r1", "retries": 0, "stages": stages,
           "datasets": [{"name": "m", "jobs": 1, "parameters": {"weird": WEIRD}},
                        {"name": "r", "runs": {"7": [URL]}}]}
    path = tmp_path / "bytes.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_every_byte_reaches_the_payload_through_real_makeflow(tmp_path):
    result = subprocess.run([sys.executable, "-m", "relval", "run", str(campaign_file(tmp_path)), "--local",
                             "--workdir", str(tmp_path / "w"), "--json"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["verdict"] == "JOBS_PASSED"
    chain = tmp_path / "w" / "candidate-r1"
    for name, (_, expected) in CASES.items():
        assert (chain / f"m.0000.{name}.txt").read_bytes() == expected.encode(), name
    assert (chain / "r.7.0000.chunk.txt").read_bytes() == URL.encode()
    assert not list(tmp_path.rglob("PWNED"))            # the URL was data, not shell code
    makeflow_file = (chain / "bytes.makeflow").read_text()
    assert (chain / "m.0000.longcmd.cmd").is_file()      # too long to inline: a command file
    assert max(len(line) for line in makeflow_file.splitlines()) < 32 * 1024


@pytest.mark.parametrize("text,state", [
    ("a 'b", "'"), ("a 'b' \"c", '"'), ("\"it's", '"'), ("'say \"hi", "'"), ("a \\' b", ""),
    ("\"a \\\" b", '"'), ("x", ""),
])
def test_quote_state(text, state):
    from relval.workflows.shell import quote_state

    assert quote_state(text) == state


def test_an_unclosed_quote_is_bad_input():
    from relval.errors import RelvalError
    from relval.workflows.campaign import parse_campaign

    doc = {"campaign": "q", "release": "r", "datasets": [{"name": "m", "jobs": 1}],
           "stages": [{"name": "s", "per": "job", "command": "echo 'oops > {outputs[0]}", "outputs": ["o"]}]}
    with pytest.raises(RelvalError) as caught:
        parse_campaign(doc, source="q.yaml")
    assert caught.value.problems == ["q.yaml: stages[0].command: has an unclosed ' quote"]
