"""annotate_files and the CLI with the local engine: input formats, folders and globs, Parquet
and JSON Lines output written all or nothing, --overwrite, the summary."""

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spacy_bert_tasks.annotate import AnnotateOptions, annotate_files, annotate_rows
from spacy_bert_tasks.annotate.inputs import InputError
from spacy_bert_tasks.annotate.outputs import table_to_rows
from spacy_bert_tasks.cli import app

from .conftest import BAD_IDS, sample_rows, valid_rows, write_jsonl

QUIET = AnnotateOptions(progress=False)


def read_output(path):
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf8").splitlines()]
    return table_to_rows(pq.read_table(path))


def comparable(rows):
    """Rows with float scores rounded, for comparisons across runs and formats."""

    def rounded(value):
        if isinstance(value, float):
            return round(value, 5)
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    return [rounded(row) for row in rows]


def assert_close(a, b, tolerance=1e-4):
    """The same rows, floats within `tolerance`."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=tolerance)
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_close(x, y, tolerance)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_close(a[key], b[key], tolerance)
    else:
        assert a == b


def test_jsonl_to_parquet_and_jsonl_agree(pipeline_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", sample_rows())
    summary = annotate_files(source, tmp_path / "out.parquet", pipeline_dir, QUIET)
    annotate_files(source, tmp_path / "out.jsonl", pipeline_dir, QUIET)
    assert summary.rows == len(sample_rows())
    assert summary.n_errors == len(BAD_IDS)
    assert summary.errors == {"missing text": 1, "text too long": 1, "bad question": 1}
    parquet, jsonl = read_output(tmp_path / "out.parquet"), read_output(tmp_path / "out.jsonl")
    assert [r["id"] for r in parquet] == [r["id"] for r in sample_rows()]
    assert comparable(parquet) == comparable([{"question": None, **r} for r in jsonl])
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert schema.field("cats").type == pa.map_(pa.string(), pa.float64())
    assert schema.field("id").type == pa.int64()


def test_csv_parquet_and_a_folder_or_glob_give_the_same_rows(pipeline_dir, tmp_path):
    # Non-empty texts: CSV cannot tell an empty cell from a missing value (both are missing).
    rows = [
        {"id": r["id"], "text": r["text"], "question": r.get("question")}
        for r in valid_rows()
        if r["text"]
    ]
    half = len(rows) // 2
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:half]), folder / "part-0.parquet")
    pq.write_table(pa.Table.from_pylist(rows[half:]), folder / "part-1.parquet")
    (folder / ".hidden.parquet").write_bytes(b"not parquet")  # skipped: hidden
    with (tmp_path / "in.csv").open("w", newline="", encoding="utf8") as file_:
        writer = csv.DictWriter(file_, fieldnames=["id", "text", "question"])
        writer.writeheader()
        writer.writerows(rows)
    outputs = {}
    for name, source in [
        ("folder", folder),
        ("glob", str(folder / "part-*.parquet")),
        ("csv", tmp_path / "in.csv"),
    ]:
        annotate_files(source, tmp_path / f"{name}.jsonl", pipeline_dir, QUIET)
        outputs[name] = comparable(read_output(tmp_path / f"{name}.jsonl"))
    assert outputs["folder"] == outputs["glob"]
    # CSV: an empty cell is a missing value, as in the Parquet files.
    assert outputs["csv"] == outputs["folder"]
    assert [r["id"] for r in outputs["folder"]] == [r["id"] for r in rows]


def test_a_text_column_of_digits_stays_text_in_csv(pipeline_dir, tmp_path):
    (tmp_path / "in.csv").write_text("id,text\n1,2024\n2,hello\n", encoding="utf8")
    annotate_files(tmp_path / "in.csv", tmp_path / "out.jsonl", pipeline_dir, QUIET)
    out = read_output(tmp_path / "out.jsonl")
    assert [r["text"] for r in out] == ["2024", "hello"] and all(r["error"] is None for r in out)


def test_bad_jsonl_lines_are_error_rows_naming_file_and_line(pipeline_dir, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "john"}\n{oops\n\n[1]\n{"text": "mary"}\n', encoding="utf8")
    summary = annotate_files(source, tmp_path / "out.parquet", pipeline_dir, QUIET)
    out = read_output(tmp_path / "out.parquet")
    assert len(out) == summary.rows == 4  # the blank line is no row
    assert out[1]["error"].startswith(f"bad row: {source} line 2: invalid JSON")
    assert out[2]["error"] == f"bad row: {source} line 4: expected a JSON object, got list"
    assert out[0]["error"] is None and out[3]["error"] is None
    assert summary.first_errors[0][0] == 1


def test_existing_output_is_refused_unless_overwrite(pipeline_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", valid_rows()[:2])
    target = tmp_path / "out.parquet"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="--overwrite"):
        annotate_files(source, target, pipeline_dir, QUIET)
    assert target.read_bytes() == b"old"
    annotate_files(source, target, pipeline_dir, AnnotateOptions(progress=False, overwrite=True))
    assert len(read_output(target)) == 2


def test_an_interrupted_run_leaves_no_output_and_the_old_one_intact(
    pipeline_dir, tmp_path, monkeypatch
):
    from spacy_bert_tasks.annotate import run

    source = write_jsonl(tmp_path / "in.jsonl", valid_rows())
    target = tmp_path / "out.jsonl"

    def interrupted(rows, *args, **kwargs):
        for i, row in enumerate(annotate_rows(rows, *args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt
            yield row

    monkeypatch.setattr(run, "annotate_rows", interrupted)
    options = AnnotateOptions(progress=False, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        annotate_files(source, target, pipeline_dir, options)
    assert list(tmp_path.iterdir()) == [source]  # no OUTPUT, no temporary file
    target.write_text("old\n", encoding="utf8")
    with pytest.raises(KeyboardInterrupt):
        annotate_files(
            source, target, pipeline_dir, AnnotateOptions(progress=False, overwrite=True)
        )
    assert target.read_text(encoding="utf8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_parquet_refuses_a_column_of_two_types_and_writes_nothing(pipeline_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": "a"}, {"id": "x", "text": "b"}])
    with pytest.raises(ValueError, match="column 'id'.*JSON Lines"):
        annotate_files(source, tmp_path / "out.parquet", pipeline_dir, QUIET)
    assert not (tmp_path / "out.parquet").exists()
    annotate_files(source, tmp_path / "out.jsonl", pipeline_dir, QUIET)
    assert [r["id"] for r in read_output(tmp_path / "out.jsonl")] == [1, "x"]


def test_parquet_in_several_row_groups_keeps_the_first_groups_types(
    pipeline_dir, tmp_path, monkeypatch
):
    from spacy_bert_tasks.annotate import outputs

    monkeypatch.setattr(outputs, "ROW_GROUP_ROWS", 3)
    rows = [
        {"id": i, "text": f"john visited london {i}", "note": None if i < 5 else "x"}
        for i in range(8)
    ]
    rows[4]["note"] = "first"  # the first group holds only nulls: the column is null-typed there
    source = write_jsonl(
        tmp_path / "in.jsonl", rows[:3] + [{"id": 3, "text": "a"}, {"id": 4, "text": "b"}]
    )
    annotate_files(source, tmp_path / "out.parquet", pipeline_dir, QUIET)
    parquet = pq.ParquetFile(tmp_path / "out.parquet")
    assert parquet.metadata.num_row_groups == 2
    assert [r["id"] for r in read_output(tmp_path / "out.parquet")] == [0, 1, 2, 3, 4]
    late = write_jsonl(tmp_path / "late.jsonl", rows)
    with pytest.raises(ValueError, match="column 'note'"):
        annotate_files(late, tmp_path / "late.parquet", pipeline_dir, QUIET)
    assert not (tmp_path / "late.parquet").exists()


@pytest.mark.parametrize(
    "spec, message",
    [("missing.jsonl", "found none"), ("in.txt", "expected a"), ("mixed", "mixes")],
)
def test_bad_inputs_are_refused_before_loading_anything(tmp_path, spec, message):
    (tmp_path / "in.txt").write_text("x", encoding="utf8")
    (tmp_path / "mixed").mkdir()
    write_jsonl(tmp_path / "mixed" / "a.jsonl", [{"text": "a"}])
    (tmp_path / "mixed" / "b.csv").write_text("text\nb\n", encoding="utf8")
    with pytest.raises(InputError, match=message):
        annotate_files(tmp_path / spec, tmp_path / "out.parquet", "no-such-model", QUIET)


def test_local_workers_are_single_threaded(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [{"text": "a"}])
    options = AnnotateOptions(workers=2, threads_per_worker=2)
    with pytest.raises(ValueError, match="one torch thread"):
        annotate_files(tmp_path / "in.jsonl", tmp_path / "o.parquet", "m", options)


def test_cli_prints_the_summary_and_fails_cleanly(pipeline_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", sample_rows())
    runner = CliRunner()
    args = [
        "annotate",
        str(source),
        str(tmp_path / "out.parquet"),
        "--model",
        str(pipeline_dir),
        "--no-progress",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{len(sample_rows())} rows" in result.output and "3 errors" in result.output
    assert "rows/s" in result.output and "missing text" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_tsv_with_quotes_inside_texts(pipeline_dir, tmp_path):
    source = tmp_path / "in.tsv"
    source.write_text(
        'text\tlabel\n"Great" film, he said\tPOSITIVE\nbad "movie\tNEGATIVE\n', encoding="utf8"
    )
    annotate_files(source, tmp_path / "out.jsonl", pipeline_dir, QUIET)
    out = read_output(tmp_path / "out.jsonl")
    assert [(r["text"], r["label"]) for r in out] == [
        ('"Great" film, he said', "POSITIVE"),
        ('bad "movie', "NEGATIVE"),
    ]
    assert all(r["error"] is None for r in out)


def test_config_overrides_reach_the_loaded_pipeline(pipeline_dir):
    from spacy_bert_tasks.annotate.process import load_pipeline

    override = {"components.transformer.inference_graph": "compiled"}
    nlp = load_pipeline(pipeline_dir, config=override)
    assert nlp.get_pipe("transformer").inference_graph == "compiled"
    with pytest.raises(ValueError, match="already loaded"):
        load_pipeline(nlp, config=override)


def test_cli_passes_config_overrides_and_refuses_unknown_ones(pipeline_dir, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", sample_rows())

    def annotate(output_name, *overrides):
        args = ["annotate", str(source), str(tmp_path / output_name), "--model", str(pipeline_dir)]
        return CliRunner().invoke(app, args + ["--no-progress", *overrides])

    eager = annotate("eager.jsonl")
    assert eager.exit_code == 0, eager.output
    compiled = annotate("compiled.jsonl", "--components.transformer.inference_graph", "compiled")
    assert compiled.exit_code == 0, compiled.output
    # Compiled kernels add in another order: scores agree to about 1e-6, not to the bit.
    assert_close(read_output(tmp_path / "compiled.jsonl"), read_output(tmp_path / "eager.jsonl"))
    bad = annotate("bad.jsonl", "--components.transformer.inference_grpah", "compiled")
    assert bad.exit_code == 1 and "inference_grpah" in bad.output
    assert not (tmp_path / "bad.jsonl").exists()
