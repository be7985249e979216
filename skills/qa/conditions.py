"""A small bilingual lexicon of conditions a product could be asked about as an indication.

The off-label guardrail finds the conditions a question names and checks that an approved
indication covers each one. Entries are diseases that are treatment targets, not symptoms or
side effects (a question about a side effect is a label question, not an indication question).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    name: str
    pattern: re.Pattern[str]
    # The organ impairment a label's dosing or safety section speaks of for this condition
    # ("肾功能不全" for CKD): such a section answers a question about using the product in it.
    impairment: re.Pattern[str] | None = None

    def covered_by(self, indications: Iterable[str]) -> bool:
        """True when an approved indication phrase names this condition."""
        return any(self.pattern.search(indication) for indication in indications)


def _c(name: str, pattern: str, impairment: str | None = None) -> Condition:
    return Condition(name, re.compile(pattern), re.compile(impairment) if impairment else None)


_RENAL = r"肾功能|肾损|肾不全|\b(?:renal|kidney|crcl|egfr|dialysis)\b|肌酐清除率|透析"
_HEPATIC = r"肝功能|肝损|肝不全|\b(?:hepatic|liver|child[- ]?pugh)\b"


# Specific entries come before the broader ones they refine; ``conditions_in`` drops a broader
# match when a more specific one was found in the same place.
CONDITIONS: tuple[Condition, ...] = (
    _c("type 1 diabetes", r"1\s*型糖尿病|type\s*(?:1|i)\s+diabet\w*|\bt1dm?\b"),
    _c("type 2 diabetes", r"2\s*型糖尿病|type\s*(?:2|ii)\s+diabet\w*|\bt2dm?\b"),
    _c("gestational diabetes", r"妊娠(?:期)?糖尿病|gestational\s+diabet\w*"),
    _c("diabetes", r"糖尿病|diabet\w*"),
    _c("pulmonary hypertension", r"肺动脉高压|肺高压|pulmonary\s+(?:arterial\s+)?hypertension"),
    _c("hypertension", r"高血压|hypertensi\w*"),
    # Homozygous familial hypercholesterolaemia is its own indication: a label for the
    # heterozygous form does not cover it.
    _c(
        "homozygous familial hypercholesterolaemia",
        r"纯合子|纯合型|homozygous|\bhofh\b",
    ),
    _c(
        "hyperlipidaemia",
        r"高血脂|高脂血症|血脂异常|高胆固醇|hyperlipid\w*|dyslipid\w*"
        r"|hypercholesterol\w*",
    ),
    _c("heart failure", r"心力衰竭|心衰|heart\s+failure"),
    _c("atrial fibrillation", r"房颤|心房颤动|atrial\s+fibrillation"),
    _c(
        "coronary disease",
        r"冠心病|心绞痛|心肌梗死|心梗|coronary|angina|myocardial\s+infarction|heart\s+attacks?"
        r"|\bn?stemi\b|\bacs\b"
        # "MI" is also this bot's medical information ("submit an MI request").
        r"|(?<!an )\bmi\b(?!\s*(?:requests?|forms?|team|dep\w*|colleagues?|quer\w*|enquir\w*))",
    ),
    _c(
        "cardiovascular events",
        r"心血管事件|心血管死亡|major\s+adverse\s+cardiac|\bmace\b|cardiovascular\s+(?:events?|death)",
    ),
    _c("stroke", r"脑卒中|中风|脑梗|卒中|stroke"),
    _c("thrombosis", r"血栓|thrombo\w*|embolism"),
    _c("asthma", r"哮喘|asthma"),
    _c("copd", r"慢阻肺|慢性阻塞性肺|\bcopd\b"),
    _c("pneumonia", r"肺炎|pneumonia"),
    _c("influenza", r"流感|influenza|\bflu\b"),
    _c("covid-19", r"新冠|covid"),
    _c("tuberculosis", r"结核|tuberculosis"),
    _c(
        "fatty liver disease",
        r"脂肪肝|脂肪性肝|\b(?:nafld|nash|masld|mash)\b|fatty\s+liver|steatohepatitis",
        _HEPATIC,
    ),
    _c("sepsis", r"脓毒症|脓毒血症|败血症|\bseps[ie]s\b|\bseptic\b"),
    _c("hepatitis b", r"乙肝|乙型肝炎|hepatitis\s+b\b|\bhbv\b"),
    _c("hepatitis c", r"丙肝|丙型肝炎|hepatitis\s+c\b|\bhcv\b"),
    _c("hiv", r"艾滋|\bhiv\b|\baids\b"),
    _c("urinary tract infection", r"尿路感染|泌尿系感染|urinary\s+tract\s+infection|\buti\b"),
    _c("rheumatoid arthritis", r"类风湿|rheumatoid"),
    _c("osteoarthritis", r"骨关节炎|osteoarthritis"),
    _c("gout", r"痛风|\bgout\b"),
    _c("osteoporosis", r"骨质疏松|osteoporo\w*"),
    _c("psoriasis", r"银屑病|牛皮癣|psoria\w*"),
    _c("atopic dermatitis", r"特应性皮炎|湿疹|atopic\s+dermatitis|eczema"),
    _c("acne", r"痤疮|\bacne\b"),
    _c("lupus", r"红斑狼疮|\blupus\b|\bsle\b"),
    _c("crohn's disease", r"克罗恩|crohn"),
    _c("ulcerative colitis", r"溃疡性结肠炎|ulcerative\s+colitis"),
    _c("gastro-oesophageal reflux", r"反流|胃食管|\bgerd\b|reflux"),
    _c("peptic ulcer", r"胃溃疡|十二指肠溃疡|消化性溃疡|peptic\s+ulcer"),
    _c("migraine", r"偏头痛|migraine"),
    _c("epilepsy", r"癫痫|epilep\w*|seizure\s+disorder"),
    _c("depression", r"抑郁|depressi\w*"),
    _c("anxiety disorder", r"焦虑症|焦虑障碍|anxiety\s+disorder"),
    _c("schizophrenia", r"精神分裂|schizophreni\w*"),
    _c("bipolar disorder", r"双相|躁郁|bipolar"),
    _c("insomnia", r"失眠|insomnia"),
    _c("adhd", r"多动症|注意缺陷|\badhd\b"),
    _c("alzheimer's disease", r"阿尔茨海默|老年痴呆|alzheimer|dementia|痴呆"),
    _c("parkinson's disease", r"帕金森|parkinson"),
    _c("multiple sclerosis", r"多发性硬化|multiple\s+sclerosis"),
    _c("obesity", r"肥胖|减肥|obes\w*|weight\s+loss"),
    _c(
        "chronic kidney disease",
        r"慢性肾病|慢性肾脏病|\bckd\b|chronic\s+kidney\s+disease",
        _RENAL,
    ),
    _c("hypothyroidism", r"甲减|甲状腺功能减退|hypothyroid\w*"),
    _c("hyperthyroidism", r"甲亢|甲状腺功能亢进|hyperthyroid\w*"),
    _c("anaemia", r"贫血|an(?:a)?emia"),
    _c("erectile dysfunction", r"勃起功能障碍|阳痿|erectile"),
    _c("lung cancer", r"肺癌|lung\s+cancer|\bnsclc\b"),
    _c("breast cancer", r"乳腺癌|breast\s+cancer"),
    _c("colorectal cancer", r"结直肠癌|结肠癌|直肠癌|colorectal\s+cancer|colon\s+cancer"),
    _c("gastric cancer", r"胃癌|gastric\s+cancer|stomach\s+cancer"),
    _c("liver cancer", r"肝癌|hepatocellular|liver\s+cancer"),
    _c("prostate cancer", r"前列腺癌|prostate\s+cancer"),
    _c("lymphoma", r"淋巴瘤|lymphoma"),
    _c("leukaemia", r"白血病|leuk(?:a)?emia"),
    _c("cancer", r"癌症|肿瘤|cancer|tumou?r|oncolog\w*"),
)


def conditions_in(text: str) -> list[Condition]:
    """Conditions a normalised text names; a broader name inside a specific one is not repeated.

    E.g. "2型糖尿病" yields only "type 2 diabetes", not also "diabetes".
    """
    found: list[Condition] = []
    covered: list[tuple[int, int]] = []
    for condition in CONDITIONS:
        for match in condition.pattern.finditer(text):
            span = match.span()
            if any(start <= span[0] and span[1] <= end for start, end in covered):
                continue
            covered.append(span)
            if condition not in found:
                found.append(condition)
    return found
