"""Voice notes, photos and files from doctors, end to end: the encrypted kf callback, the fake
WeCom API's media/get, the full app, a fake transcription endpoint at the network boundary,
real offline OCR — and what the doctor saw, what PV's case keeps, what the store holds.

Speech is made by espeak-ng (AMR by sox, SILK by pysilk), images by Pillow with a CJK font.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.keys import RECORDS, STORAGE
from bot.masking import mask_strings
from bot.wecom.simulator import INVALID_MEDIA_ID, FakeWeComServer
from media.audio import AudioError, to_pcm16k
from media.ocr import image_text
from media.sniff import MediaType, sniff
from media.spacing import respace
from media.store import MediaStore
from skills.adverse_events.cases import AECase
from skills.adverse_events.delivery import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from skills.adverse_events.e2b import narrative
from tests.fake_asr import FakeAsr, Heard, running_fake_asr
from tests.helpers import audit_trail
from tests.local_http import serving
from tests.media_files import (
    rash_photo,
    speech_amr,
    speech_silk,
    speech_wav,
    text_image,
    wav_seconds,
)
from tests.test_handoff_wecom import kf_texts
from tests.test_wecom_app import Bot, running_bots, until
from tests.wecom_harness import OPEN_KFID

DOCTOR = "wmDOCTORMEDIA1"
SPOKEN = "患者服用诺拉维后出现皮疹，已住院"
REPORT = "患者ZS，45岁男性，服用诺拉维后出现皮疹，已住院，目前好转"


@pytest.fixture
async def asr() -> AsyncIterator[FakeAsr]:
    async with running_fake_asr() as fake:
        yield fake


async def _replies(api: FakeWeComServer, bot: Bot, doctor_acts: Awaitable[object]) -> list[str]:
    """What the bot sent back on kf after the doctor's action."""
    before = len(api.kf_sent)
    await doctor_acts
    await until(lambda: len(api.kf_sent) > before)
    await bot.drained()
    return kf_texts(api)[before:]


async def _send(
    api: FakeWeComServer, bot: Bot, msgtype: str, filename: str, content: bytes
) -> list[str]:
    """The doctor sends a voice note, image or file on kf."""
    return await _replies(
        api, bot, bot.sim.doctor_sends(OPEN_KFID, DOCTOR, msgtype, filename, content)
    )


async def _say(api: FakeWeComServer, bot: Bot, text: str) -> list[str]:
    return await _replies(api, bot, bot.sim.doctor_says(OPEN_KFID, DOCTOR, text))


async def _audit(bot: Bot) -> list[dict[str, Any]]:
    """The message records of the audit trail, read from the system of record once the audit
    sink has moved everything there (it acknowledges and trims the storage stream)."""
    return await audit_trail(bot.app[RECORDS], bot.app[STORAGE], "message")


def test_types_come_from_the_bytes_and_the_store_keeps_each_original_once(tmp_path: Path) -> None:
    amr, png = speech_amr(SPOKEN), text_image("化验单")
    assert (sniff(amr), sniff(png), sniff(b"%PDF-1.7\n"), sniff(b"hello")) == (
        MediaType.AMR, MediaType.PNG, MediaType.PDF, None,
    )  # fmt: skip
    store = MediaStore(tmp_path / "media")
    first, again = store.put(amr, MediaType.AMR), store.put(amr, MediaType.AMR)
    assert first == again and first.ref.endswith(".amr") and store.read(first.ref) == amr
    assert [p.name for p in (tmp_path / "media").iterdir()] == [first.ref]  # no temp files
    assert store.put(b"hello", None).ref.endswith(".bin")
    refs = [store.put(bytes([n]) * 3, MediaType.PNG).ref for n in range(200)]
    assert mask_strings(refs) == refs  # identifier masking never touches a ref
    with pytest.raises(ValueError):
        store.path("../state.sqlite3")


def test_amr_and_silk_voice_notes_become_16_khz_pcm_and_corrupt_audio_is_refused() -> None:
    for text, voice in ((SPOKEN, "zh"), ("My patient has a rash after taking Noravex", "en")):
        spoken = wav_seconds(speech_wav(text, voice))
        for note, kind in (
            (speech_amr(text, voice), MediaType.AMR),
            (speech_silk(text, voice), MediaType.SILK),
        ):
            pcm = to_pcm16k(note, kind, timeout_s=30)
            assert abs(len(pcm) / 32_000 - spoken) < 0.3, (kind, voice)
    with pytest.raises(AudioError):
        to_pcm16k(b"#!AMR\n" + bytes(range(256)) * 4, MediaType.AMR, timeout_s=30)


EN_REPORT = (
    "Laboratory report",
    "Nausea and dizziness on day three",
    "Patient developed rash after the first dose",
    "Prescription: Noravex twice daily",
)


def test_english_ocr_puts_dropped_spaces_back_and_leaves_unlisted_words_whole() -> None:
    read = image_text(text_image(*EN_REPORT, fmt="JPEG")).split("\n")  # PP-OCR drops some spaces
    assert read == list(EN_REPORT)
    assert (
        respace("patientdevelopedrash, itchingand hives")
        == "patient developed rash, itching and hives"
    )
    assert respace("ALTraised to180U/L afterNoravex") == "ALT raised to 180U/L after Noravex"
    assert (
        respace("ALT 180 U/L,creatinine 95 umol/L at 10:30")
        == "ALT 180 U/L, creatinine 95 umol/L at 10:30"
    )
    whole = (
        "Noravex Heparin hepatotoxicity thrombocytopenia Antihypertensive Indwelling "
        "formalin NovoRapid HbA1c mRNA COVID19 诺拉维"
    )
    assert respace(whole) == whole  # drugs and terms the word list lacks are not cut up


async def test_an_ae_in_a_voice_note_is_echoed_screened_and_the_case_keeps_the_note(
    tmp_path: Path, asr: FakeAsr
) -> None:
    asr.push(Heard(status=503), Heard(REPORT))  # the endpoint is busy once: retried
    settings = {"asr_base_url": asr.base_url, "asr_api_key": "asr-key", "asr_model": "sensevoice"}
    async with running_bots(tmp_path, **settings) as (api, (bot,)):
        note = speech_amr(SPOKEN)
        texts = await _send(api, bot, "voice", "voice.amr", note)
        assert texts[0] == f"您说的是：“{REPORT}”"
        assert "什么时候" in texts[-1]  # the report form asks for the onset
        assert len(asr.received) == 2
        heard = asr.received[-1]
        channels, width, rate, seconds = heard.wav()
        assert (channels, width, rate) == (1, 2, 16_000)
        assert abs(seconds - wav_seconds(speech_wav(SPOKEN, "zh"))) < 0.3
        assert heard.fields["model"] == "sensevoice" and heard.authorization == "Bearer asr-key"
        (record,) = await _audit(bot)
        media = record["annotations"]["audit_media"]
        assert media["kind"] == "voice" and media["type"] == "audio/amr"
        assert (tmp_path / "data0" / "media" / media["ref"]).read_bytes() == note
        case = await bot.app[STORAGE].get_json(f"ae:case:{record['annotations']['audit_ae_case']}")
        assert case["sources"][0]["media"] == media["ref"]
        assert "皮疹" in case["sources"][0]["text"]
        assert f"[media {media['ref']}]" in narrative(AECase.model_validate(case))  # E2B H.1


async def test_an_ae_in_a_photo_of_a_lab_report_is_read_offline_and_screened(
    tmp_path: Path,
) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        photo = text_image("化验单 Lab report", SPOKEN, fmt="JPEG")
        texts = await _send(api, bot, "image", "photo.jpg", photo)
        assert not any(text.startswith("您说的是") for text in texts)
        assert any("不良事件" in text and "已记录" in text for text in texts)
        (record,) = await _audit(bot)
        assert record["annotations"]["audit_media"]["type"] == "image/jpeg"
        assert record["annotations"]["audit_ae_case"]
        assert "皮疹" in record["text"]  # the OCR'd text is what was screened and audited


async def test_without_a_speech_recogniser_the_bot_asks_to_type_and_keeps_the_note(
    tmp_path: Path,
) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        note = speech_amr(SPOKEN)
        (text,) = await _send(api, bot, "voice", "voice.amr", note)
        assert "不能听语音" in text and "文字" in text
        (record,) = await _audit(bot)
        ref = record["annotations"]["audit_media"]["ref"]
        assert (tmp_path / "data0" / "media" / ref).read_bytes() == note


async def test_bad_media_each_get_a_clear_reply_and_the_conversation_goes_on(
    tmp_path: Path, asr: FakeAsr
) -> None:
    settings = {
        "asr_base_url": asr.base_url,
        "media_max_bytes": 64 * 1024,
        "media_timeout_s": 5.0,
        "media_refetch_within_h": 0.0001,  # ids "expire" at once: an outage is not waited out
    }
    async with running_bots(tmp_path, **settings) as (api, (bot,)):
        # A "voice note" that is really a JPEG, and a file that is a renamed executable.
        (lying,) = await _send(api, bot, "voice", "voice.amr", text_image("x", fmt="JPEG"))
        (unknown,) = await _send(api, bot, "file", "report.pdf", b"\x7fELF" + bytes(600))
        # Corrupt AMR, and a transcription endpoint that keeps failing.
        (corrupt,) = await _send(api, bot, "voice", "v.amr", b"#!AMR\n" + bytes(range(256)) * 4)
        asr.push(Heard(status=500), Heard(status=500), Heard(status=500))
        (failing,) = await _send(api, bot, "voice", "v.amr", speech_amr("你好"))
        asr.push(Heard(hang=True))  # no answer: the media timeout (5 s) ends the wait
        (slow,) = await _send(api, bot, "voice", "v2.amr", speech_amr("谢谢"))
        # Too large, and a media id WeCom does not know (expired).
        (large,) = await _send(api, bot, "image", "big.png", b"\x89PNG\r\n\x1a\n" + bytes(70_000))
        api.queue_customer_message(OPEN_KFID, DOCTOR, "image", {"media_id": "expired-id"})
        (expired,) = await _replies(api, bot, bot.sim.kf_notify(OPEN_KFID))
        assert "无法读取" in lying and "无法读取" in unknown and "无法读取" in corrupt
        assert "暂时无法识别" in failing and "暂时无法识别" in slow
        api.fail_http_next("/cgi-bin/media/get", 502, times=4)  # WeCom out past the media id
        (outage,) = await _send(api, bot, "image", "scan.png", text_image("化验单"))
        assert "太大" in large and "过期" in expired and "多次尝试仍没能取到" in outage
        assert [c.errcode for c in api.calls_to("/cgi-bin/media/get")][-5] == INVALID_MEDIA_ID
        audited = [r["annotations"]["audit_media"] for r in await _audit(bot)]
        assert audited[-2]["media_id"] == "expired-id" and "expired" in audited[-2]["outcome"]
        assert "ref" not in audited[-2] and all("outcome" in entry for entry in audited)
        assert await bot.app[STORAGE].scheduled("media-refetch") == []
        stored = {p.read_bytes()[:4] for p in (tmp_path / "data0" / "media").iterdir()}
        assert {b"\xff\xd8\xff\xe0"[:4], b"\x7fELF", b"#!AM"} <= stored  # originals kept
        # The conversation goes on: a question by voice is shown back and goes to Q&A.
        asr.push(Heard("诺拉维一天吃几次？"))
        asked = await _send(api, bot, "voice", "q.amr", speech_amr("诺拉维一天吃几次"))
        assert asked[0] == "您说的是：“诺拉维一天吃几次？”" and len(asked) >= 2
        question = (await _audit(bot))[-1]
        assert question["skill"] == "qa" and question["text"] == "诺拉维一天吃几次？"


async def test_media_get_is_retried_through_5xx_and_busy_answers(tmp_path: Path) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        api.fail_http_next("/cgi-bin/media/get", 502)
        api.fail_next("/cgi-bin/media/get", -1)
        texts = await _send(api, bot, "file", "scan.png", text_image("化验单", SPOKEN))
        assert any("不良事件" in text and "已记录" in text for text in texts)
        assert [c.errcode for c in api.calls_to("/cgi-bin/media/get")] == [502, -1, 0]


async def test_media_wecom_could_not_hand_over_is_fetched_again_and_screened_as_of_its_arrival(
    tmp_path: Path, asr: FakeAsr
) -> None:
    settings = {"asr_base_url": asr.base_url, "media_refetch_backoff_s": 0.3}
    async with running_bots(tmp_path, **settings) as (api, (bot,)):
        api.fail_http_next("/cgi-bin/media/get", 502, times=8)  # every try of two fetches
        msgid, _ = await bot.sim.doctor_sends(
            OPEN_KFID, DOCTOR, "voice", "v.amr", speech_amr(SPOKEN)
        )
        await until(lambda: len(api.kf_sent) > 0)
        (told,) = kf_texts(api)
        assert "稍后自动再取" in told and "无需重新发送" in told  # said once, not per attempt
        asr.push(Heard(REPORT))
        await until(lambda: len(kf_texts(api)) >= 3)  # the third fetch gets the note
        await bot.drained()
        later = kf_texts(api)[1:]
        assert later[0] == f"您说的是：“{REPORT}”" and "什么时候" in later[-1], later
        fetched = [call.errcode for call in api.calls_to("/cgi-bin/media/get")]
        assert fetched == [502] * 8 + [0]
        first, second, third = [r["annotations"]["audit_media"] for r in await _audit(bot)]
        assert "fetch it again" in first["outcome"] and "later" in second["outcome"]
        assert (first["refetch_attempt"], second["refetch_attempt"], "outcome" in third) == (
            0, 1, False,
        )  # fmt: skip
        case_id = (await _audit(bot))[-1]["annotations"]["audit_ae_case"]
        case = AECase.model_validate(await bot.app[STORAGE].get_json(f"ae:case:{case_id}"))
        assert case.sources[0].message_id == f"{msgid}:refetch2"  # the arrival is its day 0
        assert case.sources[0].media == third["ref"]
        assert case.day0 == case.sources[0].received_at < case.opened_at


async def test_a_photo_without_text_during_a_report_is_attached_and_the_form_goes_on(
    tmp_path: Path,
) -> None:
    async with running_bots(tmp_path) as (api, (bot,)):
        assert "什么时候" in (await _say(api, bot, REPORT))[-1]
        attached = await _send(api, bot, "image", "rash.jpg", rash_photo())
        assert "已附在" in attached[-1] and "报告" in attached[-1], attached
        assert "其他药物" in (await _say(api, bot, "3天前"))[-1]  # the form went on
        photo = next(r for r in await _audit(bot) if "audit_media" in r["annotations"])
        case_id = photo["annotations"]["audit_ae_case"]
        case = await bot.app[STORAGE].get_json(f"ae:case:{case_id}")
        media = [source["media"] for source in case["sources"] if source.get("media")]
        assert media == [photo["annotations"]["audit_media"]["ref"]]


async def test_in_human_mode_a_photographed_ae_reaches_pv_and_the_bot_stays_silent(
    tmp_path: Path,
) -> None:
    webhook: list[tuple[dict[str, str], bytes]] = []

    async def pv_endpoint(request: web.Request) -> web.Response:
        webhook.append((dict(request.headers), await request.read()))
        return web.json_response({"ok": True})

    pv = web.Application()
    pv.router.add_post("/pv", pv_endpoint)
    async with (
        serving(pv) as pv_base,
        running_bots(tmp_path, pv_webhook_url=f"{pv_base}/pv", pv_webhook_secret="pv-secret") as (
            api,
            (bot,),
        ),
    ):
        await _say(api, bot, "你好")
        api.servicer_takes_over(OPEN_KFID, DOCTOR, "rep_zhang")  # in WeCom's workbench
        await bot.sim.kf_notify(OPEN_KFID)
        await bot.drained()

        def to_pv() -> list[dict[str, Any]]:
            return [body for body in api.app_sent if body["touser"] == "pv_officer"]

        sent, before, photo_bytes = len(api.kf_sent), len(to_pv()), text_image(SPOKEN)
        await bot.sim.doctor_sends(OPEN_KFID, DOCTOR, "image", "lab.jpg", photo_bytes)
        await until(lambda: len(to_pv()) > before and bool(webhook))
        await bot.drained()
        assert len(api.kf_sent) == sent  # the rep has the session: the bot says nothing
        photo = next(r for r in await _audit(bot) if "audit_media" in r["annotations"])
        ref = photo["annotations"]["audit_media"]["ref"]
        assert photo["annotations"]["audit_ae_case"]
        card = next(body["template_card"] for body in to_pv() if "template_card" in body)
        fields = {row["keyname"]: row["value"] for row in card["horizontal_content_list"]}
        assert fields["附件 Media"] == "1: " + ref[:12]
        # The webhook carries the photo itself, inside the signed body.
        headers, body = webhook[0]
        assert headers[SIGNATURE_HEADER] == sign(b"pv-secret", headers[TIMESTAMP_HEADER], body)
        (attachment,) = json.loads(body)["attachments"]
        assert attachment["ref"] == ref
        assert base64.b64decode(attachment["content_base64"]) == photo_bytes


async def test_a_reps_voice_note_to_the_app_is_transcribed_and_answered(
    tmp_path: Path, asr: FakeAsr
) -> None:
    asr.push(Heard("你好"))
    async with running_bots(tmp_path, asr_base_url=asr.base_url) as (api, (bot,)):
        await bot.sim.rep_sends("rep_zhang", "voice", "v.amr", speech_amr("你好"))
        await until(lambda: len(api.app_sent) >= 2)
        await bot.drained()
        assert api.app_sent[0]["text"]["content"] == "您说的是：“你好”"
        assert all(body["touser"] == "rep_zhang" for body in api.app_sent)
        (record,) = await _audit(bot)
        assert (
            record["channel"] == "app" and record["annotations"]["audit_media"]["kind"] == "voice"
        )
