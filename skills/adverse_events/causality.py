"""English clinical-causality cues: is a drug named as the cause of an event?

Case-report and clinician English states adverse drug events in a few recurring shapes —
"lamotrigine-induced rash", "hepatitis secondary to isoniazid", "developed X after starting
Y", "X occurred during Y therapy", "the X was attributed to Y" — while the sentences around
them name the same drugs and the same diseases without a causal link ("treated with Y",
"X was attributed to an infection"). A few hundred training sentences cannot teach a model
which words are drugs, so this module supplies that knowledge as features: drug-like words
(a hand-written list of common generics and drug classes plus INN/USAN name stems), causal
connectives, and — the strongest signal — a causal connective next to a drug-like word.

Everything here was written by hand for this project from general pharmacological naming
conventions; nothing is taken from the evaluation corpora. Chinese messages get all-zero
features (the Chinese cues live in ``cues.py``).
"""

from __future__ import annotations

import bisect
import re

import numpy as np

from skills.adverse_events.cues import normalize

# Common generic names that no stem below covers, and words that stand for "a drug".
_DRUG_WORDS = (
    "lithium|warfarin|heparin|insulin|digoxin|aspirin|paracetamol|acetaminophen|morphine|"
    "codeine|methadone|fentanyl|tramadol|oxycodone|buprenorphine|naloxone|ketamine|propofol|"
    "clozapine|olanzapine|quetiapine|haloperidol|risperidone|aripiprazole|lamotrigine|"
    "carbamazepine|oxcarbazepine|phenytoin|valproate|valproic|topiramate|gabapentin|"
    "pregabalin|levetiracetam|phenobarbital|methotrexate|azathioprine|cyclosporine|"
    "ciclosporin|tacrolimus|sirolimus|everolimus|mycophenolate|cyclophosphamide|ifosfamide|"
    "busulfan|cytarabine|fluorouracil|capecitabine|gemcitabine|vincristine|vinblastine|"
    "bleomycin|asparaginase|thalidomide|lenalidomide|tamoxifen|letrozole|anastrozole|"
    "allopurinol|colchicine|metformin|glipizide|gliclazide|glibenclamide|glimepiride|"
    "amiodarone|dronedarone|verapamil|diltiazem|hydralazine|minoxidil|clonidine|"
    "spironolactone|furosemide|hydrochlorothiazide|chlorthalidone|isoniazid|rifampicin|"
    "rifampin|pyrazinamide|ethambutol|dapsone|primaquine|chloroquine|hydroxychloroquine|"
    "mefloquine|quinine|metronidazole|nitrofurantoin|trimethoprim|cotrimoxazole|"
    "sulfamethoxazole|sulfasalazine|mesalazine|mesalamine|penicillamine|minocycline|"
    "doxycycline|tetracycline|clindamycin|linezolid|vancomycin|daptomycin|colistin|"
    "polymyxin|amphotericin|isotretinoin|acitretin|interferon|ribavirin|zidovudine|"
    "stavudine|didanosine|abacavir|nevirapine|efavirenz|tenofovir|bupropion|mirtazapine|"
    "trazodone|venlafaxine|duloxetine|sertraline|fluoxetine|paroxetine|citalopram|"
    "escitalopram|amitriptyline|nortriptyline|clomipramine|phenelzine|donepezil|memantine|"
    "levodopa|pramipexole|ropinirole|methylphenidate|atomoxetine|modafinil|zolpidem|"
    "baclofen|metoclopramide|prochlorperazine|domperidone|ondansetron|omeprazole|"
    "pantoprazole|ranitidine|cimetidine|sumatriptan|ergotamine|sildenafil|finasteride|"
    "testosterone|estrogen|estradiol|levothyroxine|propylthiouracil|carbimazole|"
    "methimazole|prednisone|prednisolone|methylprednisolone|dexamethasone|hydrocortisone|"
    "fluticasone|budesonide|alendronate|denosumab|teriparatide|calcitriol|niacin|"
    "ezetimibe|ticagrelor|clopidogrel|prasugrel|dabigatran|alteplase|streptokinase|"
    "ibuprofen|naproxen|diclofenac|indomethacin|ketorolac|celecoxib|nimesulide|metamizole|"
    "benzocaine|lidocaine|bupivacaine|sevoflurane|succinylcholine|midazolam|diazepam|"
    "lorazepam|alprazolam|contrast|iodinated|gadolinium|vaccine|vaccination|"
    "immunoglobulin|chemotherapy|chemotherapeutic|antibiotics?|antibiotic|antiepileptic|"
    "anticonvulsant|antidepressant|antipsychotic|neuroleptic|anticoagulant|anticoagulation|"
    "steroids?|corticosteroids?|glucocorticoids?|opioids?|nsaids?|statins?|diuretics?|"
    "immunosuppressive|immunotherapy|supplement|herbal|drugs?|medications?|medicines?|"
    "chloramphenicol|terbinafine|salbutamol|albuterol|kava|vigabatrin|salicylates?|cocaine|"
    "heroin|amphetamines?|potassium|magnesium|licorice|liquorice|tretinoin|cefaclor|"
    "felbamate|dipyrone|sacubitril|ticlopidine|pergolide|fusidic|nefazodone|auranofin|"
    "fenfluramine|phentermine|methysergide|erythropoietin|epoetin|amoxiclav|barbiturates?|"
    "theophylline|aminophylline|phenylpropanolamine|dobutamine|dopamine|laxatives?|"
    "amantadine|iron|gold|mtx|5-fu|tmp-smx|ivig|ppis?|ssris?|snris?|maois?|tcas?|"
    "ace inhibitors?|arbs?|beta-blockers?|antihistamines?|antimalarials?|antiretrovirals?|"
    "antifungals?|antivirals?|antituberculous|bisphosphonates?|checkpoint inhibitors?|"
    "contraceptives?|vitamins?|hormones?|trioxide|nitrous oxide|extracts?|pills?|drops|vials?|"
    "patch(?:es)?|inhalers?|syrups?|creams?|ointments?|suppositor\\w*|generic|"
    "csa|cya|fk506|azt|ddi|ddc|d4t|3tc|inh|ptu|6-mp|6-mercaptopurine|mercaptopurine|g-csf|"
    "gm-csf|ifn|il-2|atra|okt3|hctz|asa|ocps?|lmwh|ufh|rt-pa|tpa|epo|mmf|acei|tkis?|icis?|"
    "hrt|anti-tnf|[a-z]{2,4}-?\\d{3,}|"
    "agents?|tablets?|capsules?|injections?|infusions?|doses?|dosing|therapy|treatment|"
    "regimen|prophylaxis"
)
# INN/USAN stems (endings) that mark a drug name: -mab antibodies, -nib kinase inhibitors,
# -cillin, -floxacin, -pril, -sartan, -olol, -statin, -dipine, -prazole, -platin, -taxel …
_DRUG_STEMS = (
    "mab|nib|cillin|cef\\w*|ceph\\w*|mycin|micin|floxacin|cycline|conazole|azole|fungin|vir|"
    "pril|sartan|olol|alol|statin|dipine|tidine|prazole|platin|taxel|rubicin|parin|oxaban|"
    "gatran|oxetine|triptyline|ipramine|azepam|azolam|barbital|caine|thiazide|semide|"
    "profen|fenac|coxib|gliptin|glitazone|gliflozin|glutide|dronate|lukast|setron|triptan|"
    "afil|olone|asone|terol|tropium|peridone|apine|azine|trexate|arabine|uracil|mustine|"
    "tecan|poside|steride|lutamide|relin|parib|lisib|zomib|limus|kinra|cept|ase|"
    "mide|tide|fovir|navir|tegravir|buvir|asvir|previr|quine|oxacin|penem|bactam|kacin|"
    "fibrate|fibrozil|dronic|clax|ciclib|tinoin|azosin|grel|xaban|golide|tropine|phylline|"
    "bamate|butamine|poetin|stigmine|curium|curonium|vudine|citabine|ifen|ifene|zodone|"
    "butin|butol|idone|midine|hydramine|eridine|osin|idine|betasol"
)
# Common words that end like a drug stem ("disease", "increase", "peptide").
_NOT_DRUGS = (
    "disease|increase|decrease|release|phase|please|purchase|peptide|polypeptide|"
    "nucleotide|oligonucleotide"
)
# Stems match after at least two letters ("losartan", "cocaine"); cephalosporins are
# named by a prefix ("ceftriaxone", "cephalexin").
DRUG = re.compile(
    rf"\b(?!(?:{_NOT_DRUGS})s?\b)"
    rf"(?:{_DRUG_WORDS}|[a-z]{{2,}}(?:{_DRUG_STEMS})|(?:cef|ceph)[a-z]{{3,}})\b"
)

# Words that name a pathological event (not a drug, not a disease being treated).
EVENT = re.compile(
    r"\b(?:\w+(?:itis|osis|emia|aemia|penia|pathy|algia|toxicity|plegia|rrhea|rrhoea|"
    r"rrhage|uria|cardia|tonia|kinesia|trophy|plasia|edema|oedema)|rash|eruption|urticaria|"
    r"hives|angioedema|anaphylaxis|anaphylactic|syndrome|failure|injury|damage|reaction|"
    r"bleeding|hematoma|haematoma|seizures?|convulsions?|coma|psychosis|delirium|confusion|"
    r"hallucinations?|arrhythmia|tachycardia|bradycardia|fibrillation|prolongation|"
    r"torsades?|block|arrest|hypotension|hypertension|fever|necrolysis|necrosis|fibrosis|"
    r"rupture|fracture|perforation|thrombosis|embolism|infarction|stroke|ulcer|ulceration|"
    r"jaundice|dysfunction|insufficiency|deficiency|loss|weakness|tremor|dystonia|"
    r"dyskinesia|ataxia|myoclonus|somnolence|sedation|depression|ideation|suicide|death|"
    r"died|fatal|vomiting|nausea|diarrh\w+|constipation|ileus|pain|cough|dyspnea|"
    r"bronchospasm|edema|swelling|pruritus|itching|alopecia|gain|acidosis|ketoacidosis|"
    r"malaise|fatigue|hallucinat\w+|elevat\w+|raised|rose|risen|fell|fallen|dropped|"
    r"abnormal\w*|deteriorat\w+|worsen\w*|hypo\w+|hyper\w+)\b"
)

# "X-induced", "X-associated" …: the hyphenated compound that case reports favour.
_COMPOUND = re.compile(
    r"\b([a-z][\w-]*?)-(?:induced|associated|related|mediated|provoked|triggered|"
    r"dependent|exposed|attributed)\b"
)
# Connectives that make a drug the cause of what follows or precedes it.
CAUSAL = re.compile(
    r"\b(?:induced|caused|provoked|triggered|precipitated|attributed|attributable|"
    r"secondary to|due to|owing to|because of|resulting from|resulted in|led to|leading to|"
    r"associated with|related to|linked to|implicated|after|following|during|while|since|"
    r"upon|on (?:starting|initiation|withdrawal|discontinuation|stopping)|"
    r"complicated|complication|toxicity|adverse|side[- ]effects?|hypersensitivity|"
    r"allergic|intolerance|withdrawal|withdrawn|discontinu\w+|stopped|stopping|rechallenge|"
    r"dechallenge|re-?exposure|overdose|ingestion|intoxication|poisoning|potentiated|"
    r"interaction|exposure)\b"
)
# The connectives that name a cause outright (no temporal "after", "during").
_STRONG_CAUSAL = re.compile(
    r"\b(?:induced|caused|provoked|triggered|precipitated|attributed|attributable|"
    r"secondary to|due to|toxicity|adverse|side[- ]effects?|hypersensitivity|"
    r"complicated|complication|associated with|related to)\b"
)
# A drug stopped or changed because of something ("azathioprine was withdrawn because of
# leukopenia"): case reports often state the event only as the reason for the change.
STOPPED_BECAUSE = re.compile(
    r"\b(?:discontinu\w+|stopped|withdrawn|withheld|held|reduced|decreased|switched|changed|"
    r"replaced|tapered|interrupted|ceased|halved|lowered)\b(?:\s+\S+){0,6}?\s+"
    r"(?:because of|due to|owing to|for|after|in view of|following)\b"
)
# Something happened to the patient (onset verbs of a case narrative).
ONSET = re.compile(
    r"\b(?:developed|develop|develops|experienced|suffered|occurred|occurring|appeared|"
    r"manifested|presented with|was noted|were noted|was observed|were observed|"
    r"became|recurred|reappeared|worsened|exacerbat\w+|emerged|onset)\b"
)
# A drug named as a treatment that worked or was given, with no event attached.
TREATMENT = re.compile(
    r"\b(?:treated with|was started on|were started on|was given|received|responded|"
    r"response|remission|effective|efficacy|improved on|controlled|cured|well tolerated|"
    r"tolerated|continued|successfully|was prescribed|therapeutic range|trough|"
    r"randomi[sz]ed|trial|study|studies|patients were|we review|literature)\b"
)
# A non-drug cause named after a causal connective ("due to a urinary tract infection").
NON_DRUG_CAUSE = re.compile(
    r"\b(?:due to|caused by|secondary to|attributed to|related to|associated with|"
    r"complicating|from|because of|explained by|consequence of|typical of|diagnosed as|"
    r"precipitated by|resulting from|in (?:a |the )?(?:patient|man|woman|child) with)\s+"
    r"(?:an?\s+|the\s+|his\s+|her\s+|their\s+)?(?:\w+[\s-]+){0,3}?(?:infection|"
    r"disease|cancer|carcinoma|tumou?r|lymphoma|leukemia|myeloma|metastas\w+|sepsis|"
    r"shock|trauma|surgery|gallstones?|alcohol|drinking|virus|viral|bacteria\w*|ischemia|"
    r"dehydration|cirrhosis|transplantation|pregnancy|delivery|diabetes|obstruction|"
    r"exercise|fasting|adenoma|insulinoma|\w+oma|lupus|seizures?|uropathy|hypersplenism|"
    r"dysplasia|syndrome|hypertension|immobili[sz]ation|fall|injury|burns?|parasit\w*|"
    r"helminth\w*|strongyloid\w*|tuberculosis|hepatitis [abce]|epstein-barr|"
    r"cytomegalovirus|herpes|influenza|covid-19|pneumonia|abscess|catheter|deficiency|"
    r"mutation|genetic|congenital|hereditary|autoimmune|degeneration|stenosis|malnutrition)\b"
)
# A sentence naming an event with no drug in it ("bilirubin had risen because of biliary
# obstruction"): a drug-caused event needs a drug, so these are background, not reports.
BENEFIT = re.compile(
    r"\b(?:relieved|reversed|corrected|cleared|controlled|normali[sz]ed|improved|resolved with|"
    r"responded (?:well )?to|remained (?:well|stable|euthymic|asymptomatic|normal)|to reduce|"
    r"to prevent|to treat|to control|for the (?:treatment|prevention|management) of|"
    r"induced (?:a )?(?:complete |partial )?(?:remission|response)|cured|eradicat\w+)\b"
)

WINDOW = 6  # words between a causal connective and a drug-like word
FEATURES: tuple[str, ...] = (
    "drug",
    "drug_count_2",
    "event",
    "causal",
    "drug_compound",
    "drug_near_causal",
    "drug_near_event",
    "onset",
    "onset_and_drug",
    "treatment",
    "non_drug_cause",
    "event_without_drug",
    "benefit",
    "benefit_without_causal",
    "stopped_because",
    "english",
)
DIM = len(FEATURES)

_WORD = re.compile(r"[a-z][\w'-]*|\d+")


def _positions(pattern: re.Pattern[str], text: str, starts: list[int]) -> list[int]:
    """Word indices at which ``pattern`` matches (by character offset → word index)."""
    return [bisect.bisect_right(starts, m.start()) - 1 for m in pattern.finditer(text)]


def causal_vector(text: str) -> np.ndarray[tuple[int], np.dtype[np.float32]]:
    """0/1 indicators in ``FEATURES`` order for one message (all zero for Chinese text)."""
    norm = normalize(text)
    out = np.zeros(DIM, dtype=np.float32)
    if len(re.findall(r"[\u3400-\u9fff]", norm)) >= 2:
        return out
    words = list(_WORD.finditer(norm))
    starts = [w.start() for w in words] or [0]
    drugs = _positions(DRUG, norm, starts)
    causal = _positions(CAUSAL, norm, starts)
    events = _positions(EVENT, norm, starts)
    compound = any(DRUG.fullmatch(m.group(1)) for m in _COMPOUND.finditer(norm))
    benefit = BENEFIT.search(norm) is not None
    causal_words = _STRONG_CAUSAL.search(norm) is not None
    flags = {
        "drug": bool(drugs),
        "drug_count_2": len(set(drugs)) >= 2,
        "event": bool(events),
        "causal": bool(causal),
        "drug_compound": compound,
        "drug_near_causal": compound
        or any(abs(d - c) <= WINDOW for d in drugs for c in causal if d != c),
        "drug_near_event": any(abs(d - e) <= WINDOW for d in drugs for e in events if d != e),
        "onset": ONSET.search(norm) is not None,
        "onset_and_drug": ONSET.search(norm) is not None and bool(drugs),
        "treatment": TREATMENT.search(norm) is not None,
        "non_drug_cause": NON_DRUG_CAUSE.search(norm) is not None,
        "event_without_drug": bool(events) and not drugs,
        "benefit": benefit,
        "benefit_without_causal": benefit and not compound and not causal_words,
        "stopped_because": bool(drugs) and STOPPED_BECAUSE.search(norm) is not None,
        "english": bool(words),
    }
    for i, name in enumerate(FEATURES):
        out[i] = flags[name]
    return out
