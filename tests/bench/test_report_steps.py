"""Which steps bench/report.py runs again and which it reuses (run_steps), with tiny commands."""

import argparse
import json

import report

# Each step's command appends its name to a log (to count runs) and writes its --json result.
WRITE = (
    "import json, sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); "
    "json.dump({'tag': sys.argv[3]}, open(sys.argv[4], 'w'))"
)


def step(tmp_path, name, tag="v1", reads=()):
    result = tmp_path / f"{name}.json"
    command = ["python", "-c", WRITE, str(tmp_path / "runs.log"), name, tag, str(result)]
    return report.Step(name, command, name, tuple(reads))


def run(tmp_path, steps, *, reuse=True, only=None):
    (tmp_path / "runs.log").write_text("", encoding="utf8")
    args = argparse.Namespace(results=tmp_path, only=only, reuse=reuse, render_only=False)
    metas = report.run_steps(args, steps)
    assert all(meta["returncode"] == 0 for meta in metas.values())
    return (tmp_path / "runs.log").read_text(encoding="utf8").split()


def test_reuse_keeps_every_step_whose_command_is_unchanged(tmp_path):
    steps = [step(tmp_path, "train"), step(tmp_path, "speed", reads=["train"])]
    assert run(tmp_path, steps) == ["train", "speed"]
    assert run(tmp_path, steps) == []


def test_a_step_named_in_only_runs_even_when_it_could_be_reused(tmp_path):
    steps = [step(tmp_path, "train"), step(tmp_path, "speed", reads=["train"])]
    run(tmp_path, steps)
    assert run(tmp_path, steps, only={"speed"}) == ["speed"]


def test_a_step_runs_again_when_a_step_it_reads_ran_again(tmp_path):
    run(tmp_path, [step(tmp_path, "train"), step(tmp_path, "speed", reads=["train"])])
    # The training's command changed (more steps); the speed step's command did not, but it
    # reads the model that training writes: its stored result describes the old model.
    steps = [step(tmp_path, "train", tag="v2"), step(tmp_path, "speed", reads=["train"])]
    assert run(tmp_path, steps) == ["train", "speed"]
    assert json.loads((tmp_path / "train.json").read_text())["tag"] == "v2"


def test_qa_speed_reads_the_trained_qa_model():
    args = argparse.Namespace(
        results=report.corpus.BENCH / "results" / "full",
        smoke=False,
        threads=2,
        corpus=report.corpus.CORPUS,
        img=None,
        steps=dict(report.STEPS),
    )
    args.img = args.results
    steps = {s.name: s for s in report.plan(args)}
    assert steps["qa_speed"].reads == ("spacy_qa",)
    qa_speed, spacy_qa = steps["qa_speed"].command, steps["spacy_qa"].command
    model = qa_speed[qa_speed.index("--model") + 1]
    assert model.startswith(spacy_qa[spacy_qa.index("--output") + 1] + "/")


def test_corpus_only_builds_the_corpus_and_leaves_the_page_alone(tmp_path, monkeypatch):
    built, page = [], tmp_path / "benchmarks.md"
    page.write_text("hand-edited\n", encoding="utf8")
    monkeypatch.setattr(report, "make_corpus", lambda args: built.append(args.corpus))
    monkeypatch.setattr(report, "run_steps", lambda *a: (_ for _ in ()).throw(AssertionError))
    argv = ["report.py", "--corpus-only", "--corpus", str(tmp_path / "corpus"), "--out", str(page)]
    monkeypatch.setattr("sys.argv", argv)
    report.main()
    assert built == [tmp_path / "corpus"]
    assert page.read_text(encoding="utf8") == "hand-edited\n"
