"""Gettext catalogues of the interface: read the `.po` sources, compile them to the `.mo` files `gettext` loads.

The `.po` files under `assistant/ui/locale/<lang>/LC_MESSAGES/` are the one message catalogue of the customer
chat and the agent sidebar (French and English side by side in review, standard tools such as Poedit or
`msgfmt` read them). Babel is not a dependency of the product, so this small compiler (the subset of the
PO format the catalogues use: `msgctxt`-free entries, multi-line strings, comments) writes the `.mo` files:

    python -m assistant.ui.po          # compile every catalogue
    python -m assistant.ui.po --check  # exit 1 when a .mo file is stale (the tests run the same check)
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "ui"
MO_MAGIC = 0x950412DE


class PoError(ValueError):
    """A catalogue that cannot be read: the message says which file and line."""


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if not (len(text) >= 2 and text[0] == '"' and text[-1] == '"'):
        raise PoError(f"{where}: expected a quoted string, got {text[:40]!r}")
    try:
        value = ast.literal_eval(text)  # PO escapes (\n, \", \\) are Python's
    except (SyntaxError, ValueError) as error:
        raise PoError(f"{where}: bad string ({error})") from None
    return str(value)


def parse_po(text: str, name: str = "catalogue") -> dict[str, str]:
    """msgid -> msgstr of a PO file (the header, msgid "", included); duplicates and bad lines are errors."""
    entries: dict[str, str] = {}
    field, current = "", {"msgid": None, "msgstr": None}

    def flush(line_no: int) -> None:
        msgid, msgstr = current["msgid"], current["msgstr"]
        if msgid is None:
            return
        if msgstr is None:
            raise PoError(f"{name}:{line_no}: msgid {msgid!r} has no msgstr")
        if msgid in entries:
            raise PoError(f"{name}:{line_no}: duplicate msgid {msgid!r}")
        entries[msgid] = msgstr
        current.update(msgid=None, msgstr=None)

    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        where = f"{name}:{line_no}"
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("msgid "):
            flush(line_no)
            field, current["msgid"] = "msgid", _unquote(stripped[6:], where)
        elif stripped.startswith("msgstr "):
            if current["msgid"] is None:
                raise PoError(f"{where}: msgstr without msgid")
            field, current["msgstr"] = "msgstr", _unquote(stripped[7:], where)
        elif stripped.startswith('"') and field:
            current[field] = (current[field] or "") + _unquote(stripped, where)
        else:
            raise PoError(f"{where}: unexpected line {stripped[:40]!r}")
    flush(len(text.splitlines()) + 1)
    return entries


def compile_mo(entries: dict[str, str]) -> bytes:
    """The GNU .mo bytes of `entries` (no hash table: gettext reads the sorted tables)."""
    keys = sorted(entries)
    ids = [key.encode("utf-8") for key in keys]
    strs = [entries[key].encode("utf-8") for key in keys]
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + 8 * len(keys)
    data_start = strs_table + 8 * len(keys)
    offsets: list[tuple[int, int]] = []
    blob = b""
    for item in [*ids, *strs]:
        offsets.append((len(item), data_start + len(blob)))
        blob += item + b"\0"
    out = struct.pack("<7I", MO_MAGIC, 0, len(keys), ids_table, strs_table, 0, 0)
    out += b"".join(struct.pack("<2I", length, offset) for length, offset in offsets)
    return out + blob


def po_files(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    return sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def stale(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """The .po files whose .mo is missing or differs from a fresh compilation."""
    out = []
    for po in po_files(locale_dir):
        mo = po.with_suffix(".mo")
        fresh = compile_mo(parse_po(po.read_text(encoding="utf-8"), str(po)))
        if not mo.is_file() or mo.read_bytes() != fresh:
            out.append(po)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="compile the interface's gettext catalogues")
    parser.add_argument("--check", action="store_true", help="only report stale .mo files (exit 1 if any)")
    args = parser.parse_args(argv)
    try:
        outdated = stale()
        if args.check:
            for po in outdated:
                print(f"stale: {po.with_suffix('.mo')} (run python -m assistant.ui.po)")
            return 1 if outdated else 0
        for po in outdated:
            po.with_suffix(".mo").write_bytes(compile_mo(parse_po(po.read_text(encoding="utf-8"), str(po))))
            print(f"compiled {po.with_suffix('.mo')}")
    except PoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
