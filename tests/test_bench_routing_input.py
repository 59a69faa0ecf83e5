"""``hub bench routing`` refuses grievance files it cannot score honestly, saying why, and
leaves out (naming them) the rows it cannot score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.bench.routing import RoutingOptions, run_routing
from tests.conftest import run_hub

FIXTURE = Path(__file__).resolve().parent / "fixtures"
TAXONOMY = FIXTURE / "cpgrams"
LABELLED = FIXTURE / "cpgrams_grievances.csv"
HEADER = "id,org_code,org_name,category_path,text\n"


def bench(
    capsys: pytest.CaptureFixture[str], eval_csv: Path, train_csv: Path | None = None
) -> tuple[int, str, str]:
    rc = run_routing(RoutingOptions(TAXONOMY, eval_csv, train_csv, keywords=None, folds=2))
    out, err = capsys.readouterr()
    return rc, out, err


def refused(capsys: pytest.CaptureFixture[str], eval_csv: Path, **kw: Path) -> list[str]:
    rc, out, err = bench(capsys, eval_csv, **kw)
    assert rc == 2, (out, err)
    assert "Traceback" not in err and "top-1" not in out
    return err.splitlines()


def test_the_cli_refuses_a_file_not_in_utf8_without_a_traceback(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(HEADER.encode() + b"1,DOTEL,T,,Caf\xe9\n")
    result = run_hub(
        "bench", "routing", "--taxonomy-dir", str(TAXONOMY), "--eval", str(latin), "--no-keywords"
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"{latin}: not UTF-8 text (byte 0xe9 on line 2); save it as UTF-8 CSV"
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ((HEADER + "1,DOTEL,T,,Cafe\n").encode("utf-16"), "UTF-16 text, not UTF-8"),
        (bytes(range(256)) * 4, "not UTF-8 text (byte 0x80 on line 2)"),
        (HEADER.encode() + b"1,DOTEL,T,,a\x00b\n", "line 2: NUL bytes, so not a text file"),
        ((HEADER + "1,DOTEL,T,,Cafe\n").encode("utf-16-le"), "line 1: NUL bytes"),
        (b"", "is empty"),
    ],
    ids=["utf-16", "binary", "nul-byte", "utf-16-without-bom", "zero-bytes"],
)
def test_an_unreadable_eval_file_is_named_with_its_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, said: str
) -> None:
    bad = tmp_path / "export.csv"
    bad.write_bytes(content)
    [line] = refused(capsys, bad)
    assert line.startswith(f"{bad}: ") and said in line


def test_a_missing_path_or_a_directory_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert refused(capsys, missing) == [f"{missing}: cannot be read (No such file or directory)"]
    assert refused(capsys, tmp_path) == [f"{tmp_path}: cannot be read (Is a directory)"]
    # the training file too, and both files' problems at once
    assert refused(capsys, missing, train_csv=tmp_path) == [
        f"{missing}: cannot be read (No such file or directory)",
        f"{tmp_path}: cannot be read (Is a directory)",
    ]


def test_a_file_with_only_its_header_has_no_grievances(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER)
    assert refused(capsys, empty) == [f"{empty}: has no grievances, only a header"]
    # an empty training file would silently leave out the trained model
    assert refused(capsys, LABELLED, train_csv=empty) == [
        f"{empty}: has no grievances, only a header"
    ]


def test_rows_that_cannot_be_scored_are_listed_by_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "1,JALSH,Water,,no water in the tap\n"
        + "2,JALSH,Water,,\n"  # line 3: no text
        + "3,,Water,,no water in the tap\n"  # line 4: no organisation
        + '4,JALSH,Water,,"a text\nover two lines"\n'  # lines 5-6: fine
        + "5,JALSH\n"  # line 7: cells missing
        + "6,JALSH,Water,,   \n"  # line 8: blank text
    )
    # left out, not scored as wrong answers, and named so the export can be fixed
    rc, out, err = bench(capsys, bad)
    assert rc == 0, err
    assert err.splitlines() == [
        f"{bad}: line 3: no text",
        f"{bad}: line 4: no org_code",
        f"{bad}: line 7: 2 cell(s) where the header names 5, no text",
        f"{bad}: line 8: no text",
        f"{bad}: 4 of 6 grievance(s) cannot be scored and are left out; fix the export",
    ]
    assert json.loads(out.strip().splitlines()[-1])["eval_rows"] == 2


def test_a_long_list_of_bad_rows_is_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "".join(f"{i},,T,,some text\n" for i in range(25)))
    lines = refused(capsys, bad)
    assert lines[0] == f"{bad}: line 2: no org_code"
    assert lines[19] == f"{bad}: line 21: no org_code"
    assert lines[20:] == [
        f"{bad}: ... and 5 more bad row(s)",
        f"{bad}: 25 of 25 grievance(s) cannot be scored and are left out; fix the export",
    ]


def test_a_good_file_is_still_scored(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = bench(capsys, LABELLED)
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["eval_rows"] == 20
