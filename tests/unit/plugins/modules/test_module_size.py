"""Modules stay thin (issue 12): at most 60 lines of code outside DOCUMENTATION, EXAMPLES and RETURN.

A line of code is a line holding a token that is not a comment (blank lines and comments do not
count; docstrings do). The work lives in module_utils (runners.py for the read-only modules,
remediation/ for agent_restart and agent_tune, which the remediation work brings under the limit).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

MODULES = Path(__file__).resolve().parents[4] / "plugins" / "modules"
LIMIT = 60
DOC_STRINGS = {"DOCUMENTATION", "EXAMPLES", "RETURN"}
NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}


def code_lines(path):
    """The number of lines of code of a module file outside its DOCUMENTATION/EXAMPLES/RETURN."""
    source = path.read_text(encoding="utf-8")
    docs = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_STRINGS for t in node.targets):
            docs.update(range(node.lineno, node.end_lineno + 1))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in NOT_CODE:
            lines.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docs)
    return len(lines)


def test_the_count_skips_docs_comments_and_blank_lines(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('"""doc"""\n# comment\n\nDOCUMENTATION = r"""\na: 1\n"""\nRETURN = """x"""\n\ndef main():\n    pass\n')
    assert code_lines(module) == 3


@pytest.mark.parametrize("path", sorted(MODULES.glob("*.py")), ids=lambda p: p.stem)
def test_module_has_at_most_60_lines_of_code(path):
    count = code_lines(path)
    assert count <= LIMIT, "%s has %d lines of code outside DOCUMENTATION/EXAMPLES/RETURN (limit %d): move the work to " \
                           "module_utils" % (path.name, count, LIMIT)
