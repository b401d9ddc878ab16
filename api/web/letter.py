"""The printable letter (党员组织关系介绍信): the letter itself, its stub (存根) kept by
the sending committee and its receipt (回执) sent back by the receiving one, each part
carrying the letter's number, on one A4 page.

The words follow the paper form the ledger replaces: the member's name, gender, age and
status, the organizations by name, and the validity in days written in Chinese capital
numerals (叁拾天), as amounts are on paper so that they can't be altered.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.services import Services
from domain.errors import InvalidTransition
from domain.member import Member

DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")


def capital_numeral(number: int) -> str:
    """A whole number from 0 to 9999 in Chinese capital numerals, as written on letters and
    cheques: 30 is 叁拾, 15 is 壹拾伍, 105 is 壹佰零伍, 1010 is 壹仟零壹拾 (one 零 for each run
    of zeros between digits, none at the end)."""
    if not 0 <= number <= 9999:
        raise ValueError("a capital numeral is written here for 0 to 9999")
    if number == 0:
        return DIGITS[0]
    digits = [int(d) for d in f"{number:04d}"]
    words: list[str] = []
    zero_pending = False
    for place, digit in enumerate(digits):
        unit = UNITS[3 - place]
        if digit == 0:
            zero_pending = bool(words)
            continue
        if zero_pending:
            words.append(DIGITS[0])
            zero_pending = False
        words.append(DIGITS[digit] + unit)
    return "".join(words)


def age_on(birth_date: date, day: date) -> int:
    """Full years of age on `day`."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def chinese_date(day: date | None) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if day else "    年  月  日"


ENVIRONMENT = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                          autoescape=select_autoescape(default=True))
STYLESHEET = (Path(__file__).parent / "static" / "letter.css").read_text(encoding="utf-8")
GENDERS = {"male": "男", "female": "女", "M": "男", "F": "女"}
STATUSES = {"full": "正式党员", "probationary": "预备党员"}
# A letter cancelled by the sender or rejected by the receiver is void (DOMAIN §5): it still
# prints (either side may print it), each part marked 作废 with how and when it was voided.
VOIDED = {"cancelled": "已撤销", "rejected": "已退回"}


def letter_facts(services: Services, transfer_id: str) -> dict[str, Any]:
    """What the letter says, read from the ledger. A transfer whose letter was never issued
    has no letter to print (409 invalid_transition); a voided one (`void`: how and when)
    prints with its void mark."""
    transfer = services.ledger.transfer(transfer_id)
    if not transfer.letter_no or transfer.issued_on is None or transfer.valid_until is None:
        raise InvalidTransition(f"transfer {transfer_id} has no letter issued")
    member = services.ledger.member(transfer.registration_no)
    with services.queries() as queries:
        sending = queries.organization(transfer.from_organization_code)
        receiving = queries.organization(transfer.to_organization_code)
    status, paid = as_issued(services.ledger.aggregate_events(member.id), transfer.transfer_id)
    days = (transfer.valid_until - transfer.issued_on).days
    return {
        "letter_no": transfer.letter_no, "transfer_id": transfer.transfer_id, "status": transfer.status,
        "name": member.name, "gender": GENDERS.get(member.gender, member.gender),
        "age": age_on(member.birth_date, transfer.issued_on),
        "member_status": STATUSES.get(status, status),
        "registration_no": member.registration_no,
        "from_name": sending["name"], "from_code": sending["code"],
        "to_name": receiving["name"], "to_code": receiving["code"],
        "valid_days": days, "valid_days_capital": capital_numeral(days),
        "issued_on": chinese_date(transfer.issued_on), "valid_until": chinese_date(transfer.valid_until),
        "dues_until": max(paid) if paid else None,
        "void": {"how": VOIDED[transfer.status], "on": chinese_date(transfer.closed_on)}
        if transfer.status in VOIDED else None,
    }


def as_issued(events: Any, transfer_id: str) -> tuple[str, list[str]]:
    """The member's status and the months its dues were paid for when the letter was issued
    (its events up to the issue): a letter printed again later says what it said then."""
    status, paid = "", []
    for event in events:
        if isinstance(event, Member.WentInTransit) and event.transfer_id == transfer_id:
            break
        if isinstance(event, Member.Enrolled):
            status = event.status
        elif isinstance(event, Member.Confirmed):
            status = "full"
        elif isinstance(event, Member.DuesPaid):
            paid.append(event.month)
    return status, paid


def render_letter(facts: dict[str, Any], *, stylesheet_url: str | None = None, print_script: str | None = None,
                  back_url: str | None = None) -> str:
    """The letter as an HTML page: with a link to the stylesheet (the web pages, whose
    security policy allows no inline style), or with the stylesheet inline (the API's
    answer, a page complete in itself)."""
    template = ENVIRONMENT.get_template("letter.html")
    return template.render(letter=facts, stylesheet_url=stylesheet_url, print_script=print_script,
                           back_url=back_url, stylesheet=None if stylesheet_url else STYLESHEET)
