"""Compliance guardrails applied to every question before any answer is assembled (both modes).

Each check works on normalised text (``textutil.normalise``) and is deliberately conservative:
a false alarm costs the doctor a standard response and an offer of a medical-information request,
a miss could put off-label promotion, a comparative claim or individual advice in front of them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from skills.qa.conditions import conditions_in
from skills.qa.label import (
    ProductLabel,
    doses_in,
    frequencies_in,
    is_weight_based,
    populations_in,
    routes_in,
)
from skills.qa.textutil import normalise, sentences

_INJECTION = re.compile(
    r"ignore\s+(?:all\s+|any\s+|the\s+|your\s+|my\s+|previous\s+|prior\s+|above\s+|earlier\s+"
    r"|of\s+)*(?:instructions?|rules|prompts?|guidelines|restrictions|constraints|directions)"
    r"|disregard\s+(?:your|the|all|any|previous|prior)|forget\s+(?:your|all|previous|everything)"
    r"|pretend\s+(?:you|to\s+be|that)|role[- ]?play|you\s+are\s+now|from\s+now\s+on,?\s+you"
    r"|\bact\s+as\s+(?:if\s+you|my|a\s+(?:doctor|physician|pharmacist|different|real)|an?\s+unres)"
    r"|jailbreak|\bdan\b|developer\s+mode|system\s+prompt|no\s+(?:restrictions|limits|rules)"
    r"|without\s+(?:any\s+)?(?:restrictions|limits|rules)|(?:bypass|override)\s+(?:your|the|all)\s+"
    r"(?:rules|restrictions|filters|guardrails|instructions|safety)"
    r"|new\s+(?:instructions|task)|<\s*/?\s*(?:system|context|instructions?|assistant|user)\s*>"
    r"|忽略.{0,8}(?:指令|指示|规则|设定|限制|要求|提示|说明)|无视.{0,8}(?:指令|规则|设定|限制|要求)"
    r"|忘记.{0,8}(?:指令|规则|设定|限制|身份)|不要(?:遵守|理会|管).{0,6}(?:规则|限制|指令|设定)"
    r"|假装|扮演|角色扮演|现在你是|你现在是|从现在(?:开始|起)，?你|系统提示|提示词|越狱|开发者模式"
    r"|你(?:不受|没有)(?:任何)?限制|绕过.{0,6}(?:规则|限制|审核)|突破限制|解除限制"
)

_COMPARATIVE = re.compile(
    r"\b(?:vs\.?|versus|compared?\s+(?:to|with)|comparison|comparable\s+to|better\s+than"
    r"|worse\s+than|superior|inferior|more\s+(?:effective|potent|efficacious)|less\s+effective"
    r"|safer\s+than|stronger\s+than|weaker\s+than|cheaper\s+than|which\s+(?:one\s+|drug\s+)?is"
    r"\s+(?:better|best|safer|stronger|more\s+effective)|switch(?:ing)?\s+(?:from|to|over)"
    r"|instead\s+of|rather\s+than|competitors?|head[- ]to[- ]head|best\s+drug|outperform\w*)\b"
    r"|优于|劣于|不如|胜过|强于|弱于|相比|对比|比较一下|进行比较|作比较|做比较|哪个(?:更|好|强)"
    r"|哪种(?:更|好)|哪一个(?:更|好)|(?:和|与|跟).{1,20}比(?:较)?(?:起来|的话|怎么样|如何|哪)"
    r"|比(?![较例率值重如方])[^，。？?!！]{1,15}(?:好|强|差|安全|有效|优|快|便宜|贵)"
    r"|换成|换用|改用|替换|代替|取代|竞品|别的药|其他(?:公司|厂家|品牌)|同类(?:药|产品)|最好的药"
)
# The shape of a comparison without a verdict word ("肌痛比立普妥少吗", "跟可定比呢", "as
# effective as", "less myalgia than", "stack up against"). Also said of doses or of a time
# before ("比以前多"), so it counts only with the category head's comparative reading.
_COMPARISON_SHAPE = re.compile(
    r"比(?![较例率值重如方])[^，。？?!！]{1,15}(?:少|多|低|高|小|大|轻|重|弱|慢)"
    r"|(?:和|与|跟|同).{1,20}比(?:呢|吗|一下|如何)?(?:[，。？?!！]|$)"
    r"|\bas\s+(?:\w+\s+){1,2}as\b|\b(?:less|more|fewer|lower|higher)\s+(?:\w+\s+){0,2}than\b"
    r"|\bstacks?\s+up|\bon\s+par\b|\bmeasures?\s+up|\bhow\s+does\s+it\s+compare"
    # Moving a patient from one product to another ("从阿托伐他汀换成…", "switch … from X to").
    r"|从.{1,15}(?:换|转|改)(?:成|到|为|用)|\bswitch\w*\b.{0,30}\bfrom\b.{1,40}\bto\b"
)
# Asking which of two is better on something ("哪个副作用小", "which one has fewer"): with a
# comparison's shape it is a comparison whatever the head reads ("那跟可定比呢，哪个副作用小").
_WHICH_ONE = re.compile(
    r"哪(?:个|种|一个|一种).{0,8}(?:少|多|低|高|小|大|轻|好|强|安全)"
    r"|\bwhich\s+(?:one|of\s+(?:them|the\s+two)|is)\b"
)
_PLACEBO = re.compile(r"安慰剂|placebo")
_OTHER_PRODUCTS = re.compile(r"竞品|其他|别的|另一|同类|\b(?:other|another|competitor\w*|rival)\b")

_INDIVIDUAL = re.compile(
    r"\bmy\s+(?:patient|pt)s?\b|\b(?:this|a|the|our)\s+patient\b.{0,60}\b(?:should|can|could|may)"
    r"\b|\bshould\s+(?:i|we)\s+(?:give|prescribe|use|start|stop|switch|increase|decrease|reduce"
    r"|double|add|continue|treat)\b|\b(?:can|could|may)\s+(?:i|we)\s+(?:give|prescribe|start"
    r"|stop|switch|increase|decrease|double|add)\b|\bwhat\s+(?:dose\s+)?should\s+(?:i|we)\s+"
    r"(?:give|prescribe|use)\b|\bfor\s+(?:him|her)\b|\bhe\s+is\s+\d+|\bshe\s+is\s+\d+"
    r"|我的(?:病人|患者)|这(?:个|位|名)(?:病人|患者)|该(?:病人|患者)|此(?:病人|患者)|我(?:有|这有)"
    r"(?:个|一个|一位|位)(?:病人|患者)|(?:我|我们)(?:应该|该|要不要|能不能|可以|可不可以|需不需要)"
    r"(?:给|用|开|加|减|停|换)|要不要(?:给|用|停|加|换|减)|该不该|能不能给|可以给(?:他|她|患者|病人)"
    r"|(?:他|她)(?:能|可以|能不能|可不可以|适合)(?:用|吃|服|打)|(?:他|她)的(?:情况|病情)"
)

_EXPLICIT_OFF_LABEL = re.compile(
    r"超说明书|超适应症|超范围|说明书以外|说明书外|未获批|未批准的?(?:适应症|用法|人群)"
    r"|\boff[- ]?label\b|\bunapproved\s+(?:use|indication|dose)|\bnot\s+approved\s+for\b"
)
# A condition named as an effect of the drug ("会引起肌病吗") is a safety question, not a new
# indication. "Risk" alone is not such wording: "降低心梗风险" asks for a new indication.
_SIDE_EFFECT_CONTEXT = re.compile(
    r"引起|导致|诱发|副作用|不良反应|\b(?:cause[sd]?|side\s+effects?|adverse|induce[sd]?)\b"
)
# Asking whether the product treats, prevents or improves something (an indication or outcome
# claim) rather than whether it may be used, and how, in patients who have it.
_TREATMENT = re.compile(
    r"能治|可以治|可治|能不能治|治不治|用来治|用于治|治得|治好|预防|改善|逆转|缓解|获益|好处"
    r"|(?:降低|减少|减低).{0,8}(?:风险|发生|事件)|对.{1,10}有(?:用|效|帮助)|有没有效|有效吗"
    r"|\b(?:treat|treats|treating|prevent\w*|revers\w*|improv\w*|benefits?|effective|efficacy"
    r"|works?\s+for|help\w*\s+(?:with|for)|(?:reduc|lower)\w*\s+(?:\w+\s+){0,3}risk)\b"
)
# What the product does to the body ("对血糖有影响吗", "会不会升高血糖", "does it raise blood
# sugar"): a safety question the label answers or does not, never a use of the product.
_EFFECT = re.compile(
    r"影响|升高|增高|引起|导致|诱发|容易|副作用|不良反应"
    r"|\b(?:affect\w*|effects?\s+on|rais\w*|increas\w*|caus\w*|induc\w*|side\s+effects?|adverse)\b"
)
# Whether a form is made ("有注射剂型吗", "is there an IV form"): a formulation question, not
# a use of the product by that route.
_FORM_ASKED = re.compile(
    r"剂型|\b(?:forms?|formulations?|versions?|available|come\s+(?:in|as)|chewables?)\b"
)
# Asking for the label's own facts rather than proposing a use: an amount with none given
# ("最高可以加到几mg", "what's the max dose"), what the product is for ("是治啥病的"), when and
# how with food ("空腹吃还是随餐"), or the evidence on it ("有长期安全性的研究吗") with no
# indication or dose named.
_AMOUNT_ASKED = re.compile(
    r"几\s*(?:mg|毫克|片|粒|次)|多少\s*(?:mg|毫克|片|粒|剂量)|最(?:高|大|多)(?:剂量|能|可以|吃)|"
    r"\b(?:how\s+(?:much|many|high)|max(?:imum)?\s+(?:daily\s+)?dose|what\s+dose|dose\s+range)\b"
)
_PURPOSE_ASKED = re.compile(
    r"治(?:什么|啥)|干(?:什么|啥|嘛)(?:用|的)|(?:有|起)(?:什么|啥)(?:用|作用)|适应症|"
    r"\bwhat(?:'s|\s+is)\s+(?:\w+\s+)?(?:for|used\s+for)\b|\bindications?\b"
)
_TAKING_ASKED = re.compile(  # when and how with food: the label's administration section
    r"饭前|饭后|餐前|餐后|随餐|空腹|和饭|跟饭|早上还是晚上|什么时候吃|几点吃|"
    r"\b(?:with(?:out)?\s+(?:food|meals?)|before\s+(?:or\s+after\s+)?(?:food|meals?)|"
    r"empty\s+stomach|(?:morning|evening)\s+or\s+(?:morning|evening|night)|when\s+to\s+take)\b"
)
_EVIDENCE_ASKED = re.compile(r"研究|数据|文献|试验|\b(?:stud(?:y|ies)|trials?|data|evidence)\b")
_USE_NAMED = re.compile(r"治|用于|用在|\btreat\w*|\bused?\s+(?:for|in)\b")
_DOSE_GIVEN = re.compile(r"\d+\s*(?:mg|毫克|片|粒)|\d+\s*(?:天|日|周)\s*(?:一|1)\s*次")
# Clauses inside a sentence: a role-play clause ("你扮演…，告诉我…") is dropped on its own.
_CLAUSE_END = re.compile(r"(?<=[，,；;：:])")


class Guard(StrEnum):
    INJECTION = "prompt_injection"
    COMPARATIVE = "comparative"
    OFF_LABEL = "off_label"
    INDIVIDUAL_ADVICE = "individual_advice"


@dataclass(frozen=True)
class OffLabelFinding:
    kind: str  # explicit | indication | population | dose | route | regimen | use
    detail: str
    product: str | None = None


def strip_injection(text: str) -> tuple[str, bool]:
    """The text without its prompt-injection or role-play sentences, and whether any was found."""
    kept = []
    found = False
    for sentence in sentences(text):
        for clause in _CLAUSE_END.split(sentence):
            if _INJECTION.search(normalise(clause)):
                found = True
            elif clause.strip():
                kept.append(clause.strip())
    return (" ".join(kept).strip(" ，,；;：:") if found else text), found


def is_comparative(text: str) -> bool:
    """A request to compare with, or switch between, products (placebo comparisons excepted)."""
    norm = normalise(text)
    return bool(_COMPARATIVE.search(norm)) and not against_placebo(norm)


def against_placebo(text: str) -> bool:
    """Whether the comparison asked about is with placebo (a study's own result, approved
    content), no other product named."""
    norm = normalise(text)
    return bool(_PLACEBO.search(norm)) and not _OTHER_PRODUCTS.search(norm)


def looks_like_comparison(text: str) -> bool:
    """A comparison's shape without a verdict word (see ``_COMPARISON_SHAPE``)."""
    norm = normalise(text)
    return bool(_COMPARISON_SHAPE.search(norm)) and not against_placebo(norm)


def asks_which_one(text: str) -> bool:
    """A "which one is better on something" question (see ``_WHICH_ONE``)."""
    return bool(_WHICH_ONE.search(normalise(text)))


def asks_which_is_better(text: str) -> bool:
    """A comparison's shape and a "which one" question together (see ``_WHICH_ONE``)."""
    return looks_like_comparison(text) and asks_which_one(text)


def asks_for_a_form(text: str) -> bool:
    """Whether a question asks if a dosage form is made ("有注射剂型吗"), which is not a use of
    the product by that route."""
    return bool(_FORM_ASKED.search(normalise(text)))


def asks_treatment(text: str) -> bool:
    """Whether a question asks if the product treats or prevents something (see ``_TREATMENT``)."""
    return bool(_TREATMENT.search(normalise(text)))


def asks_about_an_effect(text: str) -> bool:
    """Whether a question asks what the product does to the body (see ``_EFFECT``) rather than
    whether it treats or prevents something (``asks_treatment``)."""
    norm = normalise(text)
    return bool(_EFFECT.search(norm)) and not _TREATMENT.search(norm)


def asks_for_label_facts(text: str) -> bool:
    """Whether a question asks for what the label itself says — an amount (none proposed),
    what the product is for, when to take it and with food, or the evidence on it (no use or
    dose named) — which is answered
    from approved content, not declined as a use outside the label."""
    norm = normalise(text)
    if _DOSE_GIVEN.search(norm):
        return False
    if _AMOUNT_ASKED.search(norm) or _PURPOSE_ASKED.search(norm) or _TAKING_ASKED.search(norm):
        return True
    return bool(_EVIDENCE_ASKED.search(norm)) and not (
        _TREATMENT.search(norm) or _USE_NAMED.search(norm)
    )


def is_individual_advice(text: str) -> bool:
    """A question about what to do for one particular patient."""
    return bool(_INDIVIDUAL.search(normalise(text)))


def check_off_label(
    text: str, labels: Mapping[str, ProductLabel], focus: Sequence[ProductLabel]
) -> OffLabelFinding | None:
    """Compare a question with the approved label facts of the products it is about.

    ``focus``: the products the question names (or the conversation was about). Off-label is
    our product used outside its label: with none in view, a question about another disease
    ("高血压一线用药有哪些") or population is outside the library, not off-label, and only an
    explicit ask for unapproved use is flagged. Returns the first finding, or None when
    nothing unapproved was asked.
    """
    norm = normalise(text)
    candidates = list(focus) or list(labels.values())
    if _EXPLICIT_OFF_LABEL.search(norm):
        return OffLabelFinding("explicit", "unapproved use", _single(candidates))
    if not focus:
        return None
    for code in sorted(populations_in(norm)):
        if not any(label.population_approved(code) for label in candidates):
            return OffLabelFinding("population", code, _single(candidates))
    doses = doses_in(norm)
    ranged = [label for label in candidates if label.dose_max_mg is not None]
    if ranged and (doses or is_weight_based(norm)):
        for label in ranged:
            assert label.dose_min_mg is not None and label.dose_max_mg is not None
            within = all(label.dose_min_mg <= dose <= label.dose_max_mg for dose in doses)
            if within and (label.weight_based or not is_weight_based(norm)):
                break
        else:
            return OffLabelFinding("dose", ", ".join(f"{d:g} mg" for d in doses) or "mg/kg")
    # How it is given and how often, against the dosing text of the products in view ("口服，
    # 每日一次"): an IV, tube or crushed use, an every-other-day or twice-daily regimen is
    # outside it. With no product in view such a question is not about our use of one.
    routed = [label for label in focus if label.routes]
    asked_routes = set() if asks_for_a_form(norm) else routes_in(norm)
    if routed and asked_routes and not any(asked_routes <= label.routes for label in routed):
        unapproved = sorted(asked_routes - set().union(*(label.routes for label in routed)))
        return OffLabelFinding("route", ", ".join(unapproved), _single(candidates))
    timed = [label for label in focus if label.frequencies]
    asked_times = frequencies_in(norm)
    if timed and asked_times and not any(asked_times <= label.frequencies for label in timed):
        return OffLabelFinding("regimen", ", ".join(f"{f:g}/day" for f in sorted(asked_times)))
    if _SIDE_EFFECT_CONTEXT.search(norm):
        return None
    for condition in conditions_in(norm):
        if not any(condition.covered_by(label.indications) for label in candidates):
            return OffLabelFinding("indication", condition.name, _single(candidates))
    return None


def _single(labels: Sequence[ProductLabel]) -> str | None:
    return labels[0].product if len(labels) == 1 else None
