"""The web pages' words, in Chinese (the default) and English.

A dictionary of our own rather than Babel/gettext: two languages, no plural forms, a few
hundred short strings that live next to the pages that use them, and no catalog to
extract and compile. Every key has both languages (tests/web checks it), and every
refusal code the ledger or the API can give has a sentence a clerk understands.

The pages, the files and the CLI look words up here by key (`WORDS`, `translate`); the
vocabulary of codes and the report's figures are in api/web/vocabulary.py and join `WORDS`
here, so the check that every key has both languages still reads one table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from api.web.vocabulary import FIGURES, VOCABULARY

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# key: (Chinese, English)
WORDS: dict[str, tuple[str, str]] = {
    # layout and navigation
    "app_name": ("党员组织关系接转台账", "Transfer ledger"),
    "nav_tree": ("组织树", "Organizations"),
    "nav_roster": ("花名册", "Roster"),
    "nav_inbox": ("收件箱", "Inbox"),
    "nav_outbox": ("发件箱", "Outbox"),
    "nav_overdue": ("超期台账", "Overdue ledger"),
    "nav_report": ("月报", "Monthly report"),
    "nav_hosted": ("流入党员", "Hosted members"),
    "hosted_title": ("流入党员（持证在本辖区参加组织生活）", "Hosted members"),
    "hosted_help": ("组织关系在外地、持党员证明信或流动党员活动证在本辖区的党员：由本辖区登记其组织生活和党费。",
                    "Members of other organizations holding a certificate hosted here: this side records "
                    "their org life and dues."),
    "certificate_kind": ("证明类别", "Kind"),
    "certificate_no": ("证明编号", "Certificate"),
    "home_organization": ("组织关系所在", "Home"),
    "host_organization": ("接收组织", "Host"),
    "presented_by": ("报到方式", "Presented by"),
    "presented_member": ("本人报到", "the member"),
    "presented_agent_option": ("他人代办", "an agent"),
    "agent_name": ("代办人姓名", "Agent's name"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "token": ("操作员令牌", "Operator token"),
    "token_help": ("请粘贴组织部发放的操作员令牌。", "Paste the operator token your department gave you."),
    "signed_in_as": ("当前操作员", "Signed in as"),
    "role_admin": ("管理员", "administrator"),
    "role_clerk": ("经办人", "clerk"),
    "role_auditor": ("审计员", "auditor"),
    "language": ("语言", "Language"),
    "back": ("返回", "Back"),
    "home": ("首页", "Home"),
    "search": ("查询", "Search"),
    "submit": ("提交", "Submit"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page_of": ("第 {page} / {pages} 页，共 {count} 条", "Page {page} of {pages}, {count} in all"),
    "none": ("无", "None"),
    "done": ("已办理。", "Done."),
    "read_only": ("审计员只能查看，不能办理。", "Auditors can look but not act."),
    # organizations
    "organization": ("组织", "Organization"),
    "code": ("代码", "Code"),
    "name": ("名称", "Name"),
    "kind": ("类型", "Kind"),
    "held": ("在册", "Held"),
    "in_transit": ("在途", "In transit"),
    "overdue": ("超期", "Overdue"),
    "dissolved": ("已撤销", "dissolved"),
    "kind_department": ("组织部", "department"),
    "kind_work_committee": ("工委", "work committee"),
    "kind_committee": ("基层党委", "committee"),
    "kind_general_branch": ("党总支", "general branch"),
    "kind_branch": ("党支部", "branch"),
    "kind_service_center": ("党员服务中心", "service center"),
    "tree_title": ("组织树（含下级合计）", "Organizations (subtree totals)"),
    "tree_up": ("上一级", "Up one level"),
    "tree_depth_note": ("显示本级以下两级；点击组织名称查看其下级。",
                        "Two levels below are shown; choose an organization to see below it."),
    # roster and members
    "roster_title": ("花名册", "Roster"),
    "query": ("姓名或登记号码", "Name or registration number"),
    "as_of": ("截至日期", "As of"),
    "include_subtree": ("含下级组织", "Include sub-organizations"),
    "registration_no": ("党员登记号码", "Registration number"),
    "member_name": ("姓名", "Name"),
    "status": ("状态", "Status"),
    "since": ("起始日期", "Since"),
    "status_probationary": ("预备党员", "probationary"),
    "status_full": ("正式党员", "full member"),
    "place": ("当前所在", "Where now"),
    "place_held": ("在册", "held"),
    "place_in_transit": ("转接途中", "in transit"),
    "place_deceased": ("已去世", "deceased"),
    "place_left": ("已出党", "left"),
    "member_title": ("党员", "Member"),
    "history": ("全部经历", "Whole history"),
    "flags": ("提示", "Flags"),
    "request_transfer": ("申请转出", "Request a transfer"),
    "no_rows": ("没有记录。", "Nothing to show."),
    # transfers
    "transfer": ("转接", "Transfer"),
    "letter_no": ("介绍信编号", "Letter number"),
    "from_org": ("转出组织", "From"),
    "to_org": ("转入组织", "To"),
    "received_in": ("接收组织", "Received in"),
    "reason": ("原因", "Reason"),
    "basis": ("依据", "Basis"),
    "requested_on": ("申请日期", "Requested on"),
    "issued_on": ("开具日期", "Issued on"),
    "valid_until": ("有效期至", "Valid until"),
    "received_on": ("接收日期", "Received on"),
    "receipt_returned_on": ("回执退回日期", "Receipt returned on"),
    "inbox_title": ("收件箱：转入本辖区的介绍信", "Inbox: letters addressed to this subtree"),
    "outbox_title": ("发件箱：本辖区的转出申请与介绍信", "Outbox: requests and letters out of this subtree"),
    "tstatus_requested": ("待开具", "requested"),
    "tstatus_issued": ("已开具", "letter issued"),
    "tstatus_declined": ("不予开具", "declined"),
    "tstatus_received": ("已接收", "received"),
    "tstatus_receipt_returned": ("回执已退回", "receipt returned"),
    "tstatus_rejected": ("已退回", "rejected"),
    "tstatus_cancelled": ("已撤销", "cancelled"),
    "reason_job_change": ("工作调动", "job change"),
    "reason_graduation": ("毕业", "graduation"),
    "reason_military_transfer": ("参军退伍", "military transfer"),
    "reason_retirement_relocation": ("退休迁居", "retirement relocation"),
    "reason_mobile_work": ("外出务工", "mobile work"),
    "reason_other": ("其他", "other"),
    "basis_workplace": ("工作单位", "workplace"),
    "basis_residence": ("居住地", "residence"),
    "basis_household": ("户籍地", "household"),
    "evidence_kind": ("证明材料", "Evidence"),
    "evidence_reference": ("材料编号", "Evidence reference"),
    "evidence_labor_contract": ("劳动合同", "labor contract"),
    "evidence_property_deed": ("房产证", "property deed"),
    "evidence_lease": ("租赁合同", "lease"),
    "performance_record": ("预备期考察材料", "Performance record"),
    "probation_override_reason": ("预备期特殊情况说明", "Probation override reason"),
    "on": ("办理日期", "Effective date"),
    "on_help": ("不填为今天", "blank for today"),
    "valid_days": ("有效天数", "Valid days"),
    "late_certificate": ("逾期说明编号", "Late certificate"),
    "action_request": ("申请转出", "Request"),
    "action_issue": ("开具介绍信", "Issue letter"),
    "action_decline": ("不予开具", "Decline"),
    "action_extend": ("延长有效期", "Extend"),
    "action_cancel": ("撤销", "Cancel"),
    "action_receive": ("接收", "Receive"),
    "action_reject": ("退回", "Reject"),
    "action_return_receipt": ("退回回执", "Return receipt"),
    "target_org": ("转入组织代码", "Target organization code"),
    "receive_into": ("接收到", "Receive into"),
    "actions": ("办理", "Actions"),
    "print_letter": ("打印介绍信", "Print the letter"),
    "letter_void": ("介绍信已作废，不再打印", "The letter is void: it is not printed"),
    "transfer_query": ("姓名、登记号码或介绍信编号", "Name, registration or letter number"),
    "select": ("选择", "Select"),
    "select_all": ("全选", "Select all"),
    "bulk_receive": ("接收所选介绍信", "Receive the letters selected"),
    "bulk_receive_note": ("接收到介绍信所写的组织；写给有多个党支部的组织的，请在该信页面选择支部。",
                          "Received into the organization each letter names; for one with several "
                          "branches, choose the branch on the letter's page."),
    "bulk_return_receipt": ("退回所选回执", "Return the receipts selected"),
    "bulk_issue": ("开具所选介绍信", "Issue the letters selected"),
    "bulk_title": ("批量办理结果", "Letters acted on together"),
    "bulk_done": ("已办理 {count} 件", "{count} done"),
    "bulk_refused": ("未能办理 {count} 件", "{count} refused"),
    "all_letters": ("全部介绍信", "All letters"),
    "all_kinds": ("全部类型", "All kinds"),
    "show_all": ("共 {count} 条，按类型查看全部", "{count} in all: see every row by kind"),
    "download_overdue_csv": ("导出超期名单 CSV", "Export the overdue list (CSV)"),
    "responsible_code": ("负责组织代码", "Responsible code"),
    "from_code": ("转出组织代码", "From (code)"),
    "to_code": ("转入组织代码", "To (code)"),
    "print": ("打印", "Print"),
    # overdue ledger
    "overdue_title": ("超期台账", "Overdue ledger"),
    "red": ("红：已超期", "Red: past due"),
    "yellow": ("黄：7 日内到期或回执未退", "Yellow: due within 7 days or receipt missing"),
    "green": ("绿：本月办结", "Green: done this month"),
    "due_on": ("到期日", "Due on"),
    "days_overdue": ("超期天数", "Days overdue"),
    "responsible": ("负责催办", "Responsible"),
    "reference": ("凭证", "Reference"),
    "okind_overdue_letter": ("介绍信超期未接收", "letter overdue"),
    "okind_unreturned_receipt": ("回执超期未退", "receipt not returned"),
    "okind_unreturned_certificate": ("证明信超期未交回", "certificate not returned"),
    "okind_inactive_6m": ("六个月未过组织生活未交党费", "inactive for 6 months"),
    "okind_due_soon": ("介绍信 7 日内到期", "letter due within 7 days"),
    "okind_receipt_missing": ("回执未退回", "receipt missing"),
    "okind_done": ("本月办结", "done this month"),
    "okind_confirmation_due": ("预备期已满待转正", "confirmation due"),
    # the timeline of a member's history (event types)
    "ev_Member.Admitted": ("发展入党", "admitted"),
    "ev_Member.Imported": ("录入台账", "entered in the ledger"),
    "ev_Member.Confirmed": ("按期转正", "confirmed as full member"),
    "ev_Member.TransferOpened": ("转接开始", "transfer opened"),
    "ev_Member.TransferClosed": ("转接终止", "transfer closed"),
    "ev_Member.WentInTransit": ("介绍信已开具，转接途中", "in transit with a letter"),
    "ev_Member.Received": ("已被接收", "received"),
    "ev_Member.ReturnedHome": ("转接撤销或退回，回原组织", "back home (cancelled or rejected)"),
    "ev_Member.MovedOnDissolution": ("组织撤销，随迁", "moved when the organization was dissolved"),
    "ev_Member.CertificateIssued": ("开具证明信", "certificate issued"),
    "ev_Member.CertificateReturned": ("证明信交回", "certificate returned"),
    "ev_Member.CertificateClosed": ("证明信随转接或离开终止", "certificate closed"),
    "ev_Member.Died": ("去世", "died"),
    "ev_Member.Left": ("出党", "left"),
    "ev_Member.OrgLifeAttended": ("参加组织生活", "attended org life"),
    "ev_Member.DuesPaid": ("交纳党费", "paid dues"),
    "ev_Transfer.Requested": ("申请转接", "transfer requested"),
    "ev_Transfer.Declined": ("不予开具", "transfer declined"),
    "ev_Transfer.LetterIssued": ("开具介绍信", "letter issued"),
    "ev_Transfer.LetterExtended": ("介绍信延期", "letter extended"),
    "ev_Transfer.MemberReceived": ("接收", "member received"),
    "ev_Transfer.ReceiptReturned": ("回执退回", "receipt returned"),
    "ev_Transfer.Rejected": ("接收方退回", "rejected by the receiver"),
    "ev_Transfer.Cancelled": ("转出方撤销", "cancelled by the sender"),
    "ev_Certificate.Issued": ("开具证明", "certificate issued"),
    "ev_Certificate.Returned": ("证明交回", "certificate returned"),
    "ev_Certificate.Closed": ("证明终止（未交回）", "certificate closed (not returned)"),
    "ev_MemberAccess.Opened": ("开通本人自助查询", "own access opened"),
    "ev_MemberAccess.TokenIssued": ("本人自助查询凭证更换", "own access token replaced"),
    "ev_MemberAccess.TokenRevoked": ("本人自助查询停用", "own access revoked"),
    "ev_Case.Opened": ("首问受理", "first-responder case opened"),
    "ev_Case.Closed": ("首问事项办结", "first-responder case closed"),
    # report
    "report_title": ("月度统计", "Monthly report"),
    "month": ("月份", "Month"),
    "figure": ("项目", "Figure"),
    "value": ("数值", "Value"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download Excel"),
    "chart_title": ("近十二个月：转入、转出与期末人数", "Last twelve months: in, out and closing"),
    "filed": ("已报送", "filed"),
    "month_not_over": ("本月尚未结束：数字截至今天（{today}），月末前还会变化，报送须待月末之后。",
                       "This month is not over: the figures are today's ({today}) and will change before "
                       "its end; it can be filed once it is over."),
    "file_month": ("报送 {month} 月报", "File the report of {month}"),
    "file_month_help": ("报送后该月及以前各月封账，不能再补记。",
                        "Filing closes this month and every earlier one to back-dated entries."),
    "f_month_over": ("月份已结束", "Month over"),
    "f_opening": ("期初人数", "Opening"),
    "f_admitted": ("发展党员", "Admitted"),
    "f_imported": ("导入", "Imported"),
    "f_transferred_in_internal": ("转入（辖区内）", "Transferred in (inside)"),
    "f_transferred_in_external": ("转入（辖区外）", "Transferred in (outside)"),
    "f_transferred_in_whole_org": ("转入（整建制）", "Transferred in (whole organization)"),
    "f_transferred_in": ("转入合计", "Transferred in, total"),
    "f_transferred_out_internal": ("转出（辖区内）", "Transferred out (inside)"),
    "f_transferred_out_external": ("转出（辖区外）", "Transferred out (outside)"),
    "f_transferred_out_whole_org": ("转出（整建制）", "Transferred out (whole organization)"),
    "f_transferred_out": ("转出合计", "Transferred out, total"),
    "f_deceased": ("去世", "Deceased"),
    "f_left": ("出党", "Left"),
    "f_closing": ("期末人数", "Closing"),
    "f_held": ("在册", "Held"),
    "f_in_transit": ("在途", "In transit"),
    "f_overdue_letters": ("其中超期", "Of those overdue"),
    "f_certificates_out": ("持证明信外出", "Certificates out"),
    "f_mobile_out": ("流动外出", "Mobile out"),
    "f_hosted": ("流入", "Hosted"),
    "f_probationary": ("预备党员", "Probationary"),
    "f_full": ("正式党员", "Full members"),
    "f_letters_issued": ("开具介绍信", "Letters issued"),
    "f_letters_received": ("接收介绍信", "Letters received"),
    "f_letters_cancelled": ("撤销介绍信", "Letters cancelled"),
    "f_letters_rejected": ("退回介绍信", "Letters rejected"),
    "f_received_on_time": ("按期接收", "Received on time"),
    "f_received_late": ("逾期接收", "Received late"),
    "f_timely_rate": ("按期接收率", "Timely rate"),
    "f_receipts_returned": ("回执退回", "Receipts returned"),
    "f_receipt_days_average": ("回执平均天数", "Average days to receipt"),
    "f_certificates_issued": ("开具证明信", "Certificates issued"),
    "f_certificates_returned": ("交回证明信", "Certificates returned"),
    "f_certificates_out_opening": ("期初持证明外出", "Certificates out at the start"),
    "f_temporary_out": ("持党员证明信外出", "Temporary certificates out"),
    "f_certificates_closed": ("证明随转接等终止", "Certificates closed"),
    "f_certificate_return_rate": ("证明信返回率", "Certificate return rate"),
    # refusals and errors: one per code (domain/errors.py, api/errors.py and the pages')
    "error_title": ("无法办理", "This could not be done"),
    "err_unauthenticated": ("令牌无效或已吊销，请重新登录。", "The token is unknown or revoked: sign in again."),
    "err_forbidden": ("您的角色无权办理此事项。", "Your role does not allow this."),
    "err_out_of_jurisdiction": ("该组织、党员或转接不在您的管辖范围内。",
                                "This organization, member or transfer is outside your jurisdiction."),
    "err_not_found": ("台账中没有该组织、党员、转接或证明。",
                      "The organization, member, transfer or certificate is not in the ledger."),
    "err_validation_error": ("填写的内容不完整或格式不对，请检查后重试。",
                             "A field is missing or malformed: check and try again."),
    "err_future_date": ("办理日期不能晚于今天。", "The effective date can't be in the future."),
    "err_before_last_event": ("办理日期不能早于该记录的上一次办理。",
                              "The date can't be before the record's last entry."),
    "err_duplicate_registration": ("该身份证号或登记号码已在台账中。",
                                   "That ID number or registration number is already in the ledger."),
    "err_invalid_registration_no": ("党员登记号码应为 18 位且校验位正确。",
                                    "A registration number has 18 characters and a valid check character."),
    "err_member_not_held": ("该党员不在任何组织的花名册上（在途、去世或已出党）。",
                            "The member is not on a roster (in transit, deceased or left)."),
    "err_transfer_open": ("该党员已有一项未办结的转接。", "The member already has an open transfer."),
    "err_same_organization": ("转入组织不能是党员现在所在的组织。",
                              "The target can't be the member's own organization."),
    "err_organization_dissolved": ("该组织已撤销，不能办理。", "That organization is dissolved."),
    "err_cannot_hold_members": ("只有党支部和党员服务中心可以接收党员。",
                                "Only branches and service centers hold members."),
    "err_not_in_target_subtree": ("只能接收到介绍信所写组织或其下级的党支部。",
                                  "Receive into a branch within the letter's target organization."),
    "err_invalid_transition": ("该事项当前的状态不允许这样办理。", "Its present state does not allow this."),
    "err_letter_expired": ("介绍信已过有效期，接收时需填写逾期说明。",
                           "The letter has expired: receiving it needs a late certificate."),
    "err_validity_too_long": ("介绍信有效期自开具起最长 90 天。", "A letter is valid at most 90 days from issue."),
    "err_probation_ending": ("预备期不足 90 天的党员不办理转接。",
                             "A member with 90 days or less of probation left is not transferred."),
    "err_performance_record_required": ("预备期超过 180 天的党员转接需附考察材料。",
                                        "More than 180 days into probation: attach the performance record."),
    "err_evidence_required": ("按工作单位转接需劳动合同，按居住地需房产证或租赁合同。",
                              "Workplace needs a labor contract; residence a deed or lease."),
    "err_probation_not_over": ("预备期未满，不能转正。", "The probation is not over yet."),
    "err_confirmation_due": ("预备期已满，请原组织先讨论转正。",
                             "Probation has ended: the old organization confirms the member first."),
    "err_certificate_open": ("该党员已有一份未交回的证明（党员证明信或流动党员活动证），交回后才能再开。",
                             "The member already holds an open certificate: it is returned first."),
    "err_use_formal_transfer": ("外出超过 6 个月应办理正式组织关系转接。",
                                "More than 6 months away needs a formal transfer."),
    "err_period_closed": ("该月已报送封账，不能补记到该月。", "That month is filed and closed."),
    "err_idempotency_key_reused": ("重复提交的内容不一致。", "The same request was sent with other content."),
    "err_conflict": ("他人刚刚办理了同一事项，请刷新后重试。",
                     "Someone else changed this just now: reload and try again."),
    "err_not_ready": ("数据正在更新，请稍后再试。", "The data is being updated: try again shortly."),
    "err_csrf": ("表单已失效，请刷新页面后重新提交。", "The form has expired: reload the page and submit again."),
    "err_report_files_unavailable": ("报表文件功能暂不可用。", "Report files are not available yet."),
    "err_page_not_found": ("没有这个页面。", "There is no such page."),
    "err_internal_error": ("系统出了点问题，已记录，请稍后再试。",
                           "Something went wrong on our side; it has been logged. Try again later."),
    "err_ledger_error": ("台账拒绝了此操作。", "The ledger refused this."),
    "err_mobile_certificate_required": ("只有持流动党员活动证的党员才需要定期汇报。",
                                        "Regular reports are for mobile members holding a mobile member certificate."),
}
# The member's own pages (self-service, seed 002)
WORDS.update({
    "me_sign_in": ("党员登录", "Member sign-in"),
    "me_token": ("党员令牌", "Member token"),
    "me_token_help": ("请粘贴党组织为您开通的党员令牌。", "Paste the member token your branch gave you."),
    "me_nav_record": ("我的档案", "My record"),
    "me_nav_history": ("我的记录", "My history"),
    "me_nav_transfer": ("申请转接", "Request a transfer"),
    "me_nav_report": ("定期汇报", "Regular report"),
    "me_signed_in": ("当前党员", "Signed in as"),
    "me_transfer": ("我的组织关系转接", "My transfer"),
    "me_no_transfer": ("目前没有进行中的转接。", "No transfer under way."),
    "me_certificates": ("我的证明", "My certificates"),
    "me_no_certificates": ("没有未交回的证明。", "No certificate out."),
    "me_transfer_help": ("提交后由所在党委审核开具介绍信或不予开具。",
                         "Your committee then issues the letter or declines the request."),
    "me_transfer_open": ("您已有进行中的转接，完成或撤销前不能再申请。",
                         "You have a transfer under way: no new request until it ends."),
    "me_find_target": ("按名称查找转入组织", "Find where to go, by name"),
    "me_report_text": ("汇报内容", "Report"),
    "me_report_send": ("提交汇报", "Send the report"),
    "me_report_not_mobile": ("定期汇报由持流动党员活动证的党员向原党组织提交；您目前没有流动党员活动证。",
                             "Regular reports are sent home by mobile members holding a mobile member "
                             "certificate; you hold none now."),
    "me_reports_sent": ("已提交的汇报", "Reports sent"),
    "me_sent_to": ("报送", "Sent to"),
})


def translate(key: str, lang: str, **values: object) -> str:
    """The text for `key` in `lang` (Chinese when unknown); the key itself when missing."""
    pair = WORDS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(**values) if values else text


def error_text(code: str, lang: str) -> str:
    return translate(f"err_{code}" if f"err_{code}" in WORDS else "err_ledger_error", lang)


WORDS.update(VOCABULARY)
WORDS.update({f"f_{key}": words for key, words in FIGURES.items()})
# The overdue kinds have one name everywhere: the list's, the ledger's and the command line's.
WORDS.update({
    "okind_overdue_letter": ("介绍信逾期未接收", "letter overdue"),
    "okind_unreturned_receipt": ("回执逾期未退回", "receipt not returned"),
    "okind_unreturned_certificate": ("证明信逾期未交回", "certificate not returned"),
    "okind_inactive_6m": ("连续六个月未参加组织生活、未交党费", "inactive for 6 months"),
    "okind_stale_request": ("转接申请 30 日未办理", "request waiting over 30 days"),
    "okind_open_case": ("首问责任案件超 30 日未办结", "first-responder case open over 30 days"),
    "okind_bounced": ("转接两次以上被退回", "bounced twice or more"),
    # first-responder cases: their states and outcomes, and their pages
    "case_open": ("办理中", "open"), "case_closed": ("已办结", "closed"),
    "case_placed": ("已落实组织", "placed"), "case_not_a_member": ("非党员", "not a member"),
    "case_withdrawn": ("本人撤回", "withdrawn"),
    "cases_open": ("办理中", "Open"), "cases_closed": ("已办结", "Closed"), "cases_all": ("全部", "All"),
    "nav_cases": ("首问责任", "Cases"),
    "timely_breakdowns": ("接收及时率分类", "Timely rate by kind"),
    "cases_title": ("首问责任案件", "First-responder cases"),
    "cases_help": ("首问责任制：党员或群众首先找到的党组织负责到底，直至其能参加一个党组织的活动。"
                   "受理超过 30 天未办结的案件列入逾期台账。",
                   "First-responder duty: the organization a person first asks owns the case until the person "
                   "attends the activities of an organization. A case open more than 30 days is on the overdue list."),
    "case_opened_on": ("受理日期", "Opened"), "days_open": ("已办天数", "Days open"),
    "case_outcome": ("办理结果", "Outcome"), "case_note": ("说明", "Note"), "case_close": ("办结", "Close"),
    "case_open_title": ("受理新案件", "Open a case"), "case_owner": ("首问组织代码", "Owning organization (code)"),
    "case_request": ("诉求", "Request"), "case_open_button": ("受理", "Open the case"),
})


def word(kind: str, code: str | None, lang: str) -> str:
    """A code's word in the vocabulary (`word("reason", "job_change", "zh")` is 工作调动);
    the code itself when it has none (free text, such as a refusal's reason)."""
    if code is None or code == "":
        return "—"
    key = f"{kind}_{code}"
    return translate(key, lang) if key in WORDS else str(code)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "—"


def describe(entry: dict[str, Any], lang: str, org: Callable[[str | None], str]) -> str:
    """One entry of a member's history as a sentence in `lang`, organizations by name
    (`org` gives a code's name): 申请转接：从 X 转往 Y（工作调动，跨县（区））."""
    data = entry.get("data") or {}
    reason = data.get("reason")
    values = _Blank({
        "from": org(data.get("from_organization_code")), "to": org(data.get("to_organization_code")),
        "org": org(data.get("organization_code")), "issuer": org(data.get("issuing_organization_code")),
        "home": org(data.get("home_organization_code")),
        "host": org(data.get("host_organization_code")) if data.get("host_organization_code")
        else str(data.get("host_description") or "—"),
        "letter": str(data.get("letter_no") or "—"), "certificate": str(data.get("certificate_no") or "—"),
        "until": str(data.get("valid_until") or "—"), "month": str(data.get("month") or "—"),
        "amount": str(data.get("amount") or "—"), "days": str(data.get("days") if data.get("days") is not None
                                                               else "—"),
        "reason": word("reason", reason, lang) if reason is not None else "—",
        "route": word("route", data.get("route"), lang), "status": word("status", data.get("status"), lang),
        "leave": word("leave", reason, lang), "kind": word("cert", data.get("kind"), lang),
        "outcome": word("tstatus", data.get("outcome"), lang),
        "case_outcome": translate(f"case_{data.get('outcome')}", lang) if data.get("outcome") else "—",
        "on_time": translate("on_time" if data.get("on_time") else "late", lang),
        # receipts recorded before presenters were asked have no presented_by: the member
        "presenter": "" if data.get("presented_by") != "agent"
        else translate("presented_agent_named", lang).format(name=data["agent_name"]) if data.get("agent_name")
        else translate("presented_agent", lang),
        "closing": translate(f"closing_{data.get('reason')}", lang)
        if f"closing_{data.get('reason')}" in WORDS else "—",
    })
    key = f"say_{entry.get('type')}"
    if key not in WORDS:
        return translate(f"ev_{entry.get('type')}", lang)
    return translate(key, lang).format_map(values)
