"""Files in and out, at the edge: account tables read, result tables and documents written.

Nothing here knows what an account, a policy or a session is; :mod:`blindmatch.accounts` and
the transports decide *what* is read and written, this package decides *how*: encodings and
formats on the way in (:mod:`.readers`), atomic and owner-only files (:mod:`.atomic`), and CSV
safe for spreadsheets, JSON Lines, Parquet and JSON documents on the way out (:mod:`.writers`).
"""

from .atomic import AtomicOutputSet as AtomicOutputSet
from .atomic import atomic_write as atomic_write
from .atomic import atomic_writer as atomic_writer
from .atomic import write_private as write_private
from .readers import Row as Row
from .readers import Table as Table
from .readers import open_table as open_table
from .readers import read_csv as read_csv
from .readers import read_dataframe as read_dataframe
from .readers import read_jsonl as read_jsonl
from .readers import read_parquet as read_parquet
from .readers import read_rows as read_rows
from .writers import LIST_SEPARATOR as LIST_SEPARATOR
from .writers import TABLE_FORMATS as TABLE_FORMATS
from .writers import neutralize_cell as neutralize_cell
from .writers import restore_cell as restore_cell
from .writers import write_json as write_json
from .writers import write_table as write_table

__all__ = [
    "LIST_SEPARATOR",
    "TABLE_FORMATS",
    "AtomicOutputSet",
    "Row",
    "Table",
    "atomic_write",
    "atomic_writer",
    "neutralize_cell",
    "open_table",
    "read_csv",
    "read_dataframe",
    "read_jsonl",
    "read_parquet",
    "read_rows",
    "restore_cell",
    "write_json",
    "write_private",
    "write_table",
]
