"""The benchmark harness's plumbing on tiny inputs (no timing assertions)."""

from __future__ import annotations

import json

import pytest
import yaml

from benchmarks.context import Context
from benchmarks.flops import t5_forward_flops, t5_training_flops
from benchmarks.gpu import batches, collate, synthetic_examples, synthetic_lengths
from benchmarks.harness import (
    compare,
    markdown_table,
    median,
    medians,
    not_run,
    run_interleaved,
    write_results,
)
from benchmarks.inputs import prepare_inputs, prepare_marc, replicate_lines
from tests.conftest import ROOT, make_marc_folder, review, write_jsonl


def test_median_odd_even_and_empty():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_run_interleaved_alternates_and_drops_warmup():
    calls = []

    def candidate(name):
        def run():
            calls.append(name)
            return {"value": float(len(calls))}
        return run

    runs = run_interleaved({"a": candidate("a"), "b": candidate("b")}, repeats=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [r["value"] for r in runs["a"]] == [4.0, 5.0, 8.0]
    assert [r["value"] for r in runs["b"]] == [3.0, 6.0, 7.0]
    assert medians(runs["a"]) == {"value": 5.0}


def test_compare_ratios_and_targets():
    times = compare("t", title="T", unit="s", ours=[1.0, 2.0, 9.0], reference=[10.0, 12.0, 11.0],
                    reference_name="ref", higher_is_better=False, min_ratio=5.0)
    assert times["ours_median"] == 2.0 and times["reference_median"] == 11.0
    assert times["ratio"] == pytest.approx(5.5)
    assert times["targets"] == [{"what": "ratio >= 5", "met": True}]

    speed = compare("s", title="S", unit="tokens/s", ours=[300.0], reference=[200.0],
                    reference_name="ref", higher_is_better=True, min_ratio=2.0, max_ours=100)
    assert speed["ratio"] == pytest.approx(1.5)
    assert [t["met"] for t in speed["targets"]] == [False, False]

    slowdown = compare("k", title="K", unit="s", ours=[1.2], reference=[1.0],
                       reference_name="raw", higher_is_better=False, ratio_kind="slowdown",
                       max_ratio=1.3)
    assert slowdown["ratio"] == pytest.approx(1.2)
    assert slowdown["targets"][0]["met"]
    with pytest.raises(ValueError):
        compare("x", title="X", unit="s", ours=[1.0], reference=[1.0], reference_name="r",
                higher_is_better=False, ratio_kind="sideways")


def test_write_results_json_and_markdown(tmp_path):
    entry = compare("data_stages", title="Data stages", unit="s", ours=[1.0, 3.0],
                    reference=[6.0, 8.0], reference_name="course", higher_is_better=False,
                    min_ratio=5.0, details={"note": "a note"})
    results = {"machine": {"cpu_model": "cpu", "usable_cores": 2, "ram_gb": 1.0,
                           "python": "3.x", "libraries": {"torch": "9"}},
               "quick": True, "repeats": 2, "input": {"description": "tiny"},
               "benchmarks": [entry, not_run("dvc", "dvc repro", "no train stage")]}
    json_path, md_path = write_results(results, tmp_path / "out")
    written = json.loads(json_path.read_text())
    first = written["benchmarks"][0]
    assert {"ours_median", "reference_median", "ratio", "targets"} <= set(first)
    assert first["ratio"] == pytest.approx(3.5)
    assert written["benchmarks"][1]["status"] == "skipped"
    table = md_path.read_text()
    assert table == markdown_table(results)
    assert "| Data stages | 2 s | course | 7 s | 3.50× | ratio >= 5: **not met** |" in table
    assert "skipped: no train stage" in table and "- Data stages: a note" in table


def test_replicate_lines_gives_distinct_ids():
    lines = [json.dumps(review("en", i)).encode() + b"\n" for i in range(3)]
    out = replicate_lines(lines, 7)
    ids = [json.loads(line)["review_id"] for line in out]
    assert len(out) == 7 and len(set(ids)) == 7
    assert ids[:3] == ["t-en-0", "t-en-1", "t-en-2"] and ids[3] == "copy1-t-en-0"


def test_prepare_inputs_marc_and_sample(tmp_path):
    marc = make_marc_folder(tmp_path / "marc", splits=("train", "dev"), rows_per_split=5)
    inputs = prepare_marc(marc, tmp_path / "in", rows=12)
    assert inputs.languages == ("en", "es") and inputs.train_rows == 12
    assert len((inputs.folder / "dataset_en_train.json").read_text().splitlines()) == 12
    assert (inputs.folder / "dataset_es_dev.json").is_file()

    sample = make_marc_folder(tmp_path / "sample", rows_per_split=4)
    fallback = prepare_inputs(tmp_path / "unused", quick=True, marc=tmp_path / "absent",
                              sample=sample)
    assert fallback.folder == sample and fallback.train_rows == 8


def tiny_marc_context(tmp_path, rows: int) -> Context:
    """A quick Context on MARC files of ``rows`` rows per file: half books, titles of 1-4
    words (a quarter of the rows per language reach the train split)."""
    marc = tmp_path / "marc"
    for language in ("en", "es"):
        for split in ("train", "dev"):
            write_jsonl(marc / f"dataset_{language}_{split}.json",
                        [review(language, i + (100 if split == "dev" else 0),
                                category=("book", "toy")[i % 2],
                                title=" ".join(["good"] * (1 + i % 4)))
                         for i in range(rows)])
    ctx = Context(quick=True, repeats=1, scratch=tmp_path / "scratch", marc=marc,
                  marc_rows=rows)
    ctx.scratch.mkdir()
    return ctx


def test_data_benchmark_end_to_end_writes_results(tmp_path):
    """Both sides run in their own processes on tiny files; results.json has every key."""
    from benchmarks.__main__ import run

    ctx = tiny_marc_context(tmp_path, 16)
    results = run(["data_stages"], ctx, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "results.json").read_text())
    assert written == json.loads(json.dumps(results))
    assert {"machine", "quick", "repeats", "input", "benchmarks"} <= set(written)
    assert {"cpu_model", "logical_cores", "ram_gb", "libraries"} <= set(written["machine"])
    time_entry, rss_entry = written["benchmarks"]
    assert time_entry["name"] == "data_stages" and rss_entry["name"] == "data_stages_rss"
    assert time_entry["ratio"] == pytest.approx(time_entry["reference_median"]
                                                / time_entry["ours_median"])
    details = time_entry["details"]
    # 16 rows per file, half books, titles of 3+ words on half of those: 4 per language.
    assert details["rows_out"]["ours"] == {"train": 8, "validation": 8}
    assert details["same_rows_in_same_order"] is True
    assert rss_entry["ours_median"] > 0
    assert (ctx.dataset_path / "train.parquet").is_file()


def test_flops_count_matches_hand_computation():
    from transformers import T5Config

    config = T5Config(vocab_size=10, d_model=4, d_ff=8, num_layers=1, num_decoder_layers=1,
                      num_heads=2, d_kv=2, feed_forward_proj="gated-gelu")
    s, t, d, inner, ff = 3, 2, 4, 4, 8
    encoder = 8 * s * d * inner + 4 * s * s * inner + 6 * s * d * ff
    decoder = (8 * t * d * inner + 4 * t * t * inner + 4 * t * d * inner + 4 * s * d * inner
               + 4 * t * s * inner + 6 * t * d * ff)
    assert t5_forward_flops(config, s, t) == encoder + decoder + 2 * t * d * 10
    assert t5_training_flops(config, [(s, t), (s, t)]) == 6 * (encoder + decoder + 160)


def test_gpu_script_helpers_batch_and_pad():
    lengths = synthetic_lengths(20, seed=1)
    assert all(8 <= s <= 512 and 2 <= t <= 30 for s, t in lengths)
    examples = synthetic_examples(lengths, vocab=50)
    grouped = batches(list(range(20)), examples, 6, group_by_length=True)
    assert sorted(i for batch in grouped for i in batch) == list(range(20))
    assert all(len(examples[a][0]) >= len(examples[b][0]) for batch in grouped
               for a, b in zip(batch, batch[1:], strict=False))
    inputs = collate(examples, grouped[0], "cpu")
    first = grouped[0]
    assert inputs["input_ids"].shape[1] == max(len(examples[i][0]) for i in first)
    assert int(inputs["attention_mask"].sum()) == sum(len(examples[i][0]) for i in first)
    assert int((inputs["labels"] != -100).sum()) == sum(len(examples[i][1]) for i in first)


def test_gpu_script_runs_on_cpu_tiny(tmp_path):
    """The GPU script's whole code path, on the CPU with tiny models and inputs."""
    from benchmarks.gpu import main

    out = tmp_path / "gpu"
    assert main(["--device", "cpu", "--tiny", "--models", "scratch", "--examples", "12",
                 "--gen-examples", "4", "--budget-s", "0.05", "--out", str(out)]) == 0
    written = json.loads((out / "results.json").read_text())
    names = [entry["name"] for entry in written["benchmarks"]]
    assert names == ["gpu_train_scratch", "gpu_generation_scratch"]
    train = written["benchmarks"][0]
    assert train["ours_median"] > 0 and train["reference_median"] > 0
    assert 0 < train["details"]["mfu_vs_measured_matmul"]["ours"]
    assert written["benchmarks"][1]["details"]["examples"] == 4


def test_train_overhead_benchmark_times_the_stage_and_a_bare_loop_on_the_same_batches(
        tmp_path, monkeypatch):
    """Both sides train on the batches of the stage's own DataLoader (checked by shape)."""
    from benchmarks import step_overhead
    from benchmarks.__main__ import run

    params = step_overhead.stage_params("train")
    monkeypatch.setattr(step_overhead, "stage_params",
                        lambda section: {**params, "batch_size": 4})  # 16 rows: 4 steps
    ctx = tiny_marc_context(tmp_path, 32)
    entry, = run(["train_overhead"], ctx, tmp_path / "out")["benchmarks"]
    assert entry["name"] == "train_overhead", entry
    assert entry["details"]["same_batches"] is True
    assert entry["details"]["optimizer_steps"] == 4 and entry["details"]["rows"] == 16
    assert len(entry["ours_runs"]) == len(entry["reference_runs"]) == 2
    assert entry["ratio"] == pytest.approx(entry["reference_median"] / entry["ours_median"])
    assert [t["what"] for t in entry["targets"]] == ["ratio <= 1.3"]


def test_steps_per_second_needs_two_steps():
    from benchmarks.step_overhead import steps_per_second

    assert steps_per_second([10.0, 10.5, 11.0]) == 2.0
    with pytest.raises(ValueError):
        steps_per_second([1.0])


def test_gpu_check_tiny_runs_every_stage_then_throughput_and_prints_one_table(tmp_path):
    """benchmarks/gpu.sh's code path on the CPU: dvc.yaml's stages with the GPU profile
    (made tiny) in a work folder, the throughput benchmark, and the summary table."""
    from benchmarks.gpu_check import main, stage_names

    work, out = tmp_path / "work", tmp_path / "out"
    assert main(["--tiny", "--work", str(work), "--out", str(out)]) == 0
    table = (out / "summary.md").read_text()
    for name in stage_names():
        assert f"| stage {name} | " in table
    assert stage_names()[:2] == ["download", "filter_books"] and "train" in stage_names()
    assert "optimizer steps" in table and "input tokens/s" in table and "MFU" in table
    for language in ("en", "es"):
        row = next(line for line in table.splitlines()
                   if line.startswith(f"| validation ROUGE-1, {language} |"))
        assert "model " in row and "lead_words " in row
    # The profile and the tiny settings reached the stages; the checkout's params did not.
    written = yaml.safe_load((work / "params.yaml").read_text())
    assert written["base_model"]["scratch"]["d_model"] == 32
    assert written["train"]["learning_rate"] == 0.001  # from profiles/gpu.yaml
    assert (work / "data" / "train" / "model" / "config.json").is_file()


def test_gpu_check_names_missing_packages_in_one_line(monkeypatch, capsys, tmp_path):
    from benchmarks import gpu_check

    monkeypatch.setattr(gpu_check, "REQUIRED", {"json": "json", "no_such_module_x": "no-such-x"})
    assert gpu_check.missing_packages() == ["no-such-x"]
    assert gpu_check.main(["--tiny", "--work", str(tmp_path)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "no-such-x" in message and "--wheels" in message


def test_profile_gives_dvc_arguments_and_refuses_unknown_keys(tmp_path):
    from benchmarks.profile import dvc_arguments, merged, read_profile

    profile = read_profile(ROOT / "profiles" / "gpu.yaml")
    args = dvc_arguments(profile)
    assert args[::2] == ["-S"] * (len(args) // 2)
    assert "train.batch_size=512" in args and "base_model.scratch.d_model=384" in args
    params = {"train": {"batch_size": 64, "epochs": 2}, "tokenize": {"max_input_length": 64}}
    assert merged(params, {"train": {"batch_size": 512}}) == {
        "train": {"batch_size": 512, "epochs": 2}, "tokenize": {"max_input_length": 64}}
    with pytest.raises(SystemExit, match="'batch_sise' is not a key"):
        merged(params, {"train": {"batch_sise": 512}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(SystemExit, match="YAML mapping"):
        read_profile(bad)
