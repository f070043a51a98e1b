"""The benchmark harness runs end to end on a tiny model; speed is never asserted."""

import json

import pytest

from bench import report, run, tf_profile


def _rows(output_dir):
    with open(output_dir / "results.json") as f:
        return json.load(f)


def test_tiny_suite_in_process_writes_json_and_markdown_with_every_row(tmp_path, spm_model_path):
    run.main(
        [
            "--size=tiny",
            "--repeats=1",
            "--in_process",
            "--scenarios=train_fixed,infer_fixed,sst2_epoch,squad_infer",
            "--implementations=ours,hf_torch,ours_bucketed,ours_padded",
            "--sst2_examples=12",
            "--squad_examples=3",
            f"--spm_model_file={spm_model_path}",
            f"--output_dir={tmp_path}",
        ]
    )
    results = _rows(tmp_path)
    rows = {(r["scenario"], r["implementation"]): r for r in results["results"]}
    assert set(rows) == {
        ("train_fixed", "ours"),
        ("train_fixed", "hf_torch"),
        ("infer_fixed", "ours"),
        ("infer_fixed", "hf_torch"),
        ("sst2_epoch", "ours_bucketed"),
        ("sst2_epoch", "ours_padded"),
        ("squad_infer", "ours_bucketed"),
        ("squad_infer", "ours_padded"),
    }
    for row in rows.values():
        assert row["ok"], row
        assert row["value"] > 0 and row["peak_rss_mb"] > 0
    # Both SST-2 variants see the same sentences; padding adds computed tokens.
    bucketed, padded = rows[("sst2_epoch", "ours_bucketed")], rows[("sst2_epoch", "ours_padded")]
    assert bucketed["real_tokens"] == padded["real_tokens"]
    assert bucketed["computed_tokens"] < padded["computed_tokens"] == 12 * 64
    assert results["machine"]["cpu_count"] >= 1
    # Fixed-shape rows carry their fraction of the float32 matmul peak measured in the same run.
    assert set(results["matmul_peak_gflops"]) == {"float32"}
    for scenario in ("train_fixed", "infer_fixed"):
        row = rows[(scenario, "ours")]
        assert row["peak_fraction"] == pytest.approx(row["model_gflops"] / results["matmul_peak_gflops"]["float32"])

    markdown = (tmp_path / "results.md").read_text()
    assert "of the float32 matmul peak" in markdown
    assert "### Train step, fixed shapes" in markdown
    assert "### SST-2 fine-tuning epoch" in markdown
    assert "| HF transformers AlbertForSequenceClassification, PyTorch eager |" in markdown
    assert "### Targets" in markdown


def test_tflite_latency_and_its_matmul_ceiling_are_measured_on_the_same_sentences(tmp_path, spm_model_path):
    run.main(
        [
            "--size=tiny",
            "--in_process",
            "--scenarios=latency,ffn_matmul",
            "--implementations=tflite_float32,tflite_int8,ours_int8,ours_xla",
            f"--spm_model_file={spm_model_path}",
            f"--output_dir={tmp_path}",
        ]
    )
    rows = {(r["scenario"], r["implementation"]): r for r in _rows(tmp_path)["results"]}
    assert set(rows) == {(s, i) for s in ("latency", "ffn_matmul") for i in ("tflite_float32", "tflite_int8")} | {
        ("latency", "ours_int8"), ("latency", "ours_xla")
    }
    for row in rows.values():
        assert row["ok"], row
        assert row["unit"] in ("ms/sentence", "ms/call") and row["value"] > 0
        assert len(row["times_s"]) == 3  # --latency_repeats of the tiny size
    int8_weights = int(rows[("latency", "ours_int8")]["note"].split(": ")[1].split()[0])
    assert int8_weights >= 8  # the tiny model's Dense kernels and embedding tables
    length = round(rows[("latency", "tflite_int8")]["mean_length"])
    assert rows[("ffn_matmul", "tflite_int8")]["note"].startswith(f"1 × {length} × 32 → 64 → 32;")
    assert "### Feed-forward matmuls alone in TFLite" in (tmp_path / "results.md").read_text()


def test_a_matmul_peak_that_cannot_be_measured_is_reported_not_raised(tmp_path, capsys):
    args = run.parse_args(["--size=tiny", f"--output_dir={tmp_path}", "--timeout=0.001"])
    assert run.measure_matmul_peaks(args, run.workloads.DEFAULT_SHAPES["tiny"], {"float32"}) == {}
    assert "matmul peak, float32: timed out" in capsys.readouterr().err


def test_savedmodel_serves_single_sentences_by_ids_and_by_text_and_a_batch_of_texts(tmp_path, spm_model_path):
    run.main(
        [
            "--size=tiny",
            "--in_process",
            "--scenarios=latency",
            "--implementations=savedmodel",
            "--serving_batch_size=5",
            f"--spm_model_file={spm_model_path}",
            f"--output_dir={tmp_path}",
        ]
    )
    rows = {r["implementation"]: r for r in _rows(tmp_path)["results"]}
    assert set(rows) == {"savedmodel", "savedmodel_text"}
    assert all(row["ok"] and row["value"] > 0 for row in rows.values()), rows
    text = rows["savedmodel_text"]
    assert text["batch_sentences_per_s"] > 0
    assert f"a batch of 5 sentences: {text['batch_sentences_per_s']:.1f} sentences/s" in text["note"]
    # The op profiler reads the same SavedModel's serving_default.
    _, by_part = tf_profile.main([f"--saved_model={tmp_path / 'work' / 'savedmodel' / '1'}", "--steps=2"])
    assert by_part["matmul"] > 0 and by_part["attention"] > 0


def test_worker_subprocess_reports_its_own_row(tmp_path):
    run.main(
        [
            "--size=tiny",
            "--repeats=1",
            "--scenarios=infer_fixed",
            "--implementations=ours",
            f"--output_dir={tmp_path}",
        ]
    )
    (row,) = _rows(tmp_path)["results"]
    assert row["ok"], row
    assert row["unit"] == "seq/s" and row["shape"] == [2, 32]


def test_failed_job_is_reported_in_the_table_not_raised(tmp_path):
    run.main(
        [
            "--size=tiny",
            "--repeats=1",
            "--in_process",
            "--scenarios=infer_fixed",
            "--implementations=ours",
            "--fixed_seq_length=1000",  # Longer than the model's 512 positions.
            f"--output_dir={tmp_path}",
        ]
    )
    (row,) = _rows(tmp_path)["results"]
    assert not row["ok"] and "max_sequence_length" in row["error"]
    assert "| failed |" in (tmp_path / "results.md").read_text()


def test_a_work_size_below_its_minimum_is_refused_by_name():
    with pytest.raises(ValueError, match=r"--latency_repeats must be at least 1\. Received: 0"):
        run.main(["--size=tiny", "--scenarios=latency", "--latency_repeats=0"])
    with pytest.raises(ValueError, match=r"--sst2_padded_steps must be at least 0\. Received: -1"):
        run.main(["--size=tiny", "--scenarios=sst2_epoch", "--sst2_padded_steps=-1"])
    with pytest.raises(ValueError, match=r"--repeats must be at least 1\. Received: 0"):
        run.main(["--size=tiny", "--scenarios=train_fixed", "--repeats=0"])


@pytest.mark.parametrize(
    "flags", [["--scenarios="], ["--scenarios=latency", "--implementations=keras_hub_xla"]], ids=["no_scenario", "no_match"]
)
def test_a_selection_of_no_rows_is_refused_naming_both_flags(flags):
    with pytest.raises(ValueError, match=r"Nothing to run: --scenarios=.* with --implementations=.* selects no row"):
        run.main(["--size=tiny", *flags])


def _row(implementation, value, scenario="infer_fixed", **extra):
    row = dict(scenario=scenario, implementation=implementation, value=value, unit="seq/s",
               higher_is_better=True, ok=True)
    return dict(row, **extra)


def test_targets_compare_best_of_ours_with_best_peer():
    results = [
        _row("ours_xla", 2.0, "train_fixed"),
        _row("ours", 1.0, "train_fixed"),
        _row("keras_hub_xla", 1.5, "train_fixed"),
        _row("hf_torch", 2.5, "train_fixed"),
        _row("ours_xla", 7.0, "infer_fixed"),
        _row("hf_torch", 5.0, "infer_fixed"),
        _row("ours_bucketed", 10.0, "sst2_epoch", higher_is_better=False),
        _row("ours_padded", 40.0, "sst2_epoch", higher_is_better=False),
    ]
    checks = {c["target"].split(":")[0]: c for c in report.target_checks(results)}
    train = checks["CPU fixed shapes, training"]
    assert (train["numerator"], train["denominator"]) == ("ours_xla", "hf_torch")
    assert train["ratio"] == 0.8 and train["met"] is False
    assert checks["CPU fixed shapes, inference"]["ratio"] == 1.4
    assert checks["SST-2 epoch"]["ratio"] == 4.0 and checks["SST-2 epoch"]["met"] is True
    assert checks["int8 TFLite / float32 TFLite single-sentence latency"]["met"] is None


def test_bf16_targets_compare_like_with_like():
    results = [
        _row("ours_xla", 2.0, "train_fixed"),
        _row("ours_bf16", 3.2, "train_fixed"),
        _row("ours_xla_bf16", 2.1, "train_fixed"),
        _row("keras_hub", 1.9, "train_fixed"),
        _row("keras_hub_bf16", 2.5, "train_fixed"),
        _row("hf_torch_bf16", 2.0, "train_fixed"),
    ]
    checks = {c["target"]: c for c in report.target_checks(results)}
    float32 = checks["CPU fixed shapes, training: ours / best peer, float32"]
    assert (float32["numerator"], float32["denominator"]) == ("ours_xla", "keras_hub")
    gain = checks["CPU bf16 training: ours bf16 / ours best float32"]
    assert (gain["numerator"], gain["denominator"], gain["ratio"], gain["met"]) == ("ours_bf16", "ours_xla", 1.6, True)
    versus_peers = checks["CPU bf16 training: ours / best peer, both bf16"]
    assert (versus_peers["denominator"], versus_peers["ratio"]) == ("keras_hub_bf16", 1.28)
    assert checks["CPU bf16 inference: ours bf16 / ours best float32"]["met"] is None
