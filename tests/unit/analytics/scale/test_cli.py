"""``python -m analytics.scale``: the library's tables from a shell, and one line saying what to fix otherwise."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from analytics.scale.__main__ import main, master
from analytics.scale.refresh import scale_scores
from analytics.scale.source import read_lines

AS_OF = "2027-01-15"  # after the newest order of the small shop (2026-11-30)


@pytest.fixture(scope="module")
def refreshed(
    spark: SparkSession, lines_parquet: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str]:
    out = tmp_path_factory.mktemp("cli-refresh") / "refresh"
    out.mkdir()
    (out / "stale.txt").write_text("a previous run's file")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["refresh", "--lines", str(lines_parquet), "--out", str(out), "--as-of", AS_OF, "--overwrite"])
    return out, code, printed.getvalue()


@pytest.fixture(scope="module")
def library(spark: SparkSession, lines_parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return scale_scores(read_lines(spark, lines_parquet), reference_date=AS_OF).write(
        tmp_path_factory.mktemp("library") / "refresh"
    )


def read(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder).sort_values("customer_id").reset_index(drop=True)


def test_refresh_writes_the_librarys_scores_and_clv_summary_as_of_the_given_date(
    refreshed: tuple[Path, int, str], library: dict[str, Path]
) -> None:
    out, code, _ = refreshed
    assert code == 0
    assert (read(out / "scores")["as_of"] == pd.Timestamp(AS_OF)).all()
    pd.testing.assert_frame_equal(read(out / "scores"), read(library["scores"]))
    pd.testing.assert_frame_equal(read(out / "clv_summary"), read(library["clv_summary"]))


def test_refresh_with_overwrite_replaces_the_previous_contents_and_says_what_it_did(
    refreshed: tuple[Path, int, str], shop_lines: pd.DataFrame
) -> None:
    out, _, printed = refreshed
    assert sorted(p.name for p in out.iterdir()) == ["clv_summary", "scores"]
    assert f"{len(shop_lines):,} order lines read" in printed
    assert f"{shop_lines['customer_id'].nunique():,} customers written" in printed


def test_recommend_writes_n_unbought_products_per_customer(
    spark: SparkSession, lines_parquet: Path, shop_lines: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "recommendations"
    assert main(["recommend", "--lines", str(lines_parquet), "--out", str(out), "--n", "3"]) == 0
    written = read(out)
    assert list(written.columns) == ["customer_id", "rank", "product_id", "score"]
    assert set(written["customer_id"]) == set(shop_lines["customer_id"])
    assert set(written.groupby("customer_id")["rank"].agg(lambda ranks: tuple(sorted(ranks)))) == {(1, 2, 3)}
    bought = set(zip(shop_lines["customer_id"], shop_lines["product_id"]))
    assert not bought & set(zip(written["customer_id"], written["product_id"]))
    assert f"{shop_lines['customer_id'].nunique():,} customers written" in capsys.readouterr().out


def test_a_job_that_fails_while_writing_leaves_the_previous_recommendations_in_place(
    spark: SparkSession, lines_parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FailingOnTheLastPartition:
        def fit(self, lines: DataFrame) -> FailingOnTheLastPartition:
            return self

        def recommend_all(self, n: int) -> DataFrame:
            rows = spark.range(0, 1000, numPartitions=4)  # three partitions are written before the fourth fails
            return rows.select(F.when(F.col("id") < 999, F.col("id")).otherwise(F.raise_error(F.lit("boom"))))

    monkeypatch.setattr("analytics.scale.__main__.ScaleALS", FailingOnTheLastPartition)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "last-week.parquet").write_bytes(b"the previous run")
    with pytest.raises(Exception, match="boom"):
        main(["recommend", "--lines", str(lines_parquet), "--out", str(tmp_path / "out"), "--overwrite"])
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["last-week.parquet"]


def drop_quantity(lines: pd.DataFrame, folder: Path) -> Path:
    lines.drop(columns=["quantity"]).to_csv(folder / "lines.csv", index=False)
    return folder / "lines.csv"


def header_only(lines: pd.DataFrame, folder: Path) -> Path:
    lines.iloc[:0].to_csv(folder / "lines.csv", index=False)
    return folder / "lines.csv"


def missing(lines: pd.DataFrame, folder: Path) -> Path:
    return folder / "no-such-lines"


@pytest.mark.parametrize("command", ["refresh", "recommend"])
@pytest.mark.parametrize(
    ("make_lines", "message"),
    [
        (missing, r"no-such-lines does not exist"),
        (header_only, r"the order lines are empty"),
        (drop_quantity, r"lack column\(s\) quantity"),
    ],
)
def test_bad_lines_exit_2_with_one_line_saying_what_to_fix_and_write_nothing(
    spark: SparkSession,
    shop_lines: pd.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    command: str,
    make_lines,
    message: str,
) -> None:
    (tmp_path / "input").mkdir()
    lines = make_lines(shop_lines, tmp_path / "input")
    assert main([command, "--lines", str(lines), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"python -m analytics.scale {command}: error: ")
    assert re.search(message, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input"]  # no out, no staging folder beside it


def test_an_as_of_date_before_the_newest_order_is_refused_before_anything_is_written(
    spark: SparkSession, lines_parquet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert (
        main(["refresh", "--lines", str(lines_parquet), "--out", str(tmp_path / "out"), "--as-of", "2026-06-01"]) == 2
    )
    assert "placed after the reference date" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["refresh", "recommend"])
def test_an_out_folder_that_holds_files_is_left_untouched_without_overwrite(
    spark: SparkSession, lines_parquet: Path, tmp_path: Path, capsys: pytest.CaptureFixture, command: str
) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "last-week.parquet").write_bytes(b"the previous run")
    assert main([command, "--lines", str(lines_parquet), "--out", str(tmp_path / "out")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["last-week.parquet"]
    assert (tmp_path / "out" / "last-week.parquet").read_bytes() == b"the previous run"


@pytest.mark.parametrize("out", [".", "..", "refresh"])
def test_the_lines_folder_neither_is_nor_holds_nor_lies_in_the_out_folder_even_with_overwrite(
    spark: SparkSession, shop_lines: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture, out: str
) -> None:
    lines = tmp_path / "shop" / "lines"
    lines.mkdir(parents=True)
    shop_lines.to_parquet(lines / "part-0.parquet", coerce_timestamps="us")
    assert main(["refresh", "--lines", str(lines), "--out", str(lines / out), "--overwrite"]) == 2
    assert "write to a folder of its own" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "shop").iterdir()] == ["lines"]
    assert [p.name for p in lines.iterdir()] == ["part-0.parquet"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["refresh", "--as-of", "30/11/2026"], "argument --as-of: '30/11/2026' is not a date; write it as YYYY-MM-DD"),
        (["recommend", "--n", "0"], "argument --n: '0' is not a whole number of at least 1"),
        (["recommend", "--lines", "x"], "the following arguments are required: --out"),
    ],
)
def test_a_malformed_command_line_exits_2_naming_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture, arguments: list[str], message: str
) -> None:
    defaults = ["--lines", "x", "--out", str(tmp_path / "out")] if "--lines" not in arguments else []
    with pytest.raises(SystemExit) as exited:
        main([*arguments, *defaults])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_master_is_spark_submits_under_spark_submit_and_local_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert master(None) == "local[2]"
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")
    assert master(None) == ""
    assert master("local[4]") == "local[4]"
