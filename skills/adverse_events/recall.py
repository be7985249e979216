"""English recall rules: shapes of an adverse drug reaction the classifier may score low.

The classifier ranks English case-report and forum sentences by what our training sentences
taught it; a report phrased in a shape it saw rarely ("Bleomycin lung in a patient with
testicular cancer.", "Fever and rash developed during carbamazepine therapy.", "This med gave me
terrible brain zaps") can score below the candidate threshold. PV practice for a digital
channel is "when in doubt, ask", so these rules make such a sentence a *candidate*: the doctor
is asked once whether it happened to a patient. They never open a case by themselves.

Two shapes, both written by hand for this project from pharmacovigilance knowledge (how case
reports and patients state a suspected reaction; INN naming stems via ``causality.DRUG``),
and checked against this project's own non-reports; no evaluation-corpus sentence was read:

* **A drug named as the cause of an event** (``drug_caused_event``), case-report English: a
  named drug (an INN stem, a common generic, a class such as "chemotherapy" or "ACE
  inhibitor" — not "treatment" or "the drug") tied to an event by a causal link: "X-induced
  Y", "X toxicity", "X lung", "Y secondary to / due to / attributed to X", "Y after / during
  / while on X", "developed Y … X", "X was stopped because of Y", a rechallenge. A sentence
  that only says the drug helped or was given ("treated with X", "responded to X") or names
  another cause ("due to an infection") is not one.
* **A patient telling of a symptom they put down to a medicine** (``told_a_reaction``),
  first-person forum English: the writer (or "it", "this med") and a symptom in a patient's
  words ("made me so tired", "I've gained 20 lbs", "brain zaps", "couldn't sleep"), told as
  a fact — not asked, supposed or denied.
"""

from __future__ import annotations

import bisect
import re

from skills.adverse_events.causality import BENEFIT, DRUG, EVENT, NON_DRUG_CAUSE
from skills.adverse_events.cues import (
    HYPOTHETICAL,
    NEGATION,
    detect_language,
    normalize,
    register,
)

__all__ = ["EVIDENCE_PREFIX", "drug_caused_event", "recall_shape", "told_a_reaction"]

# Words ``causality.DRUG`` counts as drug-like that name no drug in particular: a sentence
# about "the treatment" or "the dose" names no suspect.
_GENERIC = re.compile(
    r"(?:drugs?|medications?|medicines?|therapy|treatment|regimen|agents?|tablets?|capsules?|"
    r"injections?|infusions?|doses?|dosing|prophylaxis|pills?|supplement|generic|drops|vials?|"
    r"patch(?:es)?|inhalers?|syrups?|creams?|ointments?|suppositor\w*|extracts?|vitamins?|"
    r"hormones?|iron|gold|potassium|magnesium|dopamine|[a-z]{2,4}-?\d{3,}|"
    # common words that end like a drug stem
    r"except|accept|concept|intercept|database|outside|inside|beside|decide|provide|"
    r"override|guide|worldwide|nationwide|herein|within|unless|fibrosis)"
)
# Common brand names (lower case), which no INN stem marks: psychiatric, cardiovascular,
# pain, diabetes, oncology and anti-infective products that patients and case reports name.
_BRANDS = re.compile(
    r"\b(?:zoloft|lexapro|prozac|paxil|celexa|effexor|pristiq|cymbalta|wellbutrin|remeron|"
    r"trintellix|viibryd|seroquel|abilify|zyprexa|risperdal|latuda|geodon|invega|clozaril|"
    r"lamictal|depakote|tegretol|trileptal|keppra|topamax|neurontin|lyrica|dilantin|"
    r"xanax|klonopin|ativan|valium|ambien|lunesta|adderall|ritalin|concerta|vyvanse|strattera|"
    r"lithobid|buspar|lipitor|crestor|zocor|pravachol|coumadin|eliquis|xarelto|pradaxa|"
    r"plavix|brilinta|lasix|norvasc|toprol|lopressor|synthroid|glucophage|januvia|jardiance|"
    r"farxiga|invokana|ozempic|victoza|trulicity|avandia|actos|lantus|humalog|vioxx|celebrex|"
    r"tylenol|advil|motrin|aleve|ultram|percocet|vicodin|oxycontin|suboxone|accutane|"
    r"humira|remicade|enbrel|rituxan|herceptin|avastin|gleevec|keytruda|opdivo|yervoy|"
    r"prolia|fosamax|boniva|singulair|zithromax|cipro|levaquin|bactrim|augmentin|keflex|"
    r"flagyl|diflucan|valtrex|tamiflu|zantac|nexium|prilosec|protonix|imitrex|botox|"
    r"chantix|propecia|viagra|cialis|yaz|yasmin|mirena|depo-provera|nuvaring|premarin|"
    r"prednisone|medrol|benadryl|phenergan|zofran|reglan|noravex|noravir)\b"
)
# Event words beyond ``causality.EVENT`` that case reports use for a reaction.
_MORE_EVENTS = re.compile(
    r"\b(?:\w+lysis|\w+penia|\w+emia|\w+aemia|\w+toxic\w*|lesions?|erythema|purpura|"
    r"disturbances?|abnormalit\w+|parkinsonism|akathisia|priapism|gynaecomastia|gynecomastia|"
    r"malformations?|anomal\w+|defects?|emesis|complications?|hemolytic|haemolytic|"
    r"aplastic|neuropath\w*|dress|sjs|nms|qt|qtc|deposits?|pigmentation|discolou?ration|"
    r"hearing|visual|vision|hallucinations?|palpitations|syncope|collapse|dizziness|"
    r"somnolence|drowsiness|agitation|mania|manic|insomnia|headache|myalgia|arthralgia|"
    r"blisters?|bullae|bullous|pustul\w+|desquamation|exfoliat\w+|shock|apnea|apnoea|"
    r"hypoxia|cyanosis|edematous|icterus|cholesta\w+|overdose|intoxication|poisoning|falling|"
    r"rising|declining|drop|fall|rise)\b"
)
# Words that follow a drug's name to name what it did ("bleomycin lung", "lithium toxicity",
# "amiodarone pneumonitis" — EVENT words are counted too).
_HARM_NOUN = re.compile(
    r"(?:toxicity|poisoning|intoxication|overdose|hypersensitivity|allergy|lung|liver|"
    r"hepatotoxicity|nephrotoxicity|ototoxicity|cardiotoxicity|neurotoxicity|embryopathy|"
    r"syndrome|reaction|rash|fever|eruption|injury)"
)
# "X-induced Y": the compound case reports favour.
_COMPOUND = re.compile(
    r"\b([a-z][\w-]*?)-(?:induced|associated|related|provoked|triggered|attributed|caused)\b"
)
# A connective that names a cause outright, in either direction ("induced by X", "X caused").
_CAUSE = re.compile(
    r"\b(?:induced|caused|causing|provoked|triggered|precipitated|attributed|attributable|"
    r"secondary to|due to|owing to|because of|resulting from|associated with|related to|"
    r"linked to|traced to|implicated|toxicity|side[- ]effects?|adverse|hypersensitivity|"
    r"produced|resulted in|led to|leading to|potentiated|preceded|followed(?! up)|from|"
    r"rechallenge|re-?challenged|dechallenge|re-?exposure|re-?administration|"
    r"in an? (?:\w+ )?(?:patient|man|woman|child|infant|boy|girl) (?:receiving|taking|on|"
    r"treated with|given|using|anticoagulated with|abusing|exposed to))\b"
)
# A connective of time before a drug's name ("after starting X", "during X therapy", "while on
# X", "within two days of X").
_WHEN = re.compile(
    r"\b(?:after|following|during|while|since|upon|within|on starting|on initiation)\b"
)
# A drug stopped or changed, with the event as the reason ("X was withdrawn because of Y").
_STOPPED = re.compile(
    r"\b(?:discontinu\w+|stopped|withdrawn|withheld|ceased|interrupted|switched|reduced|"
    r"tapered)\b(?:\s+\S+){0,5}?\s+(?:because of|due to|owing to|in view of|after|for)\b"
)
# A drug given for its effect, or a course that went well, with no cause named.
_GIVEN = re.compile(
    r"\b(?:treated with|treatment with|was started|were started|was given|were given|"
    r"received|receiving treatment|responded|response to|remission|effective|efficacy|"
    r"improved|improvement|controlled|cured|well tolerated|successfully|was prescribed|"
    r"therapeutic|indicated|to treat|for the treatment|was added|were added|was begun|"
    r"was initiated|was commenced|prophylactic|premedicat\w+|often receive|first-line|"
    r"randomi[sz]ed|trial|differential diagnosis|should be|guidelines?|compared)\b"
)

# None seen: "no vaccine-related serious adverse events were observed".
_NONE_SEEN = re.compile(
    r"\b(?:no|without|nor)\b(?:\s+[\w-]+){0,3}?\s+(?:adverse|side|reactions?|toxicit\w+|"
    r"complications?)\b"
)
# A course that went well ("led to complete healing", "induced a complete cytogenetic
# response", "the fever resolved within 48 hours of starting antibiotics").
_WENT_WELL = re.compile(
    r"\b(?:response|remission|healing|healed|seizure-free|controlled|under control|eased|"
    r"relieved|so far so good|happy|good effect|lifted|kept me|\w+-free|"
    r"resolved (?:within|with)|improved (?:on|with|within))\b"
)

_WORD = re.compile(r"[a-z][\w'-]*|\d+")
WINDOW = 6  # words between a connective and the drug it ties to an event


def _drug_positions(norm: str, starts: list[int]) -> list[int]:
    """Word indices of named drugs (``causality.DRUG`` without the generic words, and brands)."""
    named = [
        m
        for m in DRUG.finditer(norm)
        if not (_GENERIC.fullmatch(m.group(0)) or EVENT.fullmatch(m.group(0)))
    ]
    named += _BRANDS.finditer(norm)
    return sorted({bisect.bisect_right(starts, m.start()) - 1 for m in named})


def _positions(pattern: re.Pattern[str], norm: str, starts: list[int]) -> list[int]:
    return [bisect.bisect_right(starts, m.start()) - 1 for m in pattern.finditer(norm)]


def drug_caused_event(text: str) -> bool:
    """Case-report English: a named drug tied to an event by a causal or temporal link."""
    norm = normalize(text)
    words = list(_WORD.finditer(norm))
    if not words:
        return False
    starts = [w.start() for w in words]
    drugs = _drug_positions(norm, starts)
    if not drugs or NEGATION.search(norm) or _NONE_SEEN.search(norm):
        return False
    if any(
        DRUG.fullmatch(m.group(1)) and not _GENERIC.fullmatch(m.group(1))
        for m in _COMPOUND.finditer(norm)
    ):
        return True
    tokens = [w.group(0) for w in words]
    events = sorted({*_positions(EVENT, norm, starts), *_positions(_MORE_EVENTS, norm, starts)})
    # "bleomycin lung", "lithium toxicity", "carbamazepine hypersensitivity syndrome"
    for d in drugs:
        follow = tokens[d + 1 : d + 3]
        harm = (_HARM_NOUN, EVENT, _MORE_EVENTS)
        if follow and any(rx.fullmatch(follow[0]) for rx in harm):
            return True
    if not events or _WENT_WELL.search(norm):
        return False
    given = _GIVEN.search(norm) is not None or BENEFIT.search(norm) is not None
    if _STOPPED.search(norm) and not given:
        return True  # "clozapine was withdrawn because of a falling neutrophil count"
    cause = _positions(_CAUSE, norm, starts)
    # "rash due to carbamazepine", "hepatitis attributed to isoniazid": a cause named outright,
    # unless the cause named is a disease ("due to an infection") and no drug sits by it.
    near_cause = [c for c in cause if any(0 < abs(d - c) <= WINDOW for d in drugs)]
    if near_cause and not (NON_DRUG_CAUSE.search(norm) and given):
        return True
    # "Y developed two weeks after X was started", "during X therapy": tied in time to the drug,
    # in a sentence that says nothing helped.
    when = _positions(_WHEN, norm, starts)
    if any(0 < d - w <= 4 for w in when for d in drugs) and not BENEFIT.search(norm):
        return not NON_DRUG_CAUSE.search(norm)
    # What is left names a drug and an event and says the drug was neither given for the
    # event nor helped, nor another cause: case reports name a suspect drug beside its
    # reaction ("Fulminant hepatic failure in a 12-year-old girl on valproate"); background
    # sentences rarely do.
    return not (given or NON_DRUG_CAUSE.search(norm))


# A symptom in a patient's words (forum English). Words that are also the usual reasons for
# taking a psychiatric drug (anxiety, depression) count only when they got worse.
_SYMPTOM = re.compile(
    r"\b(?:tired|tiredness|fatigue|fatigued|exhausted|exhaustion|sleepy|drowsy|drowsiness|"
    r"groggy|grogginess|foggy|brain fog|fog|zombie|numb|numbness|emotionless|flat|spaced|spacey|"
    r"dizzy|dizziness|light-?headed|vertigo|nausea|nauseous|nauseated|queasy|threw up|throwing up|"
    r"vomit\w*|headaches?|migraines?|insomnia|sleepless|can'?t sleep|couldn'?t sleep|"
    r"cannot sleep|could not sleep|vivid dreams|nightmares?|night sweats|sweating|sweats|"
    r"sweaty|dry mouth|cotton mouth|weight gain|gained|put on \d+|put on weight|"
    r"appetite|libido|sex drive|orgasm|erectile|impoten\w+|jittery|jitters|shaky|shaking|"
    r"tremors?|trembling|restless|restlessness|akathisia|agitated|agitation|irritable|"
    r"irritability|rage|angry|mood swings|suicidal|crying|cried|palpitations|heart racing|"
    r"racing heart|blurr\w+ vision|blurry|rash|itch\w*|hives|hair loss|losing my hair|"
    r"constipat\w+|diarrh\w+|upset stomach|stomach (?:pain|ache|cramps|upset|problems)|"
    r"stomachache|bloat\w*|yawn\w*|twitch\w*|brain zaps?|zaps|withdrawals?|"
    r"memory|forgetful|confus\w+|can'?t concentrate|couldn'?t concentrate|concentration|"
    r"lethargic|lethargy|no energy|low energy|apath\w+|cramps?|tingling|pins and needles|"
    r"ringing in (?:my )?ears|tinnitus|clench\w*|grinding|weak|weakness|aches?|aching|pains?|"
    r"painful|"
    r"(?:more|worse|increased|severe|terrible|horrible|awful|extreme) (?:anxiety|anxious|"
    r"depression|depressed|panic)|panic attacks?|side effects?|hallucinat\w+|seizures?|"
    r"fainted|passed out|blacked out|heart palpitations|chest pain|short of breath|"
    r"swollen|swelling|bruis\w+|bleeding|nosebleeds?|sensitive to|hot flashes|chills|"
    r"feel sick|felt sick|feeling sick|sick to my stomach|sick all|hungover|hangover|"
    r"out of it|doped up|drugged|sedated|knocked me out|wiped out|dopey|dazed|"
    r"manic|hypomanic|jaw|sexual|sweat\w*|race|racing|hurt\w*|acne|spots|pimples|periods?|"
    r"spotting|pee|urinat\w+|cough\w*|swell\w*|faint\w*|hair|tender\w*|see(?:ing)? things|"
    r"double vision|see double|cry|weepy|tearful|moody|emotional|can'?t eat|couldn'?t eat|"
    r"out of bed|drained|wiped|shak\w+|dreams?|binge\w*|cravings?|starving|hungry|"
    r"pounds|lbs|kg|stone|heavy|foggy|dull|blah|sick|ill)\b"
)
# The writer or the medicine as the one who did or felt it.
_TELLS = re.compile(
    r"^(?:got|had|have|been|getting|feeling|felt|feel|having|became|started|woke|can'?t|"
    r"couldn'?t)\b|\b(?:made me|makes me|making me|gave me|gives me|giving me|caused me|"
    r"left me|made my|makes my|gave my|made (?:him|her)|makes (?:him|her)|my son|my daughter|"
    r"my (?:wife|husband|mum|mom|dad|sister|brother)|"
    r"i (?:have|had|got|get|feel|felt|am|was|became|become|started|noticed|developed|"
    r"experienced|experience|suffered|suffer|gained|lost|put|couldn'?t|can'?t|could not|"
    r"cannot|keep|kept|woke|wake|slept|sleep|hated|hate)|i'?(?:m|ve|d)|my\b|it (?:made|makes|"
    r"gave|gives|caused|causes|left|leaves)|this (?:med|medication|drug|pill|stuff)|"
    r"since (?:starting|i started|taking|going on|coming off)|coming off|came off|"
    r"stopped taking|quit taking|weaned off|tapering off|when i (?:miss|forget|skip|stop|take))\b"
)
# Denied or only supposed: "I haven't had any side effects", "I'm worried it will make me …".
_DENIED = re.compile(
    r"\b(?:haven'?t|hasn'?t|didn'?t|don'?t|doesn'?t|never|not|no longer)\s+(?:\w+\s+)?"
    r"(?:had|have|has|get|got|getting|notic\w*|experienc\w*|feel|felt|see|seen|suffer\w*|"
    r"bother\w*|any)\b|\bwithout (?:any )?(?:side|problems|issues)|\bno (?:side|problems|issues)"
)
_ASKS = re.compile(
    r"\?|^(?:can|could|should|may|is|are|does|do|would|will|what|how|has|have|anyone|any)\b"
)


# Better, or from something else: "my headaches are much less frequent on it", "my fatigue is
# from my anemia", "I've had insomnia since my teens".
_OTHERWISE = re.compile(
    r"\b(?:(?:feel|feeling|felt|much|so much|a lot|way) better|less (?:anxious|depressed|"
    r"frequent|often|severe)|fewer|helped|helps|helping|eased|easing|lifted|lifting|"
    r"went away|gone|improv\w+|relie\w+|steady|back to normal|feel normal|the same|"
    r"never happened|back to|from (?:my|long|stress|work|an?)|part of (?:my|the)|"
    r"because of my|since my|for years|always been|before (?:any|i started|the (?:meds|pill|"
    r"drug|medication|treatment))|runs in|that'?s why|in the first place|scared|afraid|"
    r"worried|feared|heard|read about|takes the edge|so i can|lets me|allows me|finally|"
    r"thank|life back|hope|hopeful|happ(?:y|ier)|great|wonderful|controlled|under control|"
    r"smoothly|calmer|like myself|(?:is|are|was|were) from|from the (?:depression|anxiety|"
    r"illness|disease)|nothing|zero side|no (?:zaps|nausea|"
    r"headaches?|dizziness|weight|side|problems|issues))\b"
)
# A fragment in a forum's shorthand ("Nausea and headache the first few days.", "Week 2: still
# dizzy and tired."): a symptom and a time on the drug, no subject.
_COURSE_TIME = re.compile(
    r"\b(?:first (?:few |couple of )?(?:days?|weeks?|months?|dose|night)|day (?:\d+|one|two)|"
    r"week (?:\d+|one|two)|on (?:it|this|the (?:pill|med|meds|drug))|since (?:starting|day)|"
    r"after (?:starting|the first)|every (?:morning|night|day)|all day|at night)\b"
)


# A medicine's doing told by the one it was done to ("It made me feel like a zombie", "Zoloft
# gave me the weirdest feeling"): a reaction even when no symptom word is used.
_DID_TO_ME = re.compile(
    r"\b(?:made|makes|making|left|leaves|turned|turns|caused|causes)\s+(?:me|my)\b"
)
# A fragment that opens with a symptom ("Extreme fatigue.", "No sex drive at all.", "Weight
# gain, dry mouth, sweating."): how a patient lists what a medicine did.
_OPENS = re.compile(
    r"(?:(?:very|really|so|extremely|extreme|constant|constantly|severe|terrible|horrible|"
    r"awful|bad|mild|some|slight|major|massive|huge|lots of|a lot of|increased|intense|"
    r"persistent|occasional|frequent|daily)\s+)*(?:no (?:sex drive|libido|appetite|energy|"
    r"motivation|emotions?|feelings?)|"
    + _SYMPTOM.pattern.removeprefix(r"\b(?:").removesuffix(r")\b")
    + r")\b(?! (?:of|with|from|and (?:noravex|the)) )"
)


# What a case report or a textbook says of a symptom, not a patient of a medicine ("Seizures
# began at the age of four.", "Weight gain preceded the diagnosis of Cushing syndrome.").
_CLINICAL_PROSE = re.compile(
    r"\b(?:patients?|diagnos\w*|age|history|years? old|is|are|began|preceded|seen|reported|"
    r"common|known|frequent(?:ly)?|typical(?:ly)?|may|can|caused by|cause of)\b"
)


def told_a_reaction(text: str) -> bool:
    """Forum English: the writer (or a relative) tells of a symptom, as a fact."""
    norm = normalize(text)
    if _ASKS.search(norm) or not (_SYMPTOM.search(norm) or _DID_TO_ME.search(norm)):
        return False
    if register(text) == "en_self" or _TELLS.search(norm):
        told = _TELLS.search(norm) is not None
    else:
        short = len(norm.split()) <= 12
        opens = _OPENS.match(norm) is not None and not _CLINICAL_PROSE.search(norm)
        told = short and (_COURSE_TIME.search(norm) is not None or opens)
    if not told or NEGATION.search(norm) or HYPOTHETICAL.search(norm):
        return False
    return not (_DENIED.search(norm) or _OTHERWISE.search(norm))


_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
# The audit evidence of a candidate that a recall rule made (``recall_shape``'s name after it).
EVIDENCE_PREFIX = "recall rule: "


def recall_shape(text: str) -> str | None:
    """Which shape above an English message has ("drug-caused event", "told reaction"), or None.

    A question is never one (it asks; the screening decision answers questions), but a
    sentence that tells beside one that asks is; a Chinese message never is (Chinese reports
    are covered by the classifier and ``cues.py``).
    """
    if detect_language(text) != "en":
        return None
    # The whole message, then each sentence: a doctor's question often comes with the report
    # ("What's the max dose in renal impairment? I have a patient who got bad muscle pain
    # after I went up to 20 mg."); the question is answered, the report is asked about.
    for part in dict.fromkeys([text, *_SENTENCE.split(text)]):
        if not part.strip() or _ASKS.search(normalize(part)):
            continue
        if drug_caused_event(part):
            return "drug-caused event"
        if told_a_reaction(part):
            return "told reaction"
    return None
