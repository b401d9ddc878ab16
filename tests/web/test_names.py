"""Pages in names, on both stores: people and organizations by name, the member's record,
the timeline as sentences with the source first; and one vocabulary for the pages, the
command line and the report files."""

from __future__ import annotations

import warnings
from datetime import date
from decimal import Decimal

import pytest
from matplotlib import font_manager

from api import reportfiles
from api.web.i18n import FIGURES, WORDS, describe
from tests.api.conftest import Api
from tests.web.conftest import Scenario, WebClient


def test_the_member_page_shows_the_record_and_a_timeline_in_sentences(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    member = scenario.inbound_member  # of QH-C1-B1, a letter to XW-C1-B2 issued
    api.ledger.record_dues(member, "2026-10", Decimal("12.50"), on=date(2026, 11, 12))
    record = api.ledger.member(member)
    html = WebClient(api, "qh_clerk").get(f"/web/members/{member}").text
    assert WORDS[f"gender_{record.gender}"][0] in html
    assert record.birth_date.isoformat() in html and record.joined_on.isoformat() in html
    assert WORDS[f"category_{record.category}"][0] in html
    assert '<tr data-month="2026-10"><td>2026-10</td><td class="num">12.50</td>' in html  # dues: month, amount
    assert "申请转接：从秦淮第一支部转往第二党支部（工作调动，" in html  # the source first, by name
    assert "开具介绍信" in html and "秦淮街道党工委开具介绍信" in html
    for code in ("job_change", "cross_county", "True"):
        assert code not in html, code


def test_the_transfer_page_and_lists_show_names(web: tuple[Api, Scenario]) -> None:
    api, scenario = web
    clerk = WebClient(api, "xw_clerk")
    name = api.ledger.member(scenario.inbound_member).name
    page = clerk.get(f"/web/transfers/{scenario.inbound}").text
    assert name in page and "秦淮第一支部" in page and "第二党支部" in page
    outbox = clerk.get("/web/outbox").text
    assert api.ledger.member(scenario.local_member).name in outbox and "第一党支部 → 秦淮第一支部" in outbox
    roster = clerk.get("/web/orgs/XW-C1/roster").text
    assert "第一党支部" in roster


def test_one_vocabulary_for_the_pages_the_report_files_and_the_command_line() -> None:
    for key, (zh, _) in FIGURES.items():
        assert reportfiles.heading(key, "zh") == zh == WORDS[f"f_{key}"][0]
    assert WORDS["f_closing"][0] == "期末党员数"
    from api.cli.reports import OverdueKind

    for kind in OverdueKind:
        assert f"okind_{kind.value}" in WORDS
    entry = {"type": "Transfer.Requested", "data": {"from_organization_code": "A", "to_organization_code": "B",
                                                    "reason": "job_change", "route": "cross_county"}}
    names = {"A": "甲支部", "B": "乙支部"}.get
    assert describe(entry, "zh", lambda c: names(c or "", c or "")) == (
        "申请转接：从甲支部转往乙支部（工作调动，跨县（区））")
    assert describe(entry, "en", lambda c: names(c or "", c or "")) == (
        "transfer requested from 甲支部 to 乙支部 (job change, across counties)")


def test_every_kind_of_event_in_a_members_history_reads_as_words() -> None:
    """A member's history holds its own events, its transfers', certificates', access's and
    linked cases': each kind has its words (the timeline, `ledger history`), never its class."""
    from domain.case import Case
    from domain.certificate import Certificate
    from domain.member import Member
    from domain.member_access import MemberAccess
    from domain.transfer import Transfer

    kinds = {f"{aggregate.__name__}.{name}" for aggregate in (Member, Transfer, Certificate, MemberAccess, Case)
             for name, value in vars(aggregate).items()
             if isinstance(value, type) and issubclass(value, aggregate.Event)
             and name not in ("Event", "Created", "Bookkeeping", "Enrolled", "ReportSent")}  # bases; reports
    assert {"MemberAccess.Opened", "Case.Closed", "Transfer.Requested"} <= kinds
    unsaid = sorted(kind for kind in kinds if f"say_{kind}" not in WORDS and f"ev_{kind}" not in WORDS)
    assert unsaid == []
    closed = {"type": "Case.Closed", "data": {"outcome": "placed"}}
    assert describe(closed, "zh", str) == "首问事项办结（已落实组织）"
    assert describe({"type": "MemberAccess.Opened", "data": {}}, "en", str) == "own access opened"


MONTHS = [{"month": f"2026-{m:02d}", "held": 40 + m, "in_transit": 3, "admitted": 1, "imported": 0,
           "transferred_in": 5, "transferred_out": 4, "deceased": 0, "left": 0} for m in range(1, 13)]


@pytest.mark.filterwarnings("ignore:Glyph:UserWarning")  # the stand-in font has no Chinese glyphs
def test_the_charts_legends_sit_above_the_bars_and_its_title_names_the_organization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a font taken for the one with Chinese glyphs (the test machine may have none)
    monkeypatch.setattr(reportfiles, "cjk_font", lambda: font_manager.findfont("DejaVu Sans"))
    figure = reportfiles.year_chart_figure({"organization_code": "XW-C1", "year": 2026, "months": MONTHS},
                                           "zh", name="玄武街道党工委")
    assert figure.texts[0].get_text().startswith("玄武街道党工委 2026")
    for axes in figure.axes:
        legend, plot = axes.get_legend().get_window_extent(), axes.get_window_extent()
        assert legend.y0 >= plot.y1 - 1, "the legend covers the plot"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_a_chinese_font_the_chart_is_titled_by_the_organizations_code(
    monkeypatch: pytest.MonkeyPatch, lang: str,
) -> None:
    """A server without a font for Chinese (a plain Debian, say) would draw the name as a row
    of boxes: the title gives the code instead, and no glyph is missing."""
    monkeypatch.setattr(reportfiles, "cjk_font", lambda: None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = reportfiles.year_chart_figure({"organization_code": "XW-C1", "year": 2026, "months": MONTHS},
                                               lang, name="玄武街道党工委")
    assert figure.texts[0].get_text().startswith("XW-C1 2026")
    assert not [w for w in caught if "missing from font" in str(w.message)]
