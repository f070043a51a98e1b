"""The matmul-rate probe measures every precision with and without XLA; speed is never asserted."""

import pytest

from bench import matmul_peak


def test_every_precision_is_measured_with_and_without_xla(capsys):
    rows = matmul_peak.main(["--m=16", "--k=8", "--n=32", "--repeats=2"])
    assert {(row["dtype"], row["xla"]) for row in rows} == set(matmul_peak.CASES)
    assert all(row["gflops"] > 0 for row in rows)
    assert "| bfloat16 | no |" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--m=0", "--repeats=0"])
def test_a_size_below_one_is_refused_by_name(flag, capsys):
    with pytest.raises(SystemExit):
        matmul_peak.parse_args([flag])
    assert flag.split("=")[0] in capsys.readouterr().err
