"""HTML pieces for the self-contained report pages: escaping, number formatting, tables, embedded figures.

Every image is embedded as a base64 ``data:`` URI and the only style is the inline :data:`CSS`; :func:`page`
wraps a body in a document whose Content-Security-Policy (:data:`CSP`) forbids any network request. Used by
:mod:`imgclass.evaluate.pages`, :mod:`imgclass.evaluate.sections` and :mod:`imgclass.evaluate.compare`.
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from imgclass.errors import ImgclassError

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1180px;
padding:1rem 1.5rem 3rem;color:#1d2330;line-height:1.45}
h1{font-size:1.6rem;margin:.6rem 0 .2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #d5d9e0}
h3{font-size:1.05rem;margin:1.2rem 0 .4rem}.sub{color:#5a6272;margin:0 0 1rem}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{border:1px solid #d5d9e0;border-radius:6px;padding:.45rem .8rem;min-width:8rem;background:#f7f8fa}
.card b{display:block;font-size:1.25rem}.card span{color:#5a6272;font-size:.8rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #d5d9e0;padding:.2rem .55rem;text-align:left;vertical-align:top}
th{background:#eef0f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#e3f4e1}figure{margin:.6rem 0 1.2rem}figure img{max-width:100%;height:auto;
border:1px solid #e3e6eb}figcaption{color:#5a6272;font-size:.8rem}
.grid{display:flex;flex-wrap:wrap;gap:.8rem}.grid figure{flex:0 1 calc(33.3% - .6rem);min-width:16rem;margin:0}
.grid.two figure{flex-basis:calc(50% - .4rem)}.row{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
.row>div{min-width:0}.scroll{overflow-x:auto}.scroll td,.scroll th{white-space:nowrap}
code{font-size:.85em;background:#f1f2f5;padding:0 .2em}
"""
#: Allow nothing but the page's own inline style and embedded images.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    """Numbers for tables: None as a dash, floats to 4 significant digits, lists and dicts as compact JSON."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def data_uri(data: bytes | str | Path, mime: str = "image/png") -> str:
    """A ``data:`` URI holding ``data`` (bytes, or a path whose suffix gives the MIME type)."""
    if not isinstance(data, bytes):
        path = Path(data)
        mime = MIME.get(path.suffix.lower(), mime)
        data = path.read_bytes()
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def figure(src: bytes | str | Path, caption: str = "") -> str:
    """An embedded image with its caption; a missing file becomes a short note instead of a broken image."""
    if not isinstance(src, bytes) and not Path(src).is_file():
        return f"<p class=sub>(no {esc(Path(src).name)})</p>"
    alt = caption or ("figure" if isinstance(src, bytes) else Path(src).stem)
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{data_uri(src)}" alt="{esc(alt)}">{cap}</figure>'


def table(header: list[str], rows: list[list], *, highlight: int | None = None, wide: bool = False) -> str:
    """An HTML table; numbers are right-aligned; row ``highlight`` (an index) is shaded.

    ``wide``: cells do not wrap and the table scrolls sideways when it does not fit.
    """
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td class=n>{esc(fmt(v))}</td>" if isinstance(v, (int, float)) and not isinstance(v, bool)
                        else f"<td>{esc(fmt(v))}</td>" for v in row)
        body.append(f"<tr{' class=best' if i == highlight else ''}>{cells}</tr>")
    html_table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class=scroll>{html_table}</div>" if wide else html_table


def kv_table(d: dict, columns: int | None = None) -> str:
    """Settings as (name, value) pairs; a long list is laid out in ``columns`` side-by-side pairs (default 3)."""
    items = list(d.items())
    cols = columns or (3 if len(items) > 12 else 1)
    per = -(-len(items) // cols) if items else 0
    chunks = [items[c * per:(c + 1) * per] for c in range(cols)]
    rows = [[x for chunk in chunks for x in (chunk[i] if i < len(chunk) else ("", ""))] for i in range(per)]
    return table(["setting", "value"] * cols, rows)


def side_by_side(*parts: str) -> str:
    """Blocks (figures, tables) side by side, wrapping on narrow screens."""
    return f"<div class=row>{''.join(parts)}</div>"


def cards(items: dict) -> str:
    """Headline figures as small boxes: {label: value}; None values are left out."""
    boxes = [f"<div class=card><b>{esc(fmt(v))}</b><span>{esc(k)}</span></div>" for k, v in items.items()
             if v is not None]
    return f"<div class=cards>{''.join(boxes)}</div>"


def section(title: str, *parts: str) -> str:
    return f"<section><h2>{esc(title)}</h2>{''.join(parts)}</section>"


def grid(*figures: str, two: bool = False) -> str:
    """Figures in a wrapping grid, three to a row (``two``: two to a row)."""
    return f"<div class=\"grid{' two' if two else ''}\">{''.join(figures)}</div>"


def html_target(out: str | Path, default_name: str) -> Path:
    """Where a page asked for at ``out`` goes: ``out`` itself, or ``out/default_name`` when ``out`` is a folder.

    An existing file is replaced only when it is an HTML page (an earlier report): ``--out RUN/config.json``
    is refused, not overwritten.
    """
    out = Path(out)
    if out.is_dir():
        out = out / default_name
    if out.exists() or out.is_symlink():
        try:
            head = out.read_bytes()[:64].lstrip().lower() if out.is_file() else b""
        except OSError as e:
            raise ImgclassError(f"{out}: cannot check what this file is ({e.strerror}); choose another --out") from None
        if not head.startswith((b"<!doctype html", b"<html")):
            raise ImgclassError(f"{out} exists and is not an HTML page; a report replaces only an earlier report: "
                                "choose another --out")
    return out


def page(title: str, subtitle: str, body: list[str]) -> str:
    """A whole HTML document: inline CSS, a strict Content-Security-Policy, no external resources."""
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f'<link rel=icon href="data:,"><title>{esc(title)}</title><style>{CSS}</style></head>\n<body>'
            f"<h1>{esc(title)}</h1><p class=sub>{esc(subtitle)}</p>\n" + "\n".join(body) + "\n</body></html>\n")
