"""The ELMO model is light: code that needs only the model (identity matching in start_session and the
enrolment API) must not load lxml through the ``emrex_emc.core.elmo`` package."""

import json
import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def _loaded_after(statement: str) -> list[str]:
    """The top-level heavy modules loaded by ``statement`` in a fresh interpreter."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(FUNCTIONS)!r}); {statement}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'lxml', 'signxml'})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_model_and_identity_loads_no_lxml() -> None:
    assert _loaded_after("import emrex_emc.core.elmo.model, emrex_emc.core.identity") == []


def test_the_check_sees_lxml_when_the_reader_is_imported() -> None:
    assert _loaded_after("import emrex_emc.core.elmo.reader") == ["lxml"]
