"""No import-time side effects: importing a module registers nothing and loads no head.

Run in fresh interpreters: this test process has registered the QA extensions long ago.
"""

import json
import subprocess
import sys
from pathlib import Path

MODULES = (
    "spacy_bert_tasks.convert.squad",
    "spacy_bert_tasks.qa.scorer",
    "spacy_bert_tasks.qa.corpus",
    "spacy_bert_tasks.config.generate",
    "spacy_bert_tasks.contract",
)
REPO = Path(__file__).resolve().parents[1]


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_imports_register_no_extensions():
    code = (
        f"import importlib; [importlib.import_module(m) for m in {list(MODULES)!r}]\n"
        "from spacy.tokens import Doc\n"
        "print([name for name in ('question', 'qa_id', 'gold_answers', 'answer') if Doc.has_extension(name)])"
    )
    assert run_python(code) == "[]"


def test_converting_squad_does_not_import_the_qa_head(tmp_path):
    squad = {
        "version": "v2.0",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "John visited London.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Who visited London?",
                                "answers": [{"text": "John", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    (tmp_path / "squad.json").write_text(json.dumps(squad), encoding="utf8")
    code = (
        "import sys\n"
        "from spacy_bert_tasks.convert.squad import convert_squad\n"
        f"convert_squad({str(tmp_path / 'squad.json')!r}, {str(tmp_path / 'qa.spacy')!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('spacy_bert_tasks.qa.')))"
    )
    assert run_python(code) == "['spacy_bert_tasks.qa.extensions']"
    assert (tmp_path / "qa.spacy").is_file()
