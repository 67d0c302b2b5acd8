from __future__ import annotations

from pathlib import Path

from loci.files import describe, describe_mentioned, mentioned_files


def test_finds_relative_absolute_and_spaced_names(tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text("a,b\n1,2\n")
    spaced = tmp_path / "beauty and the labor market.csv"
    spaced.write_text("x\n1\n")
    text = f'plot sales.csv, then read "{spaced}" and also missing.csv.'
    assert mentioned_files(text, tmp_path) == [tmp_path / "sales.csv", spaced]
    assert mentioned_files("version 1.5 of numpy.", tmp_path) == []


def test_csv_preview_has_columns_types_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xef\xbb\xbfname,age,score\r\nann,31,2.5\r\nbob,40,\r\n")
    text = describe(path)
    assert "about 2 rows, 3 columns" in text
    assert "name (text), age (int), score (float)" in text
    assert "ann,31,2.5" in text and "\ufeff" not in text


def test_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\nworld\n")
    (tmp_path / "blob.bin").write_bytes(b"\0" * 10)
    out = describe_mentioned("read notes.txt and blob.bin", tmp_path)
    assert "first lines:\nhello\nworld" in out and "blob.bin: 10 bytes" in out
    assert describe_mentioned("nothing here", tmp_path) == ""


def test_finds_names_in_chinese_text_without_spaces(tmp_path: Path) -> None:
    (tmp_path / "sales.csv").write_text("a,b\n1,2\n")
    (tmp_path / "notes.txt").write_text("x\n")
    text = f"给你一个数据文件：{tmp_path / 'sales.csv'}\n请读取notes.txt文件，然后画图。"
    assert mentioned_files(text, tmp_path) == [tmp_path / "sales.csv", tmp_path / "notes.txt"]
    assert mentioned_files("（见 sales.csv）。", tmp_path) == [tmp_path / "sales.csv"]
