"""The README and docs/*.md cannot drift: their code blocks run, their commands name real scripts and options,
their links resolve.

The documents are `README.md` and every `docs/*.md`, checked the same way:

- Every ```python block runs, document by document (README first, then docs/ in name order) and in order within
  each, each block in a fresh namespace, in one subprocess. Each document's blocks share a working directory of
  their own in a temporary folder (so files the blocks write land there), and `DEEPFM_MOVIELENS_DIR` points at the
  shared ML-100K folder. A failing block's traceback names the document and its line.
- ```bash blocks are not run (they install packages, train for minutes or start servers); instead the two
  set-up commands at the top of the README must match what CI (`.ci/run`) runs, and every script, option, extra
  and data path they mention must exist.
- ```math blocks are formulas. Any other fence (or an unlabeled one) fails, so every block is checked.
- Links to files resolve from the document's folder, and `#anchors` (in the same document or in another
  Markdown file of the repository) name a real heading.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import deepfm_keras
from tests.conftest import REPO_ROOT, shared_data_path

README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
KNOWN_LANGUAGES = {"python", "bash", "math"}
FENCE = re.compile(r"^```(?P<lang>[^\s`]*)\s*$")


def documents() -> list[Path]:
    """README.md, then docs/*.md in name order: the files whose blocks, commands and links are checked."""
    return [README, *sorted(DOCS.glob("*.md"))]


def doc_name(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def readme_text(path: Path = README) -> str:
    return path.read_text(encoding="utf-8")


def code_blocks(text: str | None = None, name: str = "README.md") -> list[tuple[str, int, str]]:
    """(language, 1-based line of the first code line, code) of every fenced block of one document, in order."""
    lines = (readme_text() if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match:
            start = i + 1
            end = start
            while end < len(lines) and lines[end].rstrip() != "```":
                end += 1
            if end == len(lines):
                raise AssertionError(f"{name} line {i + 1}: unclosed code fence")
            blocks.append((match.group("lang"), start + 1, "\n".join(lines[start:end])))
            i = end + 1
        else:
            i += 1
    return blocks


def blocks_of(lang: str, path: Path = README) -> list[tuple[int, str]]:
    text = readme_text(path)
    return [(line, code) for language, line, code in code_blocks(text, doc_name(path)) if language == lang]


def all_blocks_of(lang: str) -> list[tuple[str, int, str]]:
    """(document, line, code) of every block in `lang` of every document."""
    return [(doc_name(path), line, code) for path in documents() for line, code in blocks_of(lang, path)]


def bash_commands(path: Path = README) -> list[tuple[int, str]]:
    """(line, command) of every bash line of one document, comments stripped, continuation lines joined."""
    commands = []
    for line, code in blocks_of("bash", path):
        pending, first = "", line
        for offset, raw in enumerate(code.splitlines()):
            text = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not pending:
                first = line + offset
            if text.endswith("\\"):
                pending += text[:-1] + " "
                continue
            text = (pending + text).strip()
            pending = ""
            if text:
                commands.append((first, text))
    return commands


def test_parser_finds_blocks_and_their_lines():
    text = "intro\n```python\nx = 1\n```\n\n```bash\nls  # list\n```\n"
    assert code_blocks(text) == [("python", 3, "x = 1"), ("bash", 7, "ls  # list")]
    with pytest.raises(AssertionError, match="unclosed"):
        code_blocks("```python\nx = 1\n")


def test_docs_exist_and_the_readme_links_each():
    docs = documents()[1:]
    assert len(docs) >= 5, "docs/*.md should hold what the README leaves out"
    readme = readme_text()
    for path in docs:
        assert f"]({doc_name(path)}" in readme, f"README.md should link {doc_name(path)}"


def test_every_block_has_a_checked_language():
    assert len(blocks_of("python")) >= 3, "the README should show the API in runnable Python"
    assert len(all_blocks_of("python")) >= 12, "README.md and docs/*.md should show the API in runnable Python"
    for path in documents():
        for language, line, _ in code_blocks(readme_text(path), doc_name(path)):
            assert language in KNOWN_LANGUAGES, (
                f"{doc_name(path)} line {line}: code block in {language or 'no language'!r}; use one of "
                f"{sorted(KNOWN_LANGUAGES)} so that tests/test_readme.py checks it"
            )


def test_top_commands_are_the_ones_ci_runs():
    bash = blocks_of("bash")
    run_example, run_tests = bash[0][1].strip(), bash[1][1].strip()
    assert run_example.startswith('python3 -m venv .venv && .venv/bin/pip install -e ".[cpu]" && ')
    assert "examples/movielens.py" in run_example
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(ci) if line.startswith("# README command two"))
    ci_command = ci[marker + 1].replace("pip install -q ", "pip install ")
    assert "python3 -m venv .venv" in ci, ".ci/run should create the virtualenv as the README does"
    steps = run_tests.split(" && ")
    assert steps[0] == "python3 -m venv .venv"
    assert " && ".join(steps[1:]) == ci_command, (
        "README command two and .ci/run disagree:\n" + run_tests + "\n" + ci[marker + 1]
    )


def _script_options(path: Path) -> set[str]:
    return set(re.findall(r"""["'](--[a-z][a-z0-9-]*)["']""", path.read_text(encoding="utf-8")))


def _check_command_line(where: str, args: list[str]) -> None:
    """A `deepfm-keras ...` line of a document names a real subcommand and its real options."""
    from deepfm_keras_cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    if args and args[0].startswith("--"):  # `deepfm-keras --help`, `--version`
        top = {o for action in parser._actions for o in action.option_strings}
        assert args[0] in top, f"{where}: deepfm-keras has no option {args[0]}"
        return
    assert args and args[0] in commands, f"{where}: deepfm-keras has no command {args[:1]}"
    options = {o for action in commands[args[0]]._actions for o in action.option_strings}
    for token in args[1:]:
        flag = token.split("=", 1)[0]
        if flag.startswith("--"):
            assert flag in options, f"{where}: deepfm-keras {args[0]} has no option {flag}"


def test_bash_commands_name_existing_scripts_options_extras_and_data():
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    extras = set(config["options.extras_require"])
    checked_scripts = 0
    for doc in documents():
        for line, command in bash_commands(doc):
            where = f"{doc_name(doc)} line {line}"
            for step in re.split(r"\s*(?:&&|\|\||;)\s*", command):
                tokens = step.split()
                for token in tokens:
                    path = token.strip("'\"")
                    if re.fullmatch(r"(examples|benchmarks|tests|notebooks)/[\w./-]+", path):
                        assert (REPO_ROOT / path).exists(), f"{where}: {path} does not exist"
                    if path.startswith("../shared/data/"):
                        shared = shared_data_path() / path.removeprefix("../shared/data/")
                        assert shared.exists(), f"{where}: {path} does not exist ({shared})"
                    for extra_list in re.findall(r"\.\[([\w,]+)\]", path):
                        for extra in extra_list.split(","):
                            assert extra in extras, f"{where}: no extra [{extra}] in setup.cfg"
                if tokens[:1] == ["deepfm-keras"]:
                    checked_scripts += 1
                    _check_command_line(where, tokens[1:])
                scripts = [t for t in tokens if re.fullmatch(r"(examples|benchmarks)/\w+\.py", t)]
                if scripts:
                    checked_scripts += 1
                    options = _script_options(REPO_ROOT / scripts[0])
                    for token in tokens[tokens.index(scripts[0]) + 1 :]:
                        flag = token.split("=", 1)[0]
                        if flag.startswith("--"):
                            assert flag in options, f"{where}: {scripts[0]} has no option {flag}"
    assert checked_scripts >= 4


def _slug(heading: str) -> str:
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _outside_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", _outside_code(readme_text(path)), flags=re.M)}


def test_links_and_anchors_resolve():
    for doc in documents():
        links = re.findall(r"\]\(([^)\s]+)\)", _outside_code(readme_text(doc)))
        assert links, f"{doc_name(doc)} links nowhere"
        for target in links:
            if target.startswith(("http://", "https://")):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            assert linked.exists(), f"{doc_name(doc)} links to missing file {target}"
            assert REPO_ROOT in linked.parents or linked == REPO_ROOT, f"{doc_name(doc)} links outside the repo"
            if anchor:
                assert linked.suffix == ".md", f"{doc_name(doc)}: anchor {target} into a file that is not Markdown"
                assert anchor in _anchors(linked), f"{doc_name(doc)} links to missing section {target}"


def test_every_public_name_is_documented():
    text = "\n".join(readme_text(path) for path in documents())
    missing = [name for name in deepfm_keras.__all__ if name != "__version__" and f"`{name}`" not in text]
    assert not missing, f"public names missing from README.md and docs/ (add them to docs/api.md): {missing}"


def test_metrics_fields_are_written_by_the_example():
    header = "| `metrics.json` field | meaning |"
    holders = [path for path in documents() if header in readme_text(path)]
    assert len(holders) == 1, f"one document should hold the metrics.json table: {[doc_name(p) for p in holders]}"
    table = readme_text(holders[0]).split(header, 1)[1].split("\n\n", 1)[0]
    fields = [name for row in table.splitlines() for name in re.findall(r"^\| (`[^|]+`) \|", row)]
    names = [n.strip("` ") for cell in fields for n in cell.split(",")]
    assert len(names) >= 10, names
    package = REPO_ROOT / "deepfm_keras"
    # The example's pipeline (`deepfm_keras/run/`: the pipeline and the sources of rows) and the callbacks.
    writers = [*sorted((package / "run").glob("*.py")), package / "pipeline.py", package / "training" / "callbacks.py"]
    sources = "".join(path.read_text(encoding="utf-8") for path in writers if path.exists())
    for name in names:
        assert f'"{name}"' in sources, (
            f"{doc_name(holders[0])} documents metrics.json field {name!r}, which the example does not write"
        )


RUNNER = textwrap.dedent(
    """
    import json, os, sys, time, traceback, warnings
    warnings.filterwarnings("error", module="deepfm_keras")  # as pytest does for our own code
    blocks = json.load(open(sys.argv[1]))
    root = os.getcwd()
    for doc, line, code in blocks:
        start = time.perf_counter()
        folder = os.path.join(root, doc.replace("/", "_"))  # one working directory per document
        os.makedirs(folder, exist_ok=True)
        os.chdir(folder)
        namespace = {"__name__": "__main__"}
        try:
            # Pad so that tracebacks give the document's line numbers.
            exec(compile("\\n" * (line - 1) + code, doc, "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            print(f"DOC BLOCK FAILED: {doc} line {line}", flush=True)
            sys.exit(1)
        print(f"{doc} block at line {line}: ok in {time.perf_counter() - start:.1f} s", flush=True)
    """
)


@pytest.mark.slow
def test_python_blocks_run(tmp_path):
    data_dir = shared_data_path() / "ml-100k"
    assert data_dir.is_dir(), f"MovieLens 100K not found at {data_dir}; set DEEPFM_SHARED_DATA."
    blocks = all_blocks_of("python")
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(DEEPFM_MOVIELENS_DIR=str(data_dir), TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(
        [sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "blocks.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(result.stdout)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    assert result.stdout.count(": ok in ") == len(blocks)
