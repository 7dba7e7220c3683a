"""The README's first two commands are the ones CI runs: keep them in step."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands():
    text = (ROOT / "README.md").read_text()
    assert text.index("```bash") < 30  # right under the title
    cmds = readme_commands()
    assert len(cmds) == 2
    assert cmds[0].endswith("imgclass demo") and "pytest" in cmds[1]


def test_ci_runs_the_readme_commands_verbatim():
    ci = (ROOT / ".ci" / "run").read_text()
    for cmd in readme_commands():
        assert cmd in ci.splitlines(), cmd


def test_requirements_pin_cpu_torch():
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    assert "torch==2.13.0" in reqs
    assert all("==" in r for r in reqs if r and not r.startswith("#"))
