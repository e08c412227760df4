"""csv_parser: one delimited line into named fields (static `header` or per-entry `header_attribute`)."""

from __future__ import annotations

from typing import Any, Literal

from otelflow.stanza.entry import Entry
from otelflow.stanza.helper.parser import Parser, ParserConfig
from otelflow.stanza.operator import BuildError, Emit
from otelflow.stanza.operators.parser._common import go_type
from otelflow.stanza.operators.parser.gocsv import read_csv_row
from otelflow.stanza.registry import register


class CsvParserConfig(ParserConfig):
    type: Literal["csv_parser"] = "csv_parser"
    header: str = ""
    header_delimiter: str = ""
    header_attribute: str = ""
    delimiter: str = ""
    lazy_quotes: bool = False
    ignore_quotes: bool = False


class CsvParser(Parser):
    def __init__(self, cfg: CsvParserConfig) -> None:
        super().__init__(cfg)
        delimiter = cfg.delimiter or ","
        header_delimiter = cfg.header_delimiter or delimiter
        if cfg.ignore_quotes and cfg.lazy_quotes:
            raise BuildError("only one of 'ignore_quotes' or 'lazy_quotes' can be true")
        if len(delimiter) != 1:
            raise BuildError(f"invalid 'delimiter': '{delimiter}'", "delimiter")
        if len(header_delimiter) != 1:
            raise BuildError(f"invalid 'header_delimiter': '{header_delimiter}'", "header_delimiter")
        if not cfg.header and not cfg.header_attribute:
            raise BuildError("missing required field 'header' or 'header_attribute'")
        if cfg.header and cfg.header_attribute:
            raise BuildError("only one header parameter can be set: 'header' or 'header_attribute'")
        if cfg.header and header_delimiter not in cfg.header:
            raise BuildError("missing field delimiter in header", "header")
        self.delimiter = delimiter
        self.header_delimiter = header_delimiter
        self.header_attribute = cfg.header_attribute
        self.lazy = cfg.lazy_quotes
        self.ignore_quotes = cfg.ignore_quotes
        self.headers: list[str] | None = cfg.header.split(header_delimiter) if cfg.header else None
        self._entry_headers: list[str] = []

    def process(self, entry: Entry) -> list[Emit]:
        if self.headers is None:
            try:
                if self.skip(entry):
                    return [(None, entry)]
            except Exception as exc:  # noqa: BLE001 - a failing `if` is an entry error
                return self.handle_error(entry, exc)
            # upstream: a missing/non-string header attribute is an error that neither sends nor drops
            # per on_error -- the entry does not continue
            header = (entry.attributes or {}).get(self.header_attribute, None)
            if not isinstance(header, str):
                self.note_error(ValueError(f"failed to read dynamic header attribute {self.header_attribute}"), False)
                return []
            self._entry_headers = header.split(self.header_delimiter)
        return super().process(entry)

    def parse(self, value: Any) -> Any:
        headers = self.headers if self.headers is not None else self._entry_headers
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str):
            raise ValueError(f"type '{go_type(value)}' cannot be parsed as csv")
        if self.ignore_quotes:
            fields = value.split(self.delimiter)
        else:
            fields = read_csv_row(value, self.delimiter, self.lazy)
        if len(fields) != len(headers):
            raise ValueError(f"wrong number of fields: expected {len(headers)}, found {len(fields)}")
        return dict(zip(headers, fields))


register("csv_parser", CsvParserConfig, CsvParser)
