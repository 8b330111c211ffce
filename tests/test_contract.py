"""The names in console.contract are the ones the templates write: a label or annotation spelled
differently in a template would never be read (the console's matrix stays empty, the guard sees
no policy), and one the contract names that no template writes is dead."""

from __future__ import annotations

import re

from console import contract
from tests.helpers import ROOT

NAME = re.compile(r"gitops\.platform/[a-z0-9-]+")


def test_the_templates_write_exactly_the_labels_and_annotations_of_the_contract() -> None:
    written = {
        name
        for path in (ROOT / "templates").rglob("*")
        if path.is_file()
        for name in NAME.findall(path.read_text(encoding="utf-8", errors="replace"))
    }
    named = {v for k, v in vars(contract).items() if k.isupper() and NAME.fullmatch(str(v))}
    assert written == named
