"""The console's words in Chinese (first) and English; templates call ``t("key")``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from bot.i18n import noun

LANGUAGES: Final = ("zh", "en")

MESSAGES: Final[dict[str, tuple[str, str]]] = {
    "title": ("虚拟代表后台", "virtualrep console"),
    "home": ("首页", "Home"),
    "pv": ("药物警戒", "Pharmacovigilance"),
    "compliance": ("合规", "Compliance"),
    "content": ("内容", "Content"),
    "mi": ("医学信息", "Medical information"),
    "managers": ("转人工", "Handoffs"),
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
    "attachments": ("附件", "Attachments"),
    "kind_voice": ("语音", "Voice note"),
    "kind_image": ("图片", "Image"),
    "kind_file": ("文件", "File"),
    "open_file": ("打开", "Open"),
    "valid_until": ("有效期至", "valid until"),
    "links_fresh": (
        "链接在打开本页时生成（旧链接过期后，在此获取新链接），生成与下载均记入审计记录。",
        "Links are issued when this page opens (an expired link is renewed here); issuing and "
        "downloading are written to the audit trail.",
    ),
    "links_off": (
        "未设置 VREP_MEDIA_LINK_KEY，没有下载链接；文件按编号保存在 virtualrep 中。",
        "VREP_MEDIA_LINK_KEY is not set, so there are no download links; files are kept by ref.",
    ),
    "link_expired": ("此下载链接已过期。", "This download link has expired."),
    "fresh_link_on_case": (
        "打开病例页面即可获取新链接：",
        "Open the case page for a fresh link:",
    ),
    "form_answers": ("表单回答", "Form answers"),
    "patient": ("患者", "Patient"),
    "products": ("产品", "Products"),
    "events": ("事件", "Events"),
    "seriousness": ("严重性", "Seriousness"),
    "outcome": ("转归", "Outcome"),
    "concomitant": ("合并用药", "Concomitant medicines"),
    "onset": ("开始时间", "Onset"),
    "asked_answered": ("无", "none"),
    "asked_dont_know": ("不知道（报告人回答）", "don't know (the reporter said)"),
    "asked_no_answer": ("问了两次，未得到回答", "asked twice, no answer"),
    "asked_not_asked": ("未询问（表单提前结束）", "not asked (the form ended first)"),
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
    "handoff_offered": ("等待接手", "offered"),
    "handoff_active": ("人工对话中", "taken over"),
    "handoff_unanswered": ("无人接手", "unanswered"),
    "handoff_closed": ("已结束", "closed"),
    "reason_explicit_request": ("医生要求人工", "the doctor asked for a person"),
    "reason_not_helped": ("机器人未能帮助", "the bot could not help"),
    "reason_medical_information": ("医学信息请求", "medical-information request"),
    "reason_serious_adverse_event": ("严重不良事件", "serious adverse event"),
    "reason_adverse_event_in_human_mode": ("人工对话中报告不良事件", "adverse event in human mode"),
    "reason_complaint": ("投诉", "complaint"),
    "reason_rep_takeover": ("代表主动接手", "a rep took over"),
    "stage_rep": ("负责代表", "assigned rep"),
    "stage_assigned": ("负责代表", "assigned rep"),
    "stage_backup": ("备岗代表", "backup"),
    "stage_pool": ("团队", "team pool"),
    "stage_mi": ("医学信息", "medical information"),
    "response_times": ("代表响应时间", "Response times per rep"),
    "days": ("天", "days"),
    "rep": ("代表", "Rep"),
    "taken_over": ("接手次数", "Taken over"),
    "median_wait": ("等待中位数（分钟）", "Median wait (min)"),
    "longest_wait": ("最长等待（分钟）", "Longest wait (min)"),
    "declined": ("拒绝次数", "Declined"),
    # analytics
    "analytics": ("分析", "Analytics"),
    "period": ("时间段", "Period"),
    "last_weeks": ("最近 N 周", "Last N weeks"),
    "weeks": ("周", "weeks"),
    "team": ("团队/区域", "Team / region"),
    "analytics_scope_all": ("全部团队", "All teams"),
    "analytics_scope_team": ("所选团队/代表的医生", "Doctors of the chosen team / rep"),
    "analytics_no_team": (
        "名册中您没有所管理的团队，因此没有可显示的数据。",
        "The roster names no team you manage, so there is nothing to show.",
    ),
    "analytics_not_your_team": (
        "该团队或代表不在您的管理范围内。",
        "That team or rep is not one you manage.",
    ),
    "analytics_bad_period": ("无法识别该时间段。", "That period is not one of the choices."),
    "analytics_no_records": (
        "分析需要记录系统（records/，SQL 数据库），当前未打开。",
        "Analytics need the system of record (records/, the SQL database); it is not open.",
    ),
    "analytics_reset": ("返回默认视图", "Back to the default view"),
    "questions_per_week": ("每周医生消息", "Doctors' messages per week"),
    "questions_hint": (
        "已批准内容作答、无已批准信息（内容缺口）与其他消息（菜单、表单、闲聊、拒答）。",
        "Answered from approved content, no approved information (a content gap), and other "
        "messages (menus, forms, small talk, declined).",
    ),
    "answered": ("已作答", "Answered"),
    "no_information": ("无已批准信息", "No approved information"),
    "other_messages": ("其他", "Other"),
    "by_topic": ("按主题（每周问题数）", "By topic (questions per week)"),
    "by_product": ("按产品", "By product"),
    "by_category": ("按类别", "By category"),
    "content_gaps": ("内容缺口", "Content gaps"),
    "content_gaps_hint": (
        "已批准内容无法回答或转为医学信息请求的问题，按措辞相似度分组，提问最多的在前。",
        "Questions approved content could not answer or that became MI requests, grouped by "
        "similar wording, the most asked first.",
    ),
    "similar_wordings": ("相似问法", "Similar wordings"),
    "more_in_csv": ("共 N 组，完整列表请导出 CSV。", "N groups in all: export the CSV for all."),
    "documents_used": ("最常被引用的文件", "Documents cited most"),
    "ae_volume": ("不良事件数量", "Adverse-event volume"),
    "cases": ("例", "cases"),
    "non_serious": ("非严重", "Non-serious"),
    "meeting_funnel": ("会议漏斗", "Meeting funnel"),
    "funnel_invited": ("已邀请", "Invited"),
    "funnel_registered": ("已报名", "Registered"),
    "funnel_reminded": ("已提醒", "Reminded"),
    "funnel_attended": ("已参会", "Attended"),
    "funnel_feedback": ("已反馈", "Gave feedback"),
    "funnel_no_product": (
        "会议不按产品区分：漏斗未按产品筛选。",
        "Meetings have no product: the funnel ignores the product filter.",
    ),
    "analytics_response_times": ("代表响应时间（转人工）", "Rep response times (handoffs)"),
    "handoffs_requested": ("转人工", "Handoffs"),
    "handoffs_taken": ("已接手", "Taken"),
    "declines": ("拒绝", "Declines"),
    "median": ("中位数", "Median"),
    "slowest": ("最慢", "Slowest"),
    "min": ("分钟", "min"),
    "topic_adverse_common": ("常见不良反应", "Common adverse effects"),
    "topic_adverse_serious": ("严重不良反应", "Serious adverse effects"),
    "topic_contraindications": ("禁忌", "Contraindications"),
    "topic_dosing": ("用法用量", "Dosing"),
    "topic_efficacy": ("疗效", "Efficacy"),
    "topic_formulation": ("剂型", "Formulation"),
    "topic_hepatic": ("肝功能", "Hepatic"),
    "topic_indication": ("适应症", "Indication"),
    "topic_interactions": ("相互作用", "Interactions"),
    "topic_mechanism": ("作用机制", "Mechanism"),
    "topic_missed_dose": ("漏服", "Missed dose"),
    "topic_overdose": ("过量", "Overdose"),
    "topic_pregnancy": ("妊娠", "Pregnancy"),
    "topic_price_access": ("价格与可及性", "Price and access"),
    "topic_renal": ("肾功能", "Renal"),
    "topic_storage": ("储存", "Storage"),
    "category_adverse_event": ("不良事件", "Adverse event"),
    "category_pregnancy": ("妊娠暴露", "Pregnancy"),
    "category_lactation": ("哺乳期暴露", "Lactation"),
    "category_overdose": ("过量", "Overdose"),
    "category_abuse": ("滥用", "Abuse"),
    "category_misuse": ("误用", "Misuse"),
    "category_medication_error": ("用药错误", "Medication error"),
    "category_off_label": ("超说明书用药", "Off-label use"),
    "category_lack_of_efficacy": ("疗效缺乏", "Lack of efficacy"),
    "category_occupational_exposure": ("职业暴露", "Occupational exposure"),
    "category_quality_complaint": ("质量投诉", "Quality complaint"),
    "category_interaction": ("相互作用", "Interaction"),
    # compliance
    "audit_trail": ("审计记录", "Audit trail"),
    "needs_records": (
        "审计检索与导出需要记录系统（records/，SQL 数据库）。",
        "Audit search and export need the system of record (records/, the SQL database).",
    ),
    "chain_check": ("链校验", "Chain check"),
    "consent_records": ("同意记录", "Consent records"),
    "look_up": ("查询", "Look up"),
    "purpose": ("用途", "Purpose"),
    "consent": ("同意", "Consent"),
    "consent_given": ("已同意", "given"),
    "consent_withdrawn": ("已撤回", "withdrawn"),
    "notice_version": ("告知版本", "Notice version"),
    "via": ("途径", "Via"),
    "no_consents": ("没有这位医生的同意记录。", "No consent record for this doctor."),
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


EN_SINGULAR: Final[dict[str, str]] = {"entries": "entry", "cases": "case"}
"""English singulars of the countable nouns above (whose English text is the plural)."""


def counter(lang: str) -> Callable[[str, int], str]:
    """``tn(key, count)``: the noun ``key`` in the number ``count`` takes (``1 entry``, not
    ``1 entries``); Chinese measure words do not inflect."""
    t = translator(lang)

    def tn(key: str, count: int) -> str:
        if lang != "en" or key not in EN_SINGULAR:
            return t(key)
        return noun(count, EN_SINGULAR[key], t(key))

    return tn


def labeller(lang: str) -> Callable[[str, str], str]:
    """``label("category_", name)``: the translated name of a stored key (an AE category, a
    topic), or the name itself when it has no translation."""
    t = translator(lang)

    def label(prefix: str, name: str) -> str:
        key = prefix + name
        return name if key not in MESSAGES else t(key)

    return label


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
