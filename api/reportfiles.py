"""Report files: the monthly and annual reports of `projections.queries.Queries` as JSON,
CSV and Excel, and a PNG chart of an organization's twelve months.

The same report rendered again gives the same bytes in every format: the Excel file's
document times and zip entry times are the last day of the report's period (never the
clock), and the chart carries no software or date stamp. Headings are Chinese by
default (`lang="zh"`); `lang="en"` gives the report's own field names, which are also
the columns of the HTTP API's CSV. A Chinese CSV starts with a byte order mark, so that
spreadsheet programs read it as UTF-8; an English one is plain UTF-8, byte for byte the
API's CSV.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import zipfile
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from api.web.vocabulary import FIGURES

LANGS = ("zh", "en")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Chinese headings of the flattened report fields (DOMAIN.md §8): the words of the one
# vocabulary (api/web/i18n.py), which the report page shows too.
ZH: dict[str, str] = {key: words[0] for key, words in FIGURES.items()}
WORDS: dict[str, dict[str, Any]] = {
    "zh": {"item": "项目", "value": "数值", "monthly": "月报", "annual": "年报", "months": "各月",
           "year": "全年", "composition": "年末构成", "yes": "是", "no": "否"},
    "en": {"item": "item", "value": "value", "monthly": "Monthly report", "annual": "Annual report",
           "months": "Months", "year": "Year", "composition": "Year-end composition", "yes": True, "no": False},
}


def check_lang(lang: str) -> None:
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}")


def flatten(report: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested figures as dotted keys (`left_by_reason.expelled`); lists are left out."""
    flat: dict[str, Any] = {}
    for key, value in report.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif not isinstance(value, list):
            flat[f"{prefix}{key}"] = value
    return flat


def heading(key: str, lang: str = "zh") -> str:
    """A flattened field's column heading; a field without a Chinese label keeps its name."""
    check_lang(lang)
    return ZH.get(key, key) if lang == "zh" else key


def _cell(value: Any, lang: str) -> Any:
    if isinstance(value, bool):
        return WORDS[lang]["yes"] if value else WORDS[lang]["no"]
    return value


# --- JSON and CSV ----------------------------------------------------------------------

# What a spreadsheet program reads as the start of a formula in a CSV cell (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet program shows as the text it is: a text starting like a
    formula (a name `=cmd|' /C calc'!A0`, as a clerk may have typed it) gets a leading `'`.
    Numbers, dates and other values are left as they are."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_rows(writer: Any, rows: Any) -> None:
    """`writer.writerows` with every cell made a `text_cell`."""
    writer.writerows([text_cell(value) for value in row] for row in rows)


def report_json(report: dict[str, Any]) -> bytes:
    """A monthly or annual report as the API gives it (UTF-8, Chinese unescaped)."""
    return (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode()


def _csv(rows: list[dict[str, Any]], lang: str) -> bytes:
    check_lang(lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([heading(key, lang) for key in rows[0]])
    csv_rows(writer, ([_cell(value, lang) if lang == "zh" else value for value in row.values()] for row in rows))
    return out.getvalue().encode("utf-8-sig" if lang == "zh" else "utf-8")


def monthly_csv(report: dict[str, Any], lang: str = "zh") -> bytes:
    """One heading row and one row of figures."""
    return _csv([flatten(report)], lang)


def annual_csv(report: dict[str, Any], lang: str = "zh") -> bytes:
    """One row per month, January first (the year's totals are in the Excel file)."""
    return _csv([flatten(month) for month in report["months"]], lang)


# --- Excel -----------------------------------------------------------------------------


def _stamp(day: date) -> datetime:
    """The file's document and zip times: the period's last day (zip times start in 1980)."""
    return datetime(max(day.year, 1980), day.month, day.day)


def _workbook_bytes(workbook: Any, when: datetime) -> bytes:
    """Save, then rewrite every zip entry with a fixed time and the document properties
    with the report's time (openpyxl stamps the clock into both)."""
    from openpyxl.xml.functions import tostring

    workbook.properties.created = workbook.properties.modified = when
    saved = io.BytesIO()
    workbook.save(saved)
    out = io.BytesIO()
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                workbook.properties.modified = when
                content = tostring(workbook.properties.to_tree())
            fixed = zipfile.ZipInfo(entry.filename, date_time=when.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = entry.external_attr
            target.writestr(fixed, content)
    return out.getvalue()


def _sheet(workbook: Any, title: str, header: list[str], rows: list[list[Any]], first: bool = False) -> Any:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet = workbook.active if first else workbook.create_sheet()
    sheet.title = title
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":  # a text starting with "=" (openpyxl reads a formula): kept as text
                cell.data_type = "s"
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 28
    for index in range(2, len(header) + 1):
        sheet.column_dimensions[get_column_letter(index)].width = 12
    for row in sheet.iter_rows(min_row=2):
        label = str(row[0].value or "")
        if label in {heading(rate, lang) for rate in ("timely_rate", "certificate_return_rate")
                     for lang in ("zh", "en")} | {"timely_rate", "certificate_return_rate"} \
                or label.endswith(("及时率", "timely_rate")):
            for cell in row[1:]:
                cell.number_format = "0.00%"
    return sheet


def _new_workbook(title: str) -> Any:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.properties.creator = "transfer ledger"
    workbook.properties.title = title
    return workbook


def monthly_xlsx(report: dict[str, Any], lang: str = "zh") -> bytes:
    """One sheet: a row per figure (heading, value)."""
    check_lang(lang)
    words = WORDS[lang]
    workbook = _new_workbook(f"{words['monthly']} {report['organization_code']} {report['month']}")
    rows = [[heading(key, lang), _cell(value, lang)] for key, value in flatten(report).items()]
    _sheet(workbook, words["monthly"], [words["item"], words["value"]], rows, first=True)
    return _workbook_bytes(workbook, _stamp(date.fromisoformat(report["period_end"])))


def annual_xlsx(report: dict[str, Any], lang: str = "zh") -> bytes:
    """Two sheets: every figure by month with the year's totals, and the composition at
    year end."""
    check_lang(lang)
    words = WORDS[lang]
    year = report["year"]
    workbook = _new_workbook(f"{words['annual']} {report['organization_code']} {year}")
    months = [flatten(month) for month in report["months"]]
    totals = {"opening": report["opening"], "closing": report["closing"], **report["totals"],
              **flatten({k: v for k, v in report.items() if k.startswith("timely_by_")})}
    header = [words["item"], *(month["month"] for month in months), words["year"]]
    rows = [
        [heading(key, lang), *(_cell(month[key], lang) for month in months), totals.get(key)]
        for key in months[0] if key not in ("organization_code", "month", "period_start", "period_end")
    ]
    _sheet(workbook, words["months"], header, rows, first=True)
    composition = flatten(report["composition"])
    _sheet(workbook, words["composition"], [words["item"], words["value"]],
           [[heading(key, lang), value] for key, value in composition.items()])
    return _workbook_bytes(workbook, _stamp(date(year, 12, 31)))


# --- the chart -------------------------------------------------------------------------

CHART_WORDS: dict[str, dict[str, str]] = {
    "zh": {"title": "{name} {year}年各月党员数与流动", "members": "期末党员数", "held": "在册",
           "in_transit": "转接在途", "flows": "本月变动", "joined": "发展与导入", "in": "转入",
           "out": "转出", "gone": "死亡与出党", "month": "月份"},
    "en": {"title": "{name} {year}: members and flows by month", "members": "members at month end",
           "held": "held", "in_transit": "in transit", "flows": "flows of the month",
           "joined": "admitted and imported", "in": "transferred in", "out": "transferred out",
           "gone": "deceased and left", "month": "month"},
}


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The file of an installed font with Chinese glyphs (`fc-list :lang=zh`), if any."""
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                                timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    files = sorted(line.split(":")[0].strip() for line in listed.splitlines() if line.strip())
    return next((f for f in files if f.lower().endswith((".ttf", ".otf", ".ttc"))), None)


def year_chart_png(annual_report: dict[str, Any], lang: str = "zh", name: str | None = None) -> bytes:
    """The twelve months of a year: members at month end (held and in transit, stacked)
    above, the month's flows below, titled with the organization's name (its code when
    none is given). Chinese labels need a CJK font; without one the labels fall back to
    English, and a Chinese name to the organization's code."""
    figure = year_chart_figure(annual_report, lang, name)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def year_chart_figure(annual_report: dict[str, Any], lang: str = "zh", name: str | None = None) -> Any:
    """The chart as a matplotlib Figure: each legend above its plot, never over the bars."""
    check_lang(lang)
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    font = cjk_font()  # for the Chinese words, and for an organization's Chinese name in either language
    family = ["DejaVu Sans"]
    if font is not None:
        font_manager.fontManager.addfont(font)
        chinese = font_manager.FontProperties(fname=font).get_name()
        family = [chinese, *family] if lang == "zh" else [*family, chinese]  # English: Chinese glyphs only
    else:
        lang = "en"
    words = CHART_WORDS[lang]
    title = name or annual_report["organization_code"]
    if font is None and not title.isascii():
        title = annual_report["organization_code"]  # no glyphs for its name: its code, not a row of boxes
    months = annual_report["months"]
    x = [int(m["month"][5:7]) for m in months]  # the months of the year it has (from January, or later)
    held = [m["held"] for m in months]
    transit = [m["in_transit"] for m in months]
    flows = {
        "joined": [m["admitted"] + m["imported"] for m in months],
        "in": [m["transferred_in"] for m in months],
        "out": [m["transferred_out"] for m in months],
        "gone": [m["deceased"] + m["left"] for m in months],
    }
    with matplotlib.rc_context({"font.family": family, "axes.unicode_minus": False}):
        figure = Figure(figsize=(9, 6.5), dpi=100)
        FigureCanvasAgg(figure)
        top, bottom = figure.subplots(2, 1, sharex=True)
        top.bar(x, held, color="#b22222", label=words["held"])
        top.bar(x, transit, bottom=held, color="#f4a460", label=words["in_transit"])
        top.set_ylabel(words["members"])
        top.legend(loc="lower left", bbox_to_anchor=(0, 1.01), fontsize=8, ncol=2, frameon=False,
                   borderaxespad=0)
        width = 0.2
        for index, (key, colour) in enumerate(zip(flows, ("#2e8b57", "#4682b4", "#daa520", "#696969"),
                                                  strict=True)):
            bottom.bar([v + (index - 1.5) * width for v in x], flows[key], width=width, color=colour,
                       label=words[key])
        bottom.set_ylabel(words["flows"])
        bottom.set_xlabel(words["month"])
        bottom.set_xticks(x)
        bottom.legend(loc="lower left", bbox_to_anchor=(0, 1.01), fontsize=8, ncol=4, frameon=False,
                      borderaxespad=0)
        for axes in (top, bottom):
            axes.yaxis.get_major_locator().set_params(integer=True)
            axes.grid(axis="y", alpha=0.3)
        figure.suptitle(words["title"].format(name=title, year=annual_report["year"]))
        figure.tight_layout()
        figure.canvas.draw()
    return figure


# --- lists: the roster, the overdue list, transfers ---------------------------------------


def list_csv(columns: list[str], headings: list[str], rows: list[dict[str, Any]], lang: str = "zh") -> bytes:
    """A list as CSV: a heading row (the clerk's words in Chinese, the field names in English),
    one row per entry. A Chinese file starts with a byte order mark for spreadsheet programs."""
    check_lang(lang)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headings if lang == "zh" else columns)
    csv_rows(writer, (["" if row.get(c) is None else row[c] for c in columns] for row in rows))
    return out.getvalue().encode("utf-8-sig" if lang == "zh" else "utf-8")


def list_xlsx(title: str, columns: list[str], headings: list[str], rows: list[dict[str, Any]], day: date,
              lang: str = "zh") -> bytes:
    """A list as an Excel workbook of one sheet; its times are `day` (the list's date), so
    the same list gives the same bytes."""
    check_lang(lang)
    workbook = _new_workbook(title)
    sheet = _sheet(workbook, title[:31], headings if lang == "zh" else columns,
                   [["" if row.get(c) is None else row[c] for c in columns] for row in rows], first=True)
    sheet.freeze_panes = "A2"
    return _workbook_bytes(workbook, _stamp(day))
