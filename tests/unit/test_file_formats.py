"""Export files into raw records; hostile XML is refused."""

from __future__ import annotations

import pytest

from gateway.sources.file_formats import FileFormatError, parse_records


def parse(data: bytes, fmt: str, **kw: object) -> list[object]:
    return parse_records(data, fmt, max_records=kw.pop("max_records", 100), **kw)  # type: ignore[arg-type]


def test_json_array_single_object_and_errors() -> None:
    assert parse('[{"a": "Ánh"}, {"a": 2}]'.encode(), "json") == [{"a": "Ánh"}, {"a": 2}]
    assert parse(b'{"a": 1}', "json") == [{"a": 1}]
    with pytest.raises(FileFormatError, match="line 2 column 1"):
        parse(b'[{"a": 1},\n]', "json")
    with pytest.raises(FileFormatError, match="array of records"):
        parse(b'"x"', "json")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        parse(b'["\xff"]', "json")


def test_ndjson_skips_blank_lines_and_names_the_bad_one() -> None:
    assert parse(b'{"a": 1}\n\n{"a": 2}\n', "ndjson") == [{"a": 1}, {"a": 2}]
    with pytest.raises(FileFormatError, match="line 3"):
        parse(b'{"a": 1}\n\n{"a": \n', "ndjson")


def test_csv_with_bom_delimiter_and_a_ragged_row() -> None:
    data = "\ufeffSố hồ sơ;Người nộp\nH56-1;Đỗ Thị Ngọc Ánh\n\n".encode()
    assert parse(data, "csv", csv_delimiter=";") == [
        {"Số hồ sơ": "H56-1", "Người nộp": "Đỗ Thị Ngọc Ánh"}
    ]
    with pytest.raises(FileFormatError, match="line 3: 3 cells"):
        parse(b"a,b\n1,2\n1,2,3\n", "csv")
    with pytest.raises(FileFormatError, match="repeats a column"):
        parse(b"a,a\n1,2\n", "csv")
    with pytest.raises(FileFormatError, match="cannot decode"):
        parse("a\nĐ\n".encode("utf-16"), "csv")


def test_xml_records_nested_and_repeated_elements() -> None:
    data = """<?xml version="1.0" encoding="UTF-8"?>
<hoso_list>
  <hoso><MaHoSo>H56-1</MaHoSo><ChuHoSo>Vũ Đình Hưng</ChuHoSo>
    <TepDinhKem><Ten>a.pdf</Ten></TepDinhKem><TepDinhKem><Ten>b.pdf</Ten></TepDinhKem>
  </hoso>
  <hoso><MaHoSo>H56-2</MaHoSo><ChuHoSo>Lê &amp; Phạm</ChuHoSo></hoso>
</hoso_list>""".encode()
    records = parse(data, "xml")
    assert records == [
        {
            "MaHoSo": "H56-1",
            "ChuHoSo": "Vũ Đình Hưng",
            "TepDinhKem": [{"Ten": "a.pdf"}, {"Ten": "b.pdf"}],
        },
        {"MaHoSo": "H56-2", "ChuHoSo": "Lê & Phạm"},
    ]
    wrapped = b"<export><meta><n>2</n></meta><data><r><a>1</a></r><r><a>2</a></r></data></export>"
    assert parse(wrapped, "xml", xml_record_tag="r") == [{"a": "1"}, {"a": "2"}]


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;">]><r><a>&lol2;</a></r>',
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<r><a>&xxe;</a></r>",
        b'<!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r><a>1</a></r>',
    ],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_xml_with_a_dtd_is_refused(data: bytes) -> None:
    with pytest.raises(FileFormatError, match="DTD"):
        parse(data, "xml")


def test_undeclared_entities_and_broken_xml_say_where() -> None:
    with pytest.raises(FileFormatError, match="undefined entity"):
        parse(b"<r><a>&passwd;</a></r>", "xml")
    with pytest.raises(FileFormatError, match="line 2"):
        parse(b"<r>\n<a></b></r>", "xml")


def test_record_limits_hold_in_every_format() -> None:
    with pytest.raises(FileFormatError, match="more than 2 records"):
        parse(b"[1, 2, 3]", "json", max_records=2)
    with pytest.raises(FileFormatError, match="more than 2 records"):
        parse(b"1\n2\n3\n", "ndjson", max_records=2)
    with pytest.raises(FileFormatError, match="more than 2 records"):
        parse(b"a\n1\n2\n3\n", "csv", max_records=2)
    with pytest.raises(FileFormatError, match="more than 2 records"):
        parse(b"<r><x/><x/><x/></r>", "xml", max_records=2)
