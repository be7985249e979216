"""The console's words in Chinese (first) and English; templates call ``t("key")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

LANGUAGES: Final = ("zh", "en")

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "title": ("虚拟代表后台", "virtualrep console"),
    "home": ("首页", "Home"),
    "pv": ("药物警戒", "Pharmacovigilance"),
    "compliance": ("合规", "Compliance"),
    "content": ("内容", "Content"),
    "mi": ("医学信息", "Medical information"),
    "managers": ("经理", "Managers"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "sign_in_wecom": ("企业微信登录", "Sign in with WeCom"),
    "sign_in_qr": ("扫码登录（电脑）", "QR sign-in (desktop)"),
    "local_login": ("本地登录（模拟器）", "Local sign-in (simulator)"),
    "local_login_hint": (
        "仅用于模拟器：以名册中的成员身份登录。",
        "Simulator only: sign in as a member of the roster.",
    ),
    "member": ("成员", "Member"),
    "roles": ("角色", "Roles"),
    "signed_in_as": ("当前用户", "Signed in as"),
    "not_configured": (
        "企业微信未配置，无法用企业微信登录。",
        "WeCom is not configured: WeCom sign-in is unavailable.",
    ),
    "login_failed": ("登录失败，请重试。", "Sign-in failed; please try again."),
    "not_in_roster": (
        "您不在名册中，无权使用后台。请联系管理员。",
        "You are not on the roster, so the console is closed to you. Ask an administrator.",
    ),
    "expired": ("登录已过期，请重新登录。", "Your session expired; please sign in again."),
    "denied_title": ("无权访问", "Access denied"),
    "denied": (
        "您的角色无权打开此页面，此次访问已记录。",
        "Your role may not open this page. This attempt has been recorded.",
    ),
    "csrf": (
        "请求已过期，请刷新页面后重试。",
        "This form has expired; reload the page and try again.",
    ),
    "your_pages": ("您可以使用", "Your pages"),
    "no_pages": ("您的角色暂无后台页面。", "No console page is open to your role yet."),
    # PV queue
    "case_queue": ("病例队列", "Case queue"),
    "state": ("状态", "State"),
    "all": ("全部", "All"),
    "state_new": ("新", "New"),
    "state_awaiting": ("待确认", "Awaiting ack"),
    "state_overdue": ("超时", "Overdue"),
    "state_dead": ("投递失败", "Dead-lettered"),
    "state_acked": ("已确认", "Acknowledged"),
    "serious_only": ("仅严重", "Serious only"),
    "product": ("产品", "Product"),
    "filter": ("筛选", "Filter"),
    "case": ("病例", "Case"),
    "day0": ("第0天", "Day 0"),
    "due": ("截止", "Due"),
    "categories": ("类别", "Categories"),
    "serious": ("严重", "Serious"),
    "incomplete": ("不完整", "Incomplete"),
    "no_cases": ("没有符合条件的病例。", "No case matches."),
    "page": ("页", "Page"),
    "previous": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "overdue_by": ("已超时", "overdue by"),
    "hours": ("小时", "h"),
    # PV case detail
    "source_messages": ("原始消息（已脱敏）", "Source messages (masked)"),
    "form_answers": ("表单回答", "Form answers"),
    "patient": ("患者", "Patient"),
    "products": ("产品", "Products"),
    "events": ("事件", "Events"),
    "seriousness": ("严重性", "Seriousness"),
    "outcome": ("转归", "Outcome"),
    "concomitant": ("合并用药", "Concomitant medicines"),
    "unknown": ("不知道", "Answered “don't know”"),
    "not_known": ("未知", "not known"),
    "none": ("无", "none"),
    "delivery": ("投递记录", "Delivery"),
    "sink": ("投递目标", "Sink"),
    "delivered_at": ("送达时间", "Delivered"),
    "queued_at": ("排队时间", "Queued"),
    "attempts": ("尝试次数", "Attempts"),
    "last_error": ("最近错误", "Last error"),
    "dead_lettered_at": ("转入死信", "Dead-lettered"),
    "not_delivered": ("未送达", "not delivered"),
    "download_e2b": ("下载 E2B", "Download E2B"),
    "download_json": ("下载 JSON", "Download JSON"),
    "acknowledge": ("确认收到", "Acknowledge"),
    "acknowledged_by": ("已确认：", "Acknowledged by"),
    "redeliver": ("重新投递", "Redeliver"),
    "status": ("状态", "Status"),
    "history": ("病例经过", "History"),
    "event_created": ("创建", "created"),
    "event_form_answer": ("表单回答", "form answer"),
    "event_submitted": ("提交", "submitted"),
    "event_updated": ("更新", "updated"),
    "event_queued": ("排队投递", "queued for delivery"),
    "event_delivered_to_sink": ("送达", "delivered to"),
    "event_delivery_failed": ("投递失败", "delivery failed"),
    "event_dead_lettered": ("转入死信", "dead-lettered"),
    "event_delivered": ("全部送达", "delivered everywhere"),
    "event_redelivery": ("重新投递", "redelivery asked"),
    "event_acknowledged": ("确认收到", "acknowledged"),
    "event_exported": ("导出", "exported"),
    # medical information
    "mi_requests": ("医学信息请求", "Medical-information requests"),
    "show_closed": ("含已关闭", "Include closed"),
    "open_only": ("仅未关闭", "Open only"),
    "question": ("问题", "Question"),
    "asked_at": ("提出时间", "Asked"),
    "respond_by": ("答复期限", "Respond by"),
    "overdue": ("已超期", "Overdue"),
    "closed_by": ("关闭人", "Closed by"),
    "note": ("处理说明", "What was done"),
    "close_request": ("关闭请求", "Close request"),
    "no_requests": ("没有医学信息请求。", "No medical-information request."),
    "mi_closed": ("请求已关闭。", "Request closed."),
    "mi_unknown": ("没有这个请求。", "No such request."),
    "mi_already_closed": ("该请求已关闭。", "That request is already closed."),
    "assigned_to": ("负责人", "With"),
    "unassigned": ("未分配", "nobody yet"),
    "hand_to": ("转交给", "Hand to"),
    "hand_over": ("转交", "Hand over"),
    "hand_note": ("转交说明", "Note for the colleague"),
    "mi_handed": ("已转交，并已通知同事。", "Handed over; your colleague has been told."),
    "mi_handed_untold": (
        "已转交，但未能通知同事（企业微信未配置或发送失败），请另行告知。",
        "Handed over, but your colleague could not be told (WeCom not configured or the "
        "message failed): tell them yourself.",
    ),
    "mi_not_colleague": (
        "只能转交给有医学信息角色的同事，未做任何更改。",
        "You can hand a request only to a colleague with the medical-information role; "
        "nothing was changed.",
    ),
    "mi_status_open": ("未关闭", "open"),
    "mi_status_closed": ("已关闭", "closed"),
    # content
    "approved_library": ("已批准内容库", "Approved content library"),
    "documents": ("文档", "Documents"),
    "all_documents": ("全部文档", "All documents"),
    "expiring_30": ("30天内到期", "Expiring within 30 days"),
    "expires_soon": ("即将到期", "Expires soon"),
    "expires": ("到期", "Expires"),
    "status_approved": ("已批准", "approved"),
    "status_withdrawn": ("已撤回", "withdrawn"),
    "withdraw": ("撤回", "Withdraw"),
    "withdrawn": ("文档已撤回，不再用于回答。", "Withdrawn: no longer used in answers."),
    "no_document": ("没有这个文档。", "No such document."),
    "no_documents": ("没有文档。", "No document."),
    "upload": ("上传", "Upload"),
    "upload_result": ("上传结果", "Upload result"),
    "upload_format": (
        "请上传 Markdown、PDF、DOCX 或文本文件。",
        "Upload a Markdown, PDF, DOCX or text file.",
    ),
    "added": ("新增", "added"),
    "replaced": ("替换", "replaced"),
    "unchanged": ("未变", "unchanged"),
    "file": ("文件", "File"),
    "doc_title": ("标题", "Title"),
    "approval_code": ("批准编号", "Approval code"),
    "version": ("版本", "Version"),
    "audience": ("受众", "Audience"),
    "language": ("语言", "Language"),
    "content_type": ("内容类型", "Content type"),
    "ask_as_doctor": ("以医生身份提问（预览）", "Ask as a doctor (preview)"),
    "ask": ("提问", "Ask"),
    "preview_hint": (
        "机器人会根据以下已批准内容回答（离线组合；不含大模型措辞与安全规则的拒答）。",
        "What the bot would answer from approved content (offline composition; the LLM's "
        "wording and the guardrails' refusals are not applied).",
    ),
    "chunks_used": ("引用的段落", "Chunks quoted"),
    "chunks_considered": ("检索到的段落", "Chunks retrieved"),
    # managers
    "handoffs": ("转人工", "Handoffs"),
    "sla_breaches": ("超时未响应", "SLA breaches"),
    "sla_breached": ("已超时", "SLA breached"),
    "waiting_for_rep": ("等待代表接手", "Waiting for a rep"),
    "in_human_mode": ("人工对话中", "In human mode"),
    "reason": ("原因", "Reason"),
    "requested": ("发起", "Requested"),
    "offered_to": ("已推送给", "Offered to"),
    "sla_due": ("响应时限", "Answer by"),
    "declined_by": ("已拒绝", "Declined by"),
    "taken_by": ("接手人", "Taken by"),
    # analytics
    "analytics": ("分析", "Analytics"),
    "mi_per_week": ("每周医学信息请求", "Medical-information requests per week"),
    "content_gaps": ("内容缺口", "Content gaps"),
    "content_gaps_hint": (
        "已批准内容未能回答、转为医学信息请求的问题（最近50条）。",
        "Questions approved content did not answer and that became MI requests (latest 50).",
    ),
    "analytics_later": (
        "不良事件数量、问题主题与会议漏斗需要记录系统（records/）的汇总。",
        "AE volume, questions by topic and the meeting funnel need the system of record's "
        "aggregates (records/).",
    ),
    # compliance
    "audit_trail": ("审计记录", "Audit trail"),
    "needs_records": (
        "审计检索与导出需要记录系统（records/，SQL 数据库）。",
        "Audit search and export need the system of record (records/, the SQL database).",
    ),
    "chain_check": ("链校验", "Chain check"),
    "verify_chain": ("校验哈希链", "Verify the hash chain"),
    "chain_ok": ("哈希链完整", "The chain holds"),
    "chain_broken": ("哈希链断裂于", "The chain breaks at"),
    "entries": ("条", "entries"),
    "redacted": ("已按保留期清除", "removed by retention"),
    "from": ("起", "From"),
    "to": ("止", "To"),
    "doctor": ("医生", "Doctor"),
    "kind": ("类型", "Kind"),
    "search": ("搜索", "Search"),
    "export": ("导出", "Export"),
    "time": ("时间", "Time"),
    "actor": ("操作人", "Actor"),
    "details": ("详情", "Details"),
    "no_entries": ("没有符合条件的记录。", "No entry matches."),
    # values of case fields
    "collecting": ("收集中", "collecting"),
    "submitted": ("已提交", "submitted"),
    "confirmed": ("医生已确认", "confirmed by the doctor"),
    "stopped": ("医生中途停止", "stopped by the doctor"),
    "idle": ("超时自动提交", "submitted when idle"),
    "human_mode": ("人工对话中报告", "reported in human mode"),
    "menu": ("医生离开表单", "the doctor left the form"),
    "male": ("男", "male"),
    "female": ("女", "female"),
    "death": ("死亡", "death"),
    "life_threatening": ("危及生命", "life-threatening"),
    "hospitalisation": ("住院或延长住院", "hospitalisation"),
    "disability": ("残疾", "disability"),
    "congenital_anomaly": ("先天异常", "congenital anomaly"),
    "other_medically_important": ("其他重要医学事件", "other medically important"),
    "outcome_0": ("未知", "unknown"),
    "outcome_1": ("痊愈", "recovered"),
    "outcome_2": ("好转", "recovering"),
    "outcome_3": ("未好转", "not recovered"),
    "outcome_4": ("痊愈有后遗症", "recovered with sequelae"),
    "outcome_5": ("死亡", "fatal"),
    # what an action did (notices)
    "acknowledged": ("已确认收到。", "Acknowledged."),
    "queued for delivery again": ("已重新排队投递。", "Queued for delivery again."),
    "already delivered": ("已送达，无需重新投递。", "Already delivered."),
    "not dead-lettered: its delivery is still being retried": (
        "未进入死信：仍在自动重试投递。",
        "Not dead-lettered: its delivery is still being retried.",
    ),
    "being delivered right now; try again in a minute": (
        "正在投递中，请一分钟后再试。",
        "Being delivered right now; try again in a minute.",
    ),
    "not submitted yet": ("报告尚未提交。", "Not submitted yet."),
    "no such case": ("没有这个病例。", "No such case."),
    "no_such_case": ("没有这个病例。", "No such case."),
    "reads_audited": (
        "每次查看均记入审计记录。",
        "Every read of this case is written to the audit trail.",
    ),
}


def translator(lang: str) -> Callable[[str], str]:
    """``t(key)`` in ``lang`` (``zh`` unless ``en``); an unknown key shows itself."""
    index = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = MESSAGES.get(key)
        return pair[index] if pair else key

    return t


def pick_language(value: str | None, accept: str | None) -> str:
    """The cookie's language, else English when the browser prefers it, else Chinese."""
    if value in LANGUAGES:
        return str(value)
    first = (accept or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else "zh"
