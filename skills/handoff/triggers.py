"""What in a doctor's message asks for a human: an explicit request, or a complaint.

Both are deliberately narrow word lists (Chinese first, English too): a false "talk to a rep"
costs a rep's time, and a message about a patient's harm is an adverse event for the AE skill,
not a complaint — so complaint words are about the service, never about how a patient feels.
"""

from __future__ import annotations

import re

# A request to reach a person. Short messages only: "我想问代表的电话" is a question for Q&A.
_EXPLICIT = re.compile(
    r"(转人工|人工客服|人工服务|转接人工|找人工|(?<![不别需想])(需要|想要|要)人工|接人工|人工(回复|回答|接待|处理|坐席)|真人|"
    r"^\s*人工\s*$|找代表|联系代表|医药代表|联系我的代表|我的代表|找销售|找客服|客服电话|叫代表|让代表|"
    r"代表联系我|打电话给我|活人|不要(跟|和)?机器人|不想(跟|和)机器人|"
    r"(跟|和|与|找)(个|一个)?人(说话|聊|谈|沟通|交流|对话)|"
    # "叫小李给我回个电话", "让王代表联系我": someone asked to call or contact the doctor
    r"(叫|让|请)(?!患者|病人|家属|他|她|不|别|勿|无需)[^，,。？?！!\s]{1,6}?(给我)?(回(个|一个)?电话|打(个|一个)?电话|回电|联系(一下)?我)|"
    r"给我回(个|一个)?电话|"
    r"\btalk to (a|my|the) (rep|representative|human|person|agent)\b|"
    r"\b(speak|talk|chat) (to|with) (a |an |my |the )?(real )?"
    r"(human|person|someone|rep|representative|agent)\b|"
    r"\b(real|live|actual) (person|human|agent)\b|\bhuman (agent|please|being)\b|"
    r"\b(want|need) (a |an |to a |to an )?(real )?(person|human|agent|rep|representative)\b|"
    r"\b(get|give|connect) me (to |with )?(a |an )?(real )?"
    r"(person|human|agent|rep|representative|someone)\b|\bnot (a|the|this) (bot|robot|machine)\b|"
    r"^\s*(human|agent|operator|representative|rep)\s*[.!?]*\s*$|\bcontact my rep\b|"
    r"\b(have|get|ask) (my|a|the) (rep|representative) (to )?(call|contact|phone|ring) me\b|"
    r"\b(call|ring|phone) me back\b|\bsomeone (to )?(call|contact) me\b)",
    re.IGNORECASE,
)
_EXPLICIT_MAX_CHARS = 60
# A request said with a negation in front ("不要打电话给我", "don't call me") asks for nothing.
_NEGATED_BEFORE = re.compile(
    r"(?:不要|不用|不需要|不必|无需|别|勿|don'?t|do not|no need to|never)\s*(?:再\s*)?"
    r"(?:(?:need|want)\s+(?:to\s+)?)?$",
    re.I,
)
# Asking what the bot is ("你是真人还是AI", "are you a human or a bot?") is small talk, not a
# request for one: request words inside such a question do not count.
_ABOUT_THE_BOT = re.compile(
    r"(你|您|这)(是|到底是)(不是)?(个|一个)?(真人|人工|机器人|ai|人工智能|活人)[^，,。.!！]*|"
    r"是(真人|机器人|人工)(吗|么|嘛|还是[^，,。.!！]*)|"
    r"\b(are you|is this|am i (talking|chatting) (to|with)) (a |an )?(real )?"
    r"(human|person|bot|robot|ai|machine)\b[^,.!]*",
    re.IGNORECASE,
)

# Dissatisfaction with the service (not with a patient's health).
_COMPLAINT_STRONG = re.compile(
    r"(投诉|举报|差评|太差劲|太差了|垃圾|什么破|破机器人|废物|骗子|骗人|忽悠|气死|受够了|烦死了|"
    r"浪费(我的)?时间|答非所问|一点用(都|也)没有|毫无用处|没用的东西|"
    r"\bcomplain(t)?\b|\bfile a complaint\b|\buseless\b|\bwaste of (my )?time\b|\bridiculous\b|"
    r"\bunacceptable\b|\bfed up\b|\bscam\b|\bstupid bot\b|\bterrible service\b|\bworst\b)",
    re.IGNORECASE,
)
_COMPLAINT_MILD = re.compile(
    r"(不满意|不满|失望|生气|没用|不靠谱|很差|差劲|没人管|没人理|一直不回|"
    r"\bdisappointed\b|\bunhappy\b|\bannoyed\b|\bangry\b|\bnot helpful\b|"
    r"\bno one (answers|replies)\b)",
    re.IGNORECASE,
)
_INTENSIFIERS = re.compile(
    r"(!!|！！|太|非常|极其|真的|\bvery\b|\breally\b|\bso\b|\bextremely\b)", re.I
)


def is_explicit_request(text: str) -> bool:
    """True for "转人工", "找代表", "叫小李给我回个电话", "talk to a rep", "human", ... (short
    messages only), not when negated ("不用转人工") or asked about the bot ("你是真人吗")."""
    stripped = text.strip()
    if not 0 < len(stripped) <= _EXPLICIT_MAX_CHARS:
        return False
    about_the_bot = [match.span() for match in _ABOUT_THE_BOT.finditer(stripped)]
    return any(
        not _NEGATED_BEFORE.search(stripped[: match.start()])
        and not any(start <= match.start() < end for start, end in about_the_bot)
        for match in _EXPLICIT.finditer(stripped)
    )


def is_complaint(text: str) -> bool:
    """A complaint or strong negative sentiment about the service.

    One strong word is enough; a mild one needs an intensifier ("非常失望", "really annoyed").
    """
    if _COMPLAINT_STRONG.search(text):
        return True
    return bool(_COMPLAINT_MILD.search(text)) and bool(_INTENSIFIERS.search(text))
