"""From a citizen's words to a category: suggestions, auto-routing, triage, learning."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from statistics import fmean
from typing import Any

import httpx
import numpy as np
import pytest

from hub.bench.routing import read_rows, summarise
from hub.enums import Action, Channel, GrievanceStatus, Role, UserKind
from hub.models import (
    Department,
    Grievance,
    GrievanceEvent,
    Office,
    RoutingModel,
    TaxonomyNode,
    User,
)
from hub.runtime import Runtime
from hub.services import lifecycle, routing
from hub.services.grievances import FilingData, file_grievance
from hub.services.taxonomy import load_rule_set
from routing_rules import ranker
from routing_rules.cpgrams import read_cpgrams
from routing_rules.loanwords import Loanwords, sounds
from routing_rules.overlays import CPGRAMS_EXAMPLES, read_examples
from routing_rules.ranker import (
    SEED_WEIGHT,
    Example,
    HistoryModel,
    NodeInfo,
    Router,
    TaxonomyIndex,
    explain,
    seed_examples,
    weigh,
    with_references,
)
from routing_rules.references import candidates, find_references, format_pattern
from routing_rules.rules import RuleError, read_rules
from routing_rules.text import (
    LEXICON_DIR,
    meanings,
    read_lexicons,
    reading,
    refresh_lexicons,
    script,
    stem,
    term_set,
    terms,
    use_lexicons,
    words,
)
from tests.conftest import CPGRAMS_DIR, ROOT, SAMPLE_RULES, People, data_of, gql, run_hub

FIXTURE = ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def sample_router() -> Router:
    rules = read_rules(SAMPLE_RULES)
    nodes = [
        NodeInfo(n.code, n.department, n.parent, n.names, n.keywords, n.synonyms)
        for n in rules.nodes
        if n.active
    ]
    return Router(TaxonomyIndex(nodes))


def best(router: Router, text: str) -> str | None:
    routing_ = router.suggest(text)
    return routing_.suggestions[0].category if routing_.suggestions else None


# -- what citizens really write --------------------------------------------------------


def test_plain_english_names_the_leaf_and_explains(sample_router: Router) -> None:
    found = sample_router.suggest("Garbage has not been collected from our street for a week")
    top = found.suggestions[0]
    assert top.department == "UDD"
    assert top.category is not None and top.category.startswith("UDD-ULB-SWM-GARB")
    assert any(m.word == "garbage" and m.source == "keyword" for m in top.matches)
    assert 0 < top.confidence <= 1 and top.score > 0


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ("garbege not colected since monday", "UDD"),  # misspellings
        ("the streetlights are not working in our lane", "UDD"),  # inflection
        ("हमारे इलाके में पानी नहीं आ रहा है", "WSD"),  # Hindi in Devanagari
        ("do din se paani nahi aa raha", "WSD"),  # Hinglish
        ("ನಮ್ಮ ಬೀದಿಯಲ್ಲಿ ಮೂರು ದಿನದಿಂದ ನೀರು ಬರುತ್ತಿಲ್ಲ", "WSD"),  # Kannada
        ("ನನಗೆ ವೃದ್ಧಾಪ್ಯ ಪಿಂಚಣಿ ಬಂದಿಲ್ಲ", "SWD"),  # Kannada: old age pension
        ("আমাদের পাড়ায় তিন দিন ধরে জল আসছে না", "WSD"),  # Bengali
        ("गटार तुंबले आहे आणि सांडपाणी रस्त्यावर वाहत आहे", "WSD"),  # Marathi: sewage
        ("எங்கள் தெருவில் குப்பை அள்ளப்படவில்லை", "UDD"),  # Tamil: garbage
        ("మా వీధిలో చెత్త తీయడం లేదు", "UDD"),  # Telugu: garbage
        ("અમારા વિસ્તારમાં ત્રણ દિવસથી પાણી આવતું નથી", "WSD"),  # Gujarati: no water
        ("ગટર ઉભરાય છે અને ગંદું પાણી રસ્તા પર ફેલાય છે", "WSD"),  # Gujarati: sewage
        ("ଆମ ସାହିରୁ ଏକ ସପ୍ତାହ ହେଲା ଘରୁ ଅଳିଆ ନେବାକୁ ଗାଡ଼ି ଆସୁନାହିଁ", "UDD"),  # Odia: garbage
        ("ଛଅ ମାସ ହେଲା ମୋ ମାଆଙ୍କୁ ବାର୍ଦ୍ଧକ୍ୟ ଭତ୍ତା ମିଳୁନାହିଁ", "SWD"),  # Odia: old-age pension
        ("ਸੀਵਰੇਜ ਦਾ ਗੰਦਾ ਪਾਣੀ ਸੜਕ ਉੱਤੇ ਵਹਿ ਰਿਹਾ ਹੈ", "WSD"),  # Punjabi: sewage
        ("ਮੇਰੇ ਬੇਟੇ ਦਾ ਵਜ਼ੀਫ਼ਾ ਅਜੇ ਤੱਕ ਬੈਂਕ ਖਾਤੇ ਵਿੱਚ ਨਹੀਂ ਆਇਆ", "SWD"),  # Punjabi: scholarship
        ("ഞങ്ങളുടെ തെരുവിലെ മാലിന്യം ഒരാഴ്ചയായി ആരും ശേഖരിക്കുന്നില്ല", "UDD"),  # Malayalam
        ("ഞങ്ങളുടെ റോഡിലെ തെരുവുവിളക്ക് രണ്ടാഴ്ചയായി കത്തുന്നില്ല", "UDD"),  # ... street light
        ("আমাৰ ৱাৰ্ডত এসপ্তাহ ধৰি জাবৰ সংগ্ৰহ কৰা হোৱা নাই", "UDD"),  # Assamese: garbage
        ("আমাৰ গলিৰ পথচাকি এমাহ ধৰি জ্বলা নাই, ৰাতি আন্ধাৰ হৈ থাকে", "UDD"),  # ... street light
        ("ہماری سڑک پر بڑے بڑے گڑھے پڑ گئے ہیں", "UDD"),  # Urdu: potholes
        ("میری والدہ کو چھ مہینے سے بڑھاپے کی پنشن نہیں ملی", "SWD"),  # Urdu: old-age pension
        ("سڑک پر گٹر کا گندا پانی ابل رہا ہے", "WSD"),  # Urdu: sewage
        ("CONTAMINATED WATER SUPPLY, DIRTY AND MUDDY", "WSD"),  # shouting
    ],
)
def test_what_citizens_write(sample_router: Router, text: str, department: str) -> None:
    found = sample_router.suggest(text)
    assert found.departments[0][0] == department, found.departments[:3]


def test_a_kannada_complaint_meets_the_categorys_kannada_name(sample_router: Router) -> None:
    """The Karnataka sample names its categories in Kannada too: "contaminated water" in
    Kannada is that category, as its Kannada name says, not any water complaint."""
    top = sample_router.suggest("ನಮ್ಮ ಮನೆಗೆ ಕಲುಷಿತ ನೀರು ಬರುತ್ತಿದೆ").suggestions[0]
    assert top.category == "WSD-WS-NOW-CONTAM"
    assert "'ಕಲುಷಿತ' matched name of WSD-WS-NOW-CONTAM" in explain(top)


def test_danda_ends_a_word() -> None:
    # the Devanagari full stop, written with or without a space, is not part of the word
    assert words("पानी नहीं आया।बिजली भी नहीं") == ["पानी", "नहीं", "आया", "बिजली", "भी", "नहीं"]
    assert term_set("पानी।") == term_set("पानी")


def test_a_joiner_inside_a_word_does_not_split_it(sample_router: Router) -> None:
    # Marathi keyboards write the eyelash ra with a zero-width joiner, Kannada ones often
    # put a non-joiner inside an English loanword: one word each, read without them
    assert words("कार्\u200dयालयात गेलो") == ["कार्\u200dयालयात", "गेलो"]
    assert term_set("कार्\u200dयालयात") == term_set("कार्यालयात")
    assert words("ಸ್ಕಾಲರ್\u200cಶಿಪ್ ಬಂದಿಲ್ಲ") == ["ಸ್ಕಾಲರ್\u200cಶಿಪ್", "ಬಂದಿಲ್ಲ"]
    assert words("water\u200dsupply") == ["water", "supply"]  # between Latin words: a break
    # "my scholarship has not come yet", typed with the non-joiner: not an old-age pension
    assert best(sample_router, "ನನ್ನ ಸ್ಕಾಲರ್\u200cಶಿಪ್ ಇನ್ನೂ ಬಂದಿಲ್ಲ") == "SWD-SCH-PM-PEND"


def test_hindi_function_words_and_a_letters_courtesies_route_nothing() -> None:
    letter = "सेवा में, आदरणीय महोदय, विषय: राशन कार्ड हेतु निवेदन एवं पेंशन तथा गैस"
    assert term_set(letter) == term_set("सेवा विषय राशन कार्ड पेंशन गैस")
    assert not term_set("मे अतः अथवा इत्यादि सादर धन्यवाद")


def test_html_character_references_are_read() -> None:
    assert words("Hon&#39;ble Sir, &quot;no water&quot;") == ["hon", "ble", "sir", "no", "water"]


@pytest.mark.parametrize(
    "text",
    ["রেল", "ਰੇਲ", "રેલ", "ରେଲ"],  # Bengali, Gurmukhi, Gujarati, Oriya
)
def test_other_brahmic_scripts_meet_the_hindi_name(text: str) -> None:
    index = TaxonomyIndex(
        [
            NodeInfo("RLY", "RLY", None, {"en": "Railways", "hi": "रेल"}),
            NodeInfo("RLY-T", "RLY", "RLY", {"en": "Ticketing", "hi": "टिकट"}),
            NodeInfo("PEN", "PEN", None, {"en": "Pensions", "hi": "पेंशन"}),
            NodeInfo("PEN-D", "PEN", "PEN", {"en": "Delay", "hi": "देरी"}),
        ]
    )
    found = Router(index).suggest(text)
    assert found.departments[0][0] == "RLY"
    assert any(m.word == text and m.node == "RLY" for m in found.suggestions[0].matches)


def test_gurmukhi_sha_and_addak_read_as_hindi() -> None:
    assert term_set("ਸ਼ਹਿਰ") == term_set("शहिर")  # sha, split by NFKC into sa + nukta
    assert term_set("ਪੱਕਾ") == term_set("पका")  # the addak (doubling) has no Devanagari sign


def test_letters_added_after_iscii_read_as_their_sounds() -> None:
    # Assamese ra sits where Devanagari has its abbreviation sign, which ends a word
    assert words("ৰাস্তাৰ অৱস্থা") == ["ৰাস্তাৰ", "অৱস্থা"]
    assert stem("ৱাৰ্ড") == stem("वार्ड") == stem("ୱାର୍ଡ")  # Assamese, Oriya wa
    # Malayalam's chillus, atomic or typed the older way (virama and joiner), read alike
    assert stem("പെൻഷൻ") == stem("പെന്\u200dഷന്\u200d") == stem("पेन्षन्")
    assert stem("വെള്ളത്തിൻ\u0d4dറെ") == stem("വെള്ളത്തിന്റെ")  # nta, both ways
    assert stem("উৎসব") == stem("उत्सब")  # Bengali khanda ta
    assert stem("ସମୟ") == stem("সময়") == stem("समय")  # ya, which Oriya and Bengali dot


def test_urdu_is_read_as_hindi_spells_it() -> None:
    """Hindi and Urdu are one spoken language: an Urdu word is read as Devanagari, exactly
    where Urdu writes every sound (پانی, سڑک), and its function words route nothing."""
    assert term_set("پانی") == term_set("पानी")
    assert term_set("سڑک") == term_set("सड़क")
    assert term_set("کچرا") == term_set("कचरा")
    assert term_set("بھائی کوئی") == term_set("भाई कोई")  # aspirate; ئی after a vowel
    assert term_set("كچرا") == term_set("کچرا")  # an Arabic keyboard's kaf is Urdu's
    assert term_set("بِجلی") == term_set("बिजली")  # a short vowel, where it is marked
    # n before a consonant is a nasal, as Hindi writes it; a shadda under a zer still doubles
    assert [stem("بند"), stem("پنچایت"), stem("بتِّی")] == [stem("बंद"), stem("पंचायत"), stem("बत्ती")]
    assert [stem("دواؤں"), stem("ڈاکیہ")] == [stem("दवाओं"), stem("डाकिया")]  # ؤ; closing یہ
    # a zer before ی is one long vowel, unless a vowel follows and ی is y; ع before ی is ई
    assert [stem("بِیمار"), stem("دِیا"), stem("عید")] == [stem("बीमार"), stem("दिया"), stem("ईद")]
    # Urdu's full stop, comma and question mark end a word; the stretching tatweel is none
    assert words("پانی\u06d4بجلی، سڑک؟ ۱۲۳ پا\u0640نی") == ["پانی", "بجلی", "سڑک", "پا\u0640نی"]
    assert term_set("پا\u0640نی") == term_set("پانی")
    assert term_set("ہمارے میں کئی سے نہیں ہے اور جناب") == []
    assert term_set("ہوا") == [] and term_set("हवा")  # "was" in Urdu; Hindi's "air"
    # a word the Urdu lexicon knows is what it says, not the Hindi word its reading makes:
    # ضلع ("district") reads जला ("burnt", stem जल, "water")
    assert term_set("ضلع") == ["district"]
    # a direction mark inside a word is no break
    assert words("پا\u061cنی \u200fبجلی") == ["پانی", "بجلی"]


def test_misspelt_word_is_explained_as_corrected(sample_router: Router) -> None:
    top = sample_router.suggest("garbege everywhere").suggestions[0]
    assert any(m.word == "garbege" and m.via == "fuzzy" for m in top.matches)


def test_a_malformed_lexicon_is_refused_naming_the_file_and_the_word(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("version: 1\nwords:\n  neeru: water\n", encoding="utf-8")
    assert read_lexicons(tmp_path) == {("latin", "neeru"): ("water",)}
    (tmp_path / "odia.yaml").write_text("version: 1\nwords:\n  ପାଣି: 5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"odia.yaml: words.ପାଣି: expected a word"):
        read_lexicons(tmp_path)
    (tmp_path / "odia.yaml").write_text("version: 1\nwords: [water]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"odia.yaml: words: expected a mapping"):
        read_lexicons(tmp_path)


def test_every_lexicon_reads_and_two_that_share_a_word_keep_both_meanings(tmp_path: Path) -> None:
    assert read_lexicons(LEXICON_DIR)  # the shipped ones are well formed
    (tmp_path / "a.yaml").write_text("words:\n  कल: tomorrow\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("words:\n  कल: yesterday\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("words:\n  কল: tap\n  ಲಂಚ: bribe\n", encoding="utf-8")
    lexicon = read_lexicons(tmp_path)
    assert meanings(lexicon, "कल") == ("tomorrow", "yesterday")
    # a word list speaks for its own script (Bengali kol is a tap, Kannada lancha a bribe),
    # and the Devanagari ones for every Indic word, as all are read as Devanagari
    assert meanings(lexicon, "কল") == ("tap", "tomorrow", "yesterday")
    assert meanings(lexicon, "ಲಂಚ") == ("bribe",)
    (tmp_path / "d.yaml").write_text("words:\n  কলে: tap\n  कले: tap\n", encoding="utf-8")
    assert meanings(read_lexicons(tmp_path), "কলে") == ("tap",)  # once, from either list
    assert meanings(lexicon, "लंच") == ()  # Hindi "lunch" reads as ಲಂಚ does


def test_a_lexicon_with_problems_is_refused_listing_every_one(tmp_path: Path) -> None:
    """A deployer adding a language hears of every slip at once, each naming the file and
    the word: a word listed twice (YAML would silently keep the second meaning), a phrase
    (a citizen's text is matched a word at a time), an English word in another script, a
    stop word, an unknown key. Nothing of the file is read."""
    (tmp_path / "punjabi.yaml").write_text(
        "version: 1\nwords:\n  ਪਾਣੀ: water\n  ਪਾਣੀ: tap\n  ਬਿਜਲੀ ਬਿੱਲ: electricity\n"
        "  ਕੂੜਾ: the\n  ਸੜਕ: ਸੜਕ\n  ਨਾਲੀ: drain\nlanguage: pa\n",
        encoding="utf-8",
    )
    with pytest.raises(RuleError) as refused:
        read_lexicons(tmp_path)
    file = tmp_path / "punjabi.yaml"
    assert refused.value.problems == [
        f"{file}: language: unknown key",
        f"{file}: words.ਪਾਣੀ (line 4): listed twice; give one entry all its English words",
        f"{file}: words.ਬਿਜਲੀ ਬਿੱਲ: read as 2 words (ਬਿਜਲੀ, ਬਿੱਲ) in a citizen's text, so it "
        "never matches; a lexicon lists one word",
        f"{file}: words.ਕੂੜਾ: the is a stop word, which routes nothing; give the word the "
        "taxonomy would use",
        f"{file}: words.ਸੜਕ: English word(s) ਸੜਕ: letters a-z only, one or more separated by "
        "spaces",
    ]


def test_a_lexicon_file_that_cannot_be_read_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").mkdir()  # a folder of a lexicon's name
    (tmp_path / "latin1.yaml").write_bytes("words:\n  caf\u00e9: tea\n".encode("latin-1"))
    with pytest.raises(RuleError) as refused:
        read_lexicons(tmp_path)
    assert refused.value.problems == [
        f"{tmp_path / 'latin1.yaml'}: not UTF-8 text (invalid continuation byte at byte 12)",
        f"{tmp_path / 'notes.yaml'}: cannot be read: Is a directory",
    ]


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("words:\n  sadak: road\nwords:\n  paani: water\n", "words (line 3): listed twice"),
        ("words:\n  no: not\n", "words.False: YAML reads yes, no, on and off as true or false"),
        ("words:\n  sadak: 2023-02-30\n", "not valid YAML: day is out of range for month"),
        ("words: " + "[" * 3000 + "]" * 3000 + "\n", "not valid YAML"),
    ],
)
def test_what_yaml_makes_of_a_lexicon_is_named(tmp_path: Path, written: str, problem: str) -> None:
    (tmp_path / "mine.yaml").write_text(written, encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        read_lexicons(tmp_path)
    assert len(refused.value.problems) == 1
    assert refused.value.problems[0].startswith(f"{tmp_path / 'mine.yaml'}: {problem}")


def test_a_lexicon_may_merge_a_mapping_in(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "common: &common\n  paani: water\nwords:\n  <<: *common\n  sadak: road\n"
    )
    with pytest.raises(RuleError, match="common: unknown key"):
        read_lexicons(tmp_path)
    (tmp_path / "mine.yaml").write_text("words:\n  <<: {paani: water}\n  sadak: road\n")
    assert read_lexicons(tmp_path) == {
        ("latin", "paani"): ("water",),
        ("latin", "sadak"): ("road",),
    }


def test_a_lexicon_folder_gone_and_back_empty_is_read_again(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "mine.yaml").write_text("words:\n  mailapani: garbage\n", encoding="utf-8")
    use_lexicons(extra)
    try:
        assert "garbag" in term_set("mailapani")
        (extra / "mine.yaml").unlink()
        extra.rmdir()
        with pytest.raises(RuleError, match="extra: file not found"):
            refresh_lexicons()
        assert "garbag" in term_set("mailapani")  # the lists in use stay
        extra.mkdir()
        assert refresh_lexicons()
        assert term_set("mailapani") == ["mailapani"]
    finally:
        use_lexicons(None)


def test_the_taxonomys_names_in_two_languages_translate_a_citizens_word() -> None:
    """Three categories are named in English and Hindi, so the hub reads मानदेय as
    honorarium, and a Hindi complaint reaches a category worded only in English. A pair of
    names the tree repeats ("Others", "अन्य") is one pair: too few to teach anything."""

    def node(code: str, parent: str | None, en: str, hi: str = "", *keywords: str) -> NodeInfo:
        names = {"en": en, "hi": hi} if hi else {"en": en}
        return NodeInfo(code, code.split("-")[0], parent, names, keywords)

    index = TaxonomyIndex(
        [
            node("WCD", None, "Women and Child Development", "महिला एवं बाल विकास"),
            node(
                "WCD-1",
                "WCD",
                "Honorarium of anganwadi workers not paid",
                "आंगनवाड़ी कार्यकर्ताओं का मानदेय नहीं मिला",
            ),
            node("WCD-2", "WCD", "Honorarium of helpers delayed", "सहायिकाओं का मानदेय विलंबित"),
            node("WCD-3", "WCD", "Revision of honorarium", "मानदेय में संशोधन"),
            *(node(f"{d}-9", d, "Others", "अन्य") for d in ("WCD", "EDU", "RDPR")),
            node("EDU", None, "School Education", "स्कूल शिक्षा"),
            node("EDU-1", "EDU", "Guest lecturers", "", "honorarium", "guest lecturer"),
            node("RDPR", None, "Panchayat Raj", "पंचायती राज"),
        ]
    )
    assert index.translations == {"मानदेय": "honorarium"}
    offered = {s.category: s for s in Router(index).suggest("गेस्ट लेक्चरर का मानदेय").suggestions}
    assert "'मानदेय' (read as the taxonomy's names translate it) matched keyword of EDU-1" in (
        explain(offered["EDU-1"])
    )


def test_english_words_written_in_an_indian_script_are_read_as_english() -> None:
    """No lexicon lists every English word citizens spell in Hindi or Kannada letters, but
    the tree's English wording says which are worth finding: बीपीसीएल is BPCL, letter by
    letter; सिलेन्डर sounds as cylinder; ಅಪ್ಲಿಕೇಶನ್ is application in Kannada script. A Hindi
    word that only shares its consonants with English ("troubled", परेशान, and "person") is
    left as it is."""

    def node(code: str, parent: str | None, en: str) -> NodeInfo:
        return NodeInfo(code, code.split("-")[0], parent, {"en": en})

    index = TaxonomyIndex(
        [
            node("PNG", None, "Petroleum and Natural Gas"),
            node("PNG-1", "PNG", "BPCL cylinder refill not delivered"),
            node("RLY", None, "Railways"),
            node("RLY-1", "RLY", "Express train running late"),
            node("EDU", None, "Higher Education"),
            node("EDU-1", "EDU", "Degree application pending"),
            node("HOM", None, "Home Affairs"),
            node("HOM-1", "HOM", "Missing person"),
        ]
    )
    router = Router(index)
    gas = router.suggest("बीपीसीएल का सिलेन्डर अभी तक नहीं आया").suggestions[0]
    assert gas.category == "PNG-1"
    told = explain(gas)
    assert "'बीपीसीएल' (read as the English word it spells) matched name of PNG-1" in told
    assert "'सिलेन्डर' (read as the English word it spells) matched name of PNG-1" in told
    assert best(router, "ನನ್ನ ಅಪ್ಲಿಕೇಶನ್ ಇನ್ನೂ ಬಾಕಿ ಇದೆ") == "EDU-1"
    assert index.knows("person") and index.spelt("परेशान") is None
    assert router.suggest("मैं बहुत परेशान हूँ").suggestions == []


def test_a_kannada_complaint_spelling_an_english_word_meets_its_category(
    sample_router: Router,
) -> None:
    top = sample_router.suggest("ಕಾಂಟಾಮಿನೇಟೆಡ್ ನೀರು ಬರುತ್ತಿದೆ").suggestions[0]  # contaminated
    assert top.category == "WSD-WS-NOW-CONTAM"
    assert "'ಕಾಂಟಾಮಿನೇಟೆಡ್' (read as the English word it spells)" in explain(top)


def test_of_two_english_words_with_the_same_consonants_the_vowels_choose() -> None:
    both = Loanwords(["cancel", "council", "person", "parson", "crop"])
    assert both.read("कैंसिल") == "cancel"
    assert both.read("पर्सन") is None  # as far from person as from parson: no guess
    assert both.read("कृपा") is None  # "please" has the consonants of crop: too few to tell
    # Hindi's ग is hard before any vowel (गेमिंग, gaming); English spelling cannot say
    assert Loanwords(["gaming", "target"]).read("गेमिंग") == "gaming"
    assert Loanwords(["target", "general"]).read("टारगेट") == "target"
    assert sounds("क़ानून") == "kanun"  # a nukta is no sound of its own
    assert Loanwords(["fir"]).read("एफ\u093cआईआर") == "fir"  # F written with a nukta
    # a vowel said before s and a consonant, as Urdu always writes one: station, street
    assert Loanwords(["station"]).read("असटीशन") == "station"  # اسٹیشن, as read
    assert Loanwords(["street"]).read("इस्ट्रीट") == "street"
    # "educated" sounds like "sixth", but English is never spelt with ष
    assert Loanwords(["sixth"]).read("शिक्षित") is None
    # an English "ch" said "k" is heard as Hindi writes it
    said_k = Loanwords(["scholarship", "technical", "chemical", "chairman"])
    assert [said_k.read(w) for w in ("स्कॉलरशिप", "टेक्निकल", "केमिकल", "चेयरमैन")] == [
        "scholarship",
        "technical",
        "chemical",
        "chairman",
    ]


def test_south_indian_scripts_spell_english_as_they_write_it() -> None:
    """Kannada, Telugu, Tamil and Malayalam write English "sh" with ṣa, which Hindi never
    does, and name English letters with short vowels; Malayalam says t with its ṟa, and
    Tamil has one letter each for s and ch, p and f, t and d: each is heard as its writers
    mean it."""
    english = Loanwords(
        {"pension": 5, "connection": 9, "certificate": 3, "department": 4}
        | {"scholarship": 2, "sixth": 1, "lpg": 3, "sbi": 2, "pwd": 1, "bc": 1, "version": 1}
        | {"bengal": 1, "bonds": 9, "ponds": 1, "cmpf": 1}
    )

    def read(word: str) -> str | None:
        return english.read(reading(word), script(word))

    assert read("ಪೆನ್ಷನ್") == read("పెన్షన్") == "pension"
    # letters named with short vowels and a closing virama; I is ఐ
    assert read("ఎల్పిజి") == read("എൽപിജി") == "lpg"
    assert read("ಎಸ್\u200cಬಿಐ") == "sbi"
    assert read("ಪೀಡಬ್ಲ್ಯೂಡೀ") == "pwd"  # named as Hindi names them, too
    # ... but two short syllables are no acronym: ಬಿಸಿ is "hot", not BC
    assert read("ಬಿಸಿ") is None
    # native words: வர்ஷம் ("year") closes on m, not "version"; பெண்கள் ("women") has a
    # nasal English would not write there; கம்பி ("wire") has three consonants, not CMPF
    assert read("വർഷം") is read("వర్షం") is read("பெண்கள்") is read("கம்பி") is None
    # Tamil writes catering and gathering alike: no guess, however often the tree says one
    both = Loanwords({"catering": 30, "gathering": 1})
    assert both.read(reading("ಕೇಟರಿಂಗ್"), "kannada") == "catering"
    assert both.read(reading("கேட்டரிங்"), "tamil") is None
    assert read("पेन्षन") is None  # in Hindi, ष is no English sound
    assert read("ಶಿಕ್ಷಿತ") is None  # ... nor an aspirate in Kannada: "educated", not "sixth"
    assert read("സ്കോളർഷിപ്പ്") == "scholarship"  # Malayalam's ḷa for l
    assert read("ഡിപ്പാർട്ട്മെന്റ്") == "department"  # ന്റ says nt
    assert read("சர்டிபிகேட்") == "certificate"
    assert read("ಕನೆಕ್ಷನ್") == read("കണക്ഷൻ") == "connection"  # kṣa for -ction; ṇ for n
    # two spellings of one word sound alike: the one the tree uses far more often wins
    assert Loanwords({"license": 9, "licence": 1}).read("लाइसेंस") == "license"
    assert Loanwords({"license": 2, "licence": 1}).read("लाइसेंस") is None
    # English's closing e is silent: insurance, not the misspelt insurancy, is इन्सूरेन्स
    assert Loanwords(["insurance", "insurancy"]).read("इन्सूरेन्स") == "insurance"


def test_hinglish_word_is_explained_as_such(sample_router: Router) -> None:
    top = sample_router.suggest("paani nahi aata").suggestions[0]
    assert any(m.word == "paani" and m.via == "lexicon" for m in top.matches)


def test_long_text_about_two_things_suggests_both(sample_router: Router) -> None:
    text = (
        "Sir, I am writing again because nobody listens. "
        * 20
        + "The garbage near the bus stop is rotting and the potholes on the main road "
        "are dangerous, and for three days there has been no water supply in our colony."
    )
    departments = {s.department for s in sample_router.suggest(text, limit=6).suggestions}
    assert {"UDD", "WSD"} <= departments


def test_noise_gets_a_clear_answer(sample_router: Router) -> None:
    for text in ("!!! ??? ...", "1234 5678", "\u200b\u200b"):
        found = sample_router.suggest(text)
        assert found.suggestions == [] and found.note


# -- learning from history -------------------------------------------------------------


def test_model_learns_words_the_tree_does_not_know(sample_router: Router) -> None:
    index = sample_router.index
    assert not index.knows("bwssb")
    examples = [
        Example(f"BWSSB tanker did not come to block {i}", "WSD", "WSD-WS-NOW-AREA", f"R{i}")
        for i in range(12)
    ] + [
        Example(f"pourakarmika skipped house {i} again", "UDD", "UDD-ULB-SWM-GARB-DOOR", f"G{i}")
        for i in range(12)
    ]
    model = HistoryModel.train(index, examples)
    learned = Router(index, model).suggest("complaint about bwssb")
    assert learned.departments[0][0] == "WSD"
    top = learned.suggestions[0]
    assert top.category == "WSD-WS-NOW-AREA"
    assert any(m.source == "learned" and m.word == "bwssb" for m in top.matches)
    assert top.similar and top.similar[0].startswith("R")
    # the stored payload gives the same answers in another process
    again = HistoryModel.from_payload(json.loads(json.dumps(model.to_payload())))
    reloaded = Router(index, again).suggest("complaint about bwssb").departments
    assert [d for d, _ in reloaded] == [d for d, _ in learned.departments]
    assert [p for _, p in reloaded] == pytest.approx([p for _, p in learned.departments])


def test_a_department_history_never_saw_is_not_outvoted_by_busier_ones(
    sample_router: Router,
) -> None:
    """The hub's history is all city garbage and water; a villager's words about the
    panchayat still send the grievance to the panchayat: how often a department was
    filed with before is no head start."""
    index = sample_router.index
    history = [
        *(
            Example(f"garbage not collected from house {i}, the pourakarmika skipped us", "UDD")
            for i in range(30)
        ),
        *(Example(f"no water supply in our street for {i} days", "WSD") for i in range(30)),
    ]
    model = HistoryModel.train(index, history)
    text = "panchayat office not answering about the road"
    assert Router(index, model).suggest(text).departments[0][0] == "RDPR"


def test_seed_examples_teach_what_a_department_does_before_history_does(
    sample_router: Router,
) -> None:
    """History is all city garbage and water; the examples written for the rural
    department name its scheme, a word neither the tree nor history uses."""
    index = sample_router.index
    assert not index.knows("mgnrega")
    history = [
        *(Example(f"garbage not collected from house {i}, nobody came", "UDD") for i in range(30)),
        *(Example(f"no water supply in our street for {i} days", "WSD") for i in range(30)),
    ]
    seeds = seed_examples(
        {
            "RDPR": ["MGNREGA wages not paid for three months", "mgnrega job card not issued"],
            "CPGRAMS-ONLY": ["a department this taxonomy does not have"],
        },
        index.departments,
    )
    assert [e.department for e in seeds] == ["RDPR", "RDPR"]  # the unknown one is skipped
    assert all(e.seed and e.weight == SEED_WEIGHT and not e.reference for e in seeds)
    text = "mgnrega wages pending since march"
    before = Router(index, HistoryModel.train(index, history)).suggest(text).departments
    assert len({round(p, 6) for _, p in before}) == 1  # no word tells the departments apart
    model = HistoryModel.train(index, history + seeds)
    assert model.info["seeds"] == 2
    routed = Router(index, model).suggest(text)
    assert routed.departments[0][0] == "RDPR" and routed.departments[0][1] > 0.5
    assert not any(s.similar for s in routed.suggestions)  # a seed is no grievance to cite
    # words the model learned from seeds are not said to come from routed grievances
    assert "routed grievances taught:" not in explain(routed.suggestions[0])


def test_seed_examples_take_no_place_from_the_grievances_a_suggestion_cites(
    sample_router: Router,
) -> None:
    index = sample_router.index
    history = [
        Example(f"BWSSB tanker did not come to block {i}", "WSD", "WSD-WS-NOW-AREA", f"R{i}")
        for i in range(12)
    ]
    seeds = seed_examples({"WSD": ["bwssb tanker did not come"] * 30}, index.departments)
    top = Router(index, HistoryModel.train(index, history + seeds)).suggest(
        "bwssb tanker did not come"
    )
    assert top.suggestions[0].category == "WSD-WS-NOW-AREA"  # the grievances' category
    assert top.suggestions[0].similar and top.suggestions[0].similar[0].startswith("R")


def test_a_seed_examples_file_with_problems_is_refused_naming_each(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("examples:\n  MPANG: ['']\n  DOTEL: gas\ncomment: hi\n", encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        read_examples(seeds)
    assert refused.value.problems == [
        f"{seeds}: examples.MPANG.0: String should have at least 1 character",
        f"{seeds}: examples.DOTEL: Input should be a valid list",
        f"{seeds}: comment: Extra inputs are not permitted",
    ]
    seeds.write_text("examples: [", encoding="utf-8")
    with pytest.raises(RuleError, match="not valid YAML"):
        read_examples(seeds)
    with pytest.raises(RuleError, match="cannot be read: Is a directory"):
        read_examples(tmp_path)
    seeds.write_text("version: 2\nexamples:\n  MPANG: [gas]\n  MPANG: ['   ']\n", encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        read_examples(seeds)
    assert refused.value.problems == [
        f"{seeds}: MPANG (line 4): listed twice; give it one list",  # YAML would keep one
        f"{seeds}: version: Input should be 1",
        f"{seeds}: examples.MPANG.0: String should have at least 1 character",
    ]
    seeds.write_text("- gas cylinder not delivered\n", encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        read_examples(seeds)
    assert refused.value.problems == [f"{seeds}: expected a mapping of 'version', 'examples'"]
    seeds.write_text("version: 1\nexamples:\n", encoding="utf-8")
    assert read_examples(seeds) == {}


def test_a_seed_examples_file_too_large_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routing_rules import overlays

    monkeypatch.setattr(overlays, "MAX_FILE_BYTES", 100)
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text("examples:\n  MPANG: [" + "gas, " * 40 + "gas]\n", encoding="utf-8")
    with pytest.raises(RuleError) as refused:
        read_examples(seeds)
    assert refused.value.problems == [f"{seeds}: 225 bytes; a file may hold 100"]


def test_the_shipped_seed_examples_are_for_cpgrams_departments() -> None:
    if not CPGRAMS_DIR.is_dir():
        pytest.skip(f"CPGRAMS data not found at {CPGRAMS_DIR}")
    seeds = read_examples(CPGRAMS_EXAMPLES)
    rules = read_cpgrams(CPGRAMS_DIR, detach_orphans=True)
    filed_with = {r.org for r in read_rows(CPGRAMS_DIR / "grievances_dev.csv")}
    assert set(seeds) <= {d.code for d in rules.departments} | filed_with
    assert all(len(texts) >= 15 for texts in seeds.values())


def test_model_payload_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        HistoryModel.from_payload({"version": 999})


# -- quoted registration numbers -------------------------------------------------------

DEPARTMENTS = ("DOURD", "DORLD", "DHLTH", "MORTH", "UDD", "WSD", "DOEXP")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("ref my earlier grievance DOURD/E/2022/0012341, no reply", [("DOURD",)]),
        ("In reference to dhlth/e/2023/0000123 dated 12.1.2023", [("DHLTH",)]),
        # an anonymised export masks every other character with X
        ("REFERENCE: GRIEVANCE NUMBER XOXRX/X/X0X2X2X4X1", [("DOURD",)]),
        ("DOXXD/X/X0X2X2X4X1", [("DORLD", "DOURD")]),  # fits two departments
        ("earlier XHXTX/X/X0X3X0X0X1X2 and XOXTX/X/X0X2X1X9X4", [("DHLTH",), ("MORTH",)]),
        ("DOEXP/E/2023/0000001", [("DOEXP",)]),  # a code with a real X in it
    ],
)
def test_quoted_registration_numbers_name_their_departments(
    text: str, named: list[tuple[str, ...]]
) -> None:
    assert [r.departments for r in find_references(text, DEPARTMENTS)] == named


@pytest.mark.parametrize(
    "text",
    [
        "Ayush/Others/General is the category",  # a path, not a number
        "XXXXX/X/X0X2X2X4X1",  # too masked to name anyone
        "ABCDE/E/2022/0012341",  # no such department
        "file 3287/B3/2022 of the court",
        "tax/ab/2022/123456 and box/no/123456",  # a lower-case x is a letter, not a mask
        "XOXRX/E/2022/0012341",  # a masked code in an unmasked number: not an export's
        "on 12/11/2022 at /usr/local/bin",
        "",
    ],
)
def test_what_is_not_a_quoted_number(text: str) -> None:
    assert find_references(text, DEPARTMENTS) == []


def test_quotes_share_their_weight() -> None:
    refs = find_references("DOXXD/X/X0X2X2X4X1 and DOURD/E/2022/0000001", DEPARTMENTS)
    assert candidates(refs) == pytest.approx({"DOURD": 0.75, "DORLD": 0.25})


def test_codes_keep_the_taxonomys_case_and_quotes_are_capped() -> None:
    refs = find_references("see Udd-1/E/2023/0000001", ["Udd-1", "WSD"])
    assert refs == []  # CPGRAMS codes are letters and digits only
    pattern = format_pattern("{state}-{dept}-{year}-{seq}", "KA")
    assert pattern is not None
    [ref] = find_references("KA-Swm.Blr-2026-12", ["Swm.Blr", "WSD"], [pattern])
    assert ref.departments == ("Swm.Blr",)
    many = " ".join(f"KA-WSD-2026-{i}" for i in range(1000))
    assert len(find_references(many, DEPARTMENTS, [pattern])) == 10


def test_a_format_naming_the_department_twice_reads_one_code() -> None:
    pattern = format_pattern("{dept}/{state}-{dept}-{seq}", "KA")
    assert pattern is not None
    [ref] = find_references("UDD/KA-UDD-12 and WSD/KA-UDD-13", DEPARTMENTS, [pattern])
    assert ref.token == "UDD/KA-UDD-12"


def test_the_hubs_own_numbers_are_read_in_its_configured_format() -> None:
    pattern = format_pattern("{state}-{dept}-{year}-{seq:07d}", "KA")
    assert pattern is not None
    refs = find_references("my ka-udd-2026-0000012 is still open", DEPARTMENTS, [pattern])
    assert [(r.token, r.departments) for r in refs] == [("ka-udd-2026-0000012", ("UDD",))]
    other_state = find_references("TN-UDD-2026-0000012", DEPARTMENTS, [pattern])
    assert other_state == []
    assert format_pattern("{state}/{year}/{seq}", "KA") is None  # names no department
    with pytest.raises(ValueError, match="unknown field"):
        format_pattern("{state}-{office}-{seq}", "KA")


def test_a_follow_up_goes_where_its_quoted_number_says(sample_router: Router) -> None:
    pattern = format_pattern("{state}-{dept}-{year}-{seq:07d}", "KA")
    assert pattern is not None
    text = "No action yet on KA-WSD-2026-0000042, the problem on our road continues"
    plain = sample_router.suggest(text)
    quoted = sample_router.suggest(text, numbers=[pattern])
    assert quoted.departments[0][0] == "WSD"
    assert dict(quoted.departments)["WSD"] > dict(plain.departments).get("WSD", 0.0)
    top = next(s for s in quoted.suggestions if s.department == "WSD")
    assert top.matches[0].source == "reference" and top.matches[0].word == "KA-WSD-2026-0000042"
    assert "quotes KA-WSD-2026-0000042" in explain(top)
    # words that agree with the quote make the hub surer than either alone
    agree = sample_router.suggest("KA-WSD-2026-0000042: still no water supply", numbers=[pattern])
    alone = sample_router.suggest("still no water supply")
    assert dict(agree.departments)["WSD"] > dict(alone.departments)["WSD"]


def test_a_bare_quoted_number_is_still_routed(sample_router: Router) -> None:
    pattern = format_pattern("{state}-{dept}-{year}-{seq:07d}", "KA")
    assert pattern is not None
    found = sample_router.suggest("KA-UDD-2026-0000007 ???", numbers=[pattern])
    assert found.departments[0][0] == "UDD" and found.suggestions
    assert found.suggestions[0].category is None  # the department, not a guessed category
    assert sample_router.suggest("KA-UDD-2026-0000007 ???").suggestions == []


def test_a_quote_is_trusted_as_often_as_history_says_quotes_are_right() -> None:
    departments = ["UDD", "WSD", "PWD"]
    words = np.array([0.6, 0.3, 0.1])
    # the quote names WSD; quotes were right 80% of the time: the words keep the rest
    posterior = with_references(words, departments, {"WSD": 1.0}, 0.8)
    assert posterior == pytest.approx([0.2 * 0.6, 0.8 + 0.2 * 0.3, 0.2 * 0.1])
    # a follow-up repeating its first grievance's words is not counted twice
    agreeing = with_references(np.array([0.05, 0.9, 0.05]), departments, {"WSD": 1.0}, 0.8)
    assert 0.9 < agreeing[1] == pytest.approx(0.98)
    # a masked number that fits UDD and PWD: the words choose between them
    masked = with_references(words, departments, {"UDD": 0.5, "PWD": 0.5}, 0.8)
    assert masked == pytest.approx([0.8 * 6 / 7 + 0.12, 0.06, 0.8 / 7 + 0.02])
    # words that say nothing: the quote's share of the rate, the rest spread evenly
    mute = with_references(np.zeros(3), departments, {"WSD": 1.0}, 0.8)
    assert mute == pytest.approx([0.2 / 3, 0.8 + 0.2 / 3, 0.2 / 3])


def test_how_much_a_quote_counts_is_learned(sample_router: Router) -> None:
    index = sample_router.index
    right = [
        Example(f"DOURD/E/2022/00000{i} sewage overflow again", "WSD", None, f"W{i}")
        for i in range(10)
    ]
    # quotes of UDD numbers that were really about water
    misled = [
        Example(f"KA-UDD-2026-000000{i} water tanker", "WSD", None, f"M{i}") for i in range(10)
    ]
    pattern = format_pattern("{state}-{dept}-{year}-{seq:07d}", "KA")
    assert pattern is not None
    honest = HistoryModel.train(
        index,
        right
        + [Example(f"KA-WSD-2026-000000{i} no water", "WSD", None, f"H{i}") for i in range(10)],
        numbers=[pattern],
    )
    fooled = HistoryModel.train(index, right + misled, numbers=[pattern])
    assert honest.reference_rate > 0.9 > 0.1 > fooled.reference_rate
    again = HistoryModel.from_payload(json.loads(json.dumps(fooled.to_payload())))
    assert again.reference_rate == pytest.approx(fooled.reference_rate)
    text = "KA-UDD-2026-0000099 garbage"
    trusting = Router(index, honest).suggest(text, numbers=[pattern]).departments
    wary = Router(index, fooled).suggest(text, numbers=[pattern]).departments
    assert dict(trusting)["UDD"] > dict(wary)["UDD"]


def test_a_citizen_who_names_the_department_is_heard(sample_router: Router) -> None:
    """'Welfare' is in no category of the Social Welfare Department, only in its name: a
    letter to that department says where it is going, and the explanation says so."""
    rules = read_rules(SAMPLE_RULES)
    names = {d.code: d.names for d in rules.departments}
    index = TaxonomyIndex(list(sample_router.index.nodes.values()), None, names)
    assert "welfar" not in sample_router.index.postings and index.knows("welfar")
    text = "To the welfare department: nobody answers my letters"
    named = index.score(weigh(index, terms(text))[0]).named
    swd_at = index.dept_pos["SWD"]
    assert named[swd_at] == 1.0 and max(np.delete(named, swd_at)) < 0.5  # 'department' is common
    # Hindi names count too: समाज कल्याण विभाग
    hindi = index.score(weigh(index, terms("समाज कल्याण विभाग को पत्र"))[0]).named
    assert hindi.argmax() == index.dept_pos["SWD"]

    history = [
        *(Example(f"potholes on road {i}", "UDD", "UDD-ULB-RD-POT", f"U{i}") for i in range(6)),
        *(Example(f"pension not received {i}", "SWD", None, f"S{i}") for i in range(6)),
    ]
    model = HistoryModel.train(index, history)
    deaf = dict(Router(index, replace(model, named_weight=0.0)).suggest(text).departments)
    heard = Router(index, replace(model, named_weight=3.0)).suggest(text)
    assert heard.departments[0][0] == "SWD" and heard.departments[0][1] > deaf["SWD"]
    swd = heard.suggestions[0]
    assert any(m.source == "department" and m.word == "welfare" for m in swd.matches)
    assert "'welfare' names the department SWD" in explain(swd)
    # a model saved before the name counted gives it no weight
    payload = model.to_payload()
    assert HistoryModel.from_payload(payload).named_weight == model.named_weight
    del payload["named_weight"]
    assert HistoryModel.from_payload(payload).named_weight == 0.0


def test_a_psu_only_one_ministry_runs_points_to_that_ministry() -> None:
    """A letter about unpaid salary reads like a wages complaint, but naming THDC, a
    power PSU that only the Ministry of Power's keywords have, points to that ministry. A
    keyword two departments share, or a word only a name has, points to neither."""
    nodes = [
        NodeInfo("POW", "POW", None, {"en": "Power"}, keywords=("thdc", "transformer")),
        NodeInfo("POW-HR", "POW", "POW", {"en": "Employees of power PSUs"}, keywords=("salary",)),
        NodeInfo("LAB", "LAB", None, {"en": "Labour"}, keywords=("wages", "employer")),
        NodeInfo("LAB-WAGE", "LAB", "LAB", {"en": "Salary not paid"}, keywords=("salary",)),
    ]
    index = TaxonomyIndex(nodes)
    text = "THDC has not paid my salary since I resigned"
    own = index.score(weigh(index, terms(text))[0]).own
    assert own[index.dept_pos["POW"]] == 1.0 and own[index.dept_pos["LAB"]] == 0.0
    employer = index.score(weigh(index, terms("the employer ignores me"))[0]).own
    assert employer[index.dept_pos["LAB"]] == 1.0 and employer[index.dept_pos["POW"]] == 0.0
    shared = index.score(weigh(index, terms("my salary is late"))[0]).own  # both have it
    assert not shared.any()
    named = index.score(weigh(index, terms("power"))[0]).own  # a name, not a keyword
    assert not named.any()

    history = [
        *(
            Example(f"not paid my salary since I resigned {i}", "LAB", "LAB-WAGE", f"L{i}")
            for i in range(8)
        ),
        *(Example(f"transformer burnt no power {i}", "POW", "POW", f"P{i}") for i in range(8)),
    ]
    model = HistoryModel.train(index, history)
    deaf = dict(Router(index, replace(model, own_weight=0.0)).suggest(text).departments)
    routing = Router(index, replace(model, own_weight=4.0)).suggest(text)
    heard = dict(routing.departments)
    assert deaf["LAB"] > deaf["POW"] and heard["POW"] > heard["LAB"]
    assert "'thdc' matched keyword of POW" in explain(routing.suggestions[0])
    # whichever of its categories is suggested, the keyword is named as the reason
    assert [(m.word, m.node) for m in index.owning("POW", terms(text), {"thdc": 1.0})] == [
        ("thdc", "POW")
    ]
    assert index.owning("LAB", terms(text), {"thdc": 1.0}) == []
    # a model saved before these keywords counted gives them no weight
    payload = model.to_payload()
    assert HistoryModel.from_payload(payload).own_weight == model.own_weight
    del payload["own_weight"]
    payload["version"] = 4
    assert HistoryModel.from_payload(payload).own_weight == 0.0


def test_confidence_falls_when_the_nearest_past_grievances_went_to_several_departments(
    sample_router: Router, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complaint like past ones that all went to one department keeps the model's
    probability; one like past ones split between two departments keeps only part of it,
    so it waits for a GRO at a threshold the first passes. Near no past grievance at all,
    half of it stands."""
    index = sample_router.index
    history = [
        *(Example("water tanker did not come today", "WSD", None, f"W{i}") for i in range(8)),
        *(Example("drain overflowing onto the road", "UDD", None, f"U{i}") for i in range(4)),
        *(Example("drain overflowing onto the road", "WSD", None, f"V{i}") for i in range(4)),
    ]
    router = Router(index, HistoryModel.train(index, history))
    agreed, split = "water tanker did not come", "drain overflowing onto the road"

    def confidence(text: str) -> tuple[str, float]:
        return router.suggest(text).departments[0]

    tempered = {text: confidence(text) for text in (agreed, split)}
    monkeypatch.setattr(ranker, "AGREEMENT_FLOOR", 1.0)  # the model's probabilities as such
    plain = {text: confidence(text) for text in (agreed, split)}
    assert tempered[agreed][0] == plain[agreed][0] == "WSD"
    assert tempered[agreed][1] == pytest.approx(plain[agreed][1])  # every neighbour agrees
    department, kept = tempered[split]
    assert department == plain[split][0]
    # half stands, and half again in proportion to the vote: about half each way
    assert 0.6 * plain[split][1] < kept < 0.9 * plain[split][1]
    monkeypatch.undo()

    reading = router.department_probabilities("pothole on the highway")  # no past grievance
    assert reading.cited == [] and set(reading.agreement.tolist()) == {0.5}
    assert Router(index).department_probabilities(split).agreement.tolist() == [1.0] * len(
        Router(index).departments
    )  # the tree alone has no neighbours to ask


def test_one_near_identical_grievance_filed_elsewhere_is_one_voice_among_the_nearest(
    sample_router: Router,
) -> None:
    """A citizen's complaint repeats, word for word, one filed with the water board; nine
    others much like it went to the city. Each of the nearest past grievances counts once
    in how far they agree, however near: the one copy does not make the water board the
    neighbours' choice."""
    index = sample_router.index
    text = "sewage overflowing from the manhole on our street for a week"
    history = [
        Example(text, "WSD", None, "W1"),
        *(
            Example(f"sewage overflowing from the manhole {place}", "UDD", None, f"U{i}")
            for i, place in enumerate(
                [
                    "near the bus stand",
                    "at the market",
                    "by the temple",
                    "outside the school",
                    "at the junction",
                    "near the park",
                    "on the main road",
                    "by the hospital",
                    "near the lake",
                ]
            )
        ),
    ]
    router = Router(index, HistoryModel.train(index, history))
    reading = router.department_probabilities(text)
    kept = dict(zip(router.departments, reading.agreement.tolist(), strict=True))
    assert kept["WSD"] == pytest.approx(ranker.AGREEMENT_FLOOR + (1 - ranker.AGREEMENT_FLOOR) / 10)
    assert kept["UDD"] == pytest.approx(
        ranker.AGREEMENT_FLOOR + (1 - ranker.AGREEMENT_FLOOR) * 9 / 10
    )
    assert kept["SWD"] == ranker.AGREEMENT_FLOOR  # none of the nearest went there


def test_words_that_fit_no_specific_category_are_offered_its_catch_all() -> None:
    """'My pension is stuck' names the pension service and none of its categories: its
    'Others' is offered, not whichever specific sibling happened to come first."""
    nodes = [
        NodeInfo("PEN", "DOP", None, {"en": "Pensioners Welfare"}),
        NodeInfo("PEN-S", "DOP", "PEN", {"en": "Pension"}),
        NodeInfo("PEN-S-A", "DOP", "PEN-S", {"en": "Arrears not paid"}),
        NodeInfo("PEN-S-B", "DOP", "PEN-S", {"en": "Bank account changed"}),
        NodeInfo("PEN-S-O", "DOP", "PEN-S", {"en": "Others", "hi": "अन्य"}),
        NodeInfo("PEN-S-R", "DOP", "PEN-S", {"en": "Revision after pay commission"}),
    ]
    router = Router(TaxonomyIndex(nodes))
    assert router.index.catch_all.tolist() == [False, False, True, False]
    assert best(router, "my pension is stuck for months") == "PEN-S-O"
    assert best(router, "pension revision is pending") == "PEN-S-R"  # a specific word fits


def test_the_categories_a_department_is_usually_filed_under_are_offered(
    sample_router: Router,
) -> None:
    """Most of the water board's grievances were filed under sewage overflow: a text that
    names the board but no category of it is offered that category too, and told why."""
    index = sample_router.index
    history = [
        *(
            Example(f"drain near house {i} again", "WSD", "WSD-SW-BLOCK-OVF", f"O{i}")
            for i in range(10)
        ),
        Example("muddy water from the tap", "WSD", "WSD-WS-NOW-CONTAM", "C1"),
        Example("no water in our street", "WSD", "WSD-WS-NOW-AREA", "A1"),
        *(Example(f"garbage not collected {i}", "UDD", None, f"G{i}") for i in range(6)),
    ]
    model = HistoryModel.train(index, history)
    assert model.common_categories("WSD") == pytest.approx(
        {"WSD-SW-BLOCK-OVF": 10 / 12, "WSD-WS-NOW-CONTAM": 1 / 12, "WSD-WS-NOW-AREA": 1 / 12}
    )
    assert model.common_categories("UDD") == {}  # its grievances named no category

    text = "the water supply board does not answer our calls"
    offered = {s.category: s for s in Router(index, model).suggest(text).suggestions}
    usual = offered["WSD-SW-BLOCK-OVF"]
    assert usual.department == "WSD" and "past grievances of the department" in explain(usual)
    assert "WSD-SW-BLOCK-OVF" not in {s.category for s in sample_router.suggest(text).suggestions}


def test_each_quoted_department_earns_its_own_rate(sample_router: Router) -> None:
    """Follow-ups about water quote their first filing with Rural Development, which
    forwarded them: an RDPR number in a text says little about where it belongs, while
    the Water Supply Department's numbers keep their word."""
    index = sample_router.index
    pattern = format_pattern("{state}-{dept}-{year}-{seq:07d}", "KA")
    assert pattern is not None
    history = [
        *(Example(f"KA-WSD-2026-000001{i} no water again", "WSD", None, f"W{i}") for i in range(8)),
        *(Example(f"KA-RDPR-2026-00000{i} water tanker", "WSD", None, f"R{i}") for i in range(8)),
        Example("KA-SWD-2026-0000001 pension", "SWD", None, "S1"),  # one quote: near the mean
    ]
    model = HistoryModel.train(index, history, numbers=[pattern])
    rates = model.reference_rates
    assert rates["RDPR"] < 0.25 < model.reference_rate < 0.75 < rates["WSD"]
    assert abs(rates["SWD"] - model.reference_rate) < abs(1.0 - model.reference_rate)
    assert model.quote_rate({"RDPR": 0.5, "WSD": 0.5}) == pytest.approx(
        (rates["RDPR"] + rates["WSD"]) / 2
    )
    assert model.quote_rate({"UDD": 1.0}) == model.reference_rate  # never quoted: the mean

    router = Router(index, model)
    text = "KA-RDPR-2026-0000099 no water in the tap for a week"
    wary = dict(router.suggest(text, numbers=[pattern]).departments)
    trusting = dict(
        Router(index, replace(model, reference_rates={}))
        .suggest(text, numbers=[pattern])
        .departments
    )
    assert wary["RDPR"] < trusting["RDPR"] and wary["WSD"] > trusting["WSD"]
    assert max(wary, key=lambda c: wary[c]) == "WSD"
    again = HistoryModel.from_payload(json.loads(json.dumps(model.to_payload())))
    assert again.reference_rates == pytest.approx(rates)


def test_a_model_saved_before_quotes_counted_loads_with_even_odds(sample_router: Router) -> None:
    examples = [Example(f"water tanker {i}", "WSD", None, f"R{i}") for i in range(12)]
    payload = HistoryModel.train(sample_router.index, examples).to_payload()
    payload["version"] = 2
    del payload["reference_rate"]
    assert HistoryModel.from_payload(payload).reference_rate == 0.5


# -- GraphQL ---------------------------------------------------------------------------

SUGGEST = """
query Suggest($text: String!, $boundary: String, $limit: Int! = 5, $locale: String! = "en") {
  routeSuggestions(text: $text, boundaryCode: $boundary, limit: $limit) {
    suggestions {
      categoryCode categoryName(locale: $locale) departmentCode departmentName
      office { code name } officeNote score confidence categoryConfidence explanation
      matches { word source node via } similarGrievances
    }
    note
    errors { field code message }
  }
}
"""


async def test_citizen_gets_suggestions_with_the_office_for_the_place(
    client: httpx.AsyncClient, people: People
) -> None:
    body = await gql(
        client,
        SUGGEST,
        {
            "text": "garbage not collected, heaps everywhere",
            "boundary": "KA-BLR-BBMP-W150",
            "locale": "hi",
        },
        as_user=people.asha,
    )
    answer = data_of(body)["routeSuggestions"]
    assert answer["errors"] == []
    top = answer["suggestions"][0]
    assert top["departmentCode"] == "UDD"
    assert top["categoryCode"].startswith("UDD-ULB-SWM-GARB")
    assert top["categoryName"] and any("\u0900" <= ch <= "\u097f" for ch in top["categoryName"])
    assert top["office"] is not None and top["officeNote"]
    assert "garbage" in top["explanation"]
    assert top["similarGrievances"] == []  # never shown to citizens


@pytest.mark.parametrize(
    ("text", "limit", "field", "code"),
    [
        ("   ", 5, "text", "empty"),
        ("x" * 20_001, 5, "text", "too_long"),
        ("\x00\x01\x02\x03\x04\x05\x06\x07" * 20, 5, "text", "not_text"),
        ("garbage", 0, "limit", "out_of_range"),
        ("garbage", 500, "limit", "out_of_range"),
    ],
)
async def test_bad_text_is_refused_naming_the_field(
    client: httpx.AsyncClient, people: People, text: str, limit: int, field: str, code: str
) -> None:
    body = await gql(client, SUGGEST, {"text": text, "limit": limit}, as_user=people.asha)
    answer = data_of(body)["routeSuggestions"]
    assert answer["suggestions"] == []
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [(field, code)]


async def test_unknown_boundary_is_named(client: httpx.AsyncClient, people: People) -> None:
    body = await gql(
        client, SUGGEST, {"text": "garbage", "boundary": "NOWHERE"}, as_user=people.asha
    )
    errors = data_of(body)["routeSuggestions"]["errors"]
    assert errors and errors[0]["field"] == "boundaryCode"


async def test_a_boundary_code_longer_than_any_is_named(
    client: httpx.AsyncClient, people: People
) -> None:
    body = await gql(
        client, SUGGEST, {"text": "garbage", "boundary": "X" * 300}, as_user=people.asha
    )
    answer = data_of(body)["routeSuggestions"]
    assert [(e["field"], e["code"]) for e in answer["errors"]] == [("boundaryCode", "too_long")]
    assert "X" * 300 not in json.dumps(body)  # the input is not echoed back


@pytest.mark.parametrize(
    ("text", "department"),
    [
        # Malayalam written with the joiner for its chillus (an older, common way to type
        # them): 'pension', two of its nine characters joiners
        ("\u0d2a\u0d46\u0d28\u0d4d\u200d\u0d37\u0d28\u0d4d\u200d", "SWD"),
        ("gar\u00adbage not col\u00adlected", "UDD"),  # soft hyphens from a pasted text
    ],
)
async def test_joiners_and_soft_hyphens_are_text(
    client: httpx.AsyncClient, people: People, text: str, department: str
) -> None:
    body = await gql(client, SUGGEST, {"text": text}, as_user=people.asha)
    answer = data_of(body)["routeSuggestions"]
    assert answer["errors"] == []
    assert answer["suggestions"][0]["departmentCode"] == department


async def test_mixed_script_text_is_routed(client: httpx.AsyncClient, people: People) -> None:
    body = await gql(
        client, SUGGEST, {"text": "street light खराब है, batti nahi jalti"}, as_user=people.asha
    )
    answer = data_of(body)["routeSuggestions"]
    assert answer["errors"] == [] and answer["suggestions"][0]["departmentCode"] == "UDD"


async def test_a_citizens_follow_up_quoting_the_hubs_number_goes_to_its_department(
    client: httpx.AsyncClient, people: People
) -> None:
    text = "Still nothing done about KA-WSD-2026-0000042 on our road"
    body = await gql(client, SUGGEST, {"text": text}, as_user=people.asha)
    top = data_of(body)["routeSuggestions"]["suggestions"][0]
    assert top["departmentCode"] == "WSD"
    assert top["matches"][0] == {
        "word": "KA-WSD-2026-0000042",
        "source": "reference",
        "node": "WSD",
        "via": "",
    }
    assert top["explanation"].startswith("quotes KA-WSD-2026-0000042, a registration number of")


# -- auto-routing and triage -----------------------------------------------------------


async def test_confident_text_is_routed_and_the_decision_is_on_the_timeline(
    rt: Runtime, people: People
) -> None:
    data = FilingData(
        description="Contaminated muddy water is coming from the taps, it smells.",
        channel=Channel.WHATSAPP,
        boundary_code="KA-BLR-BBMP-W150",
    )
    loose = Runtime(settings=rt.settings.replace(routing_auto_threshold=0.3), jobs=rt.jobs)
    grievance = await file_grievance(loose, people.actor(people.asha), data)
    assert grievance.status == GrievanceStatus.PENDING_ASSIGNMENT
    row = await Grievance.get(id=grievance.id).select_related("category", "department")
    assert row.category is not None and row.category.code == "WSD-WS-NOW-CONTAM"
    assert row.department is not None and row.department.code == "WSD"
    assert row.office_id is not None
    events = await GrievanceEvent.filter(grievance_id=grievance.id).order_by("id")
    assert [e.action for e in events] == [Action.FILE, Action.ROUTE]
    assert events[0].to_status == GrievanceStatus.TRIAGE
    route = events[1]
    assert route.actor_role == "system" and route.to_status == GrievanceStatus.PENDING_ASSIGNMENT
    assert "contaminated" in route.note.lower() and "confidence" in route.note
    assert route.after["routing"]["category_code"] == "WSD-WS-NOW-CONTAM"


@pytest.mark.parametrize(
    "text",
    [
        "I have been waiting for months for my passport",  # 'months': a pension keyword
        "light bill bahut zyada aaya hai",  # an electricity bill; the sample has street lights
        "current nahi hai ghar me",  # 'ghar' is in a garbage category's Hindi name
        "lorem ipsum dolor sit amet",
    ],
)
async def test_a_word_or_two_in_common_is_not_enough_to_route_without_a_gro(
    rt: Runtime, people: People, text: str
) -> None:
    # no history yet, the default threshold: the tree's wording alone must be strong to route
    assert rt.settings.routing_auto_threshold == 0.7
    data = FilingData(description=text, channel=Channel.WHATSAPP, citizen_mobile="9900000001")
    grievance = await file_grievance(rt, people.actor(people.operator), data)
    assert grievance.status == GrievanceStatus.TRIAGE and grievance.category_id is None


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Contaminated muddy water is coming from the taps, it smells.", "WSD-WS-NOW-CONTAM"),
        ("old age pension not received for 3 months", "SWD-PEN-OLD-DELAY"),
        ("borewell handpump not working in our village", "RDPR-GP-DW-BORE"),
    ],
)
async def test_a_plain_complaint_is_routed_with_no_history_at_the_default_threshold(
    rt: Runtime, people: People, text: str, category: str
) -> None:
    data = FilingData(description=text, channel=Channel.WHATSAPP, citizen_mobile="9900000001")
    grievance = await file_grievance(rt, people.actor(people.operator), data)
    row = await Grievance.get(id=grievance.id).select_related("category")
    assert row.category is not None and row.category.code == category


def test_a_paan_shop_is_not_the_water_board(sample_router: Router) -> None:
    # पानी (water) stems to पान (betel leaf) in Hindi's stemmer: it is kept whole
    paan = sample_router.suggest("पान की दुकान वाला ज़्यादा पैसे ले रहा है")
    assert all(s.department != "WSD" for s in paan.suggestions)
    water = sample_router.suggest("पानी नहीं आ रहा है")
    assert water.suggestions[0].department == "WSD"


def test_a_letter_with_a_diacritic_is_its_plain_letter(sample_router: Router) -> None:
    assert words("garbagé not collected, café naïve") == [
        *("garbage", "not", "collected", "cafe", "naive")
    ]
    top = sample_router.suggest("garbagé not collected").suggestions[0]
    assert top.department == "UDD" and any(m.word == "garbage" for m in top.matches)
    assert words("कचरा ಕಸ") == ["कचरा", "ಕಸ"]  # the marks of Indian scripts stay
    assert words("saḍak ṭūṭī hai") == ["sadak", "tuti", "hai"]  # romanised Hindi's letters


def test_a_text_about_two_problems_gets_suggestions_for_both() -> None:
    lpg = [
        NodeInfo(f"PET-{i}", "PET", None, {"en": f"LPG cylinder {what}"}, ("lpg", "cylinder"))
        for i, what in enumerate(("not delivered", "leaking", "overcharged", "others", "subsidy"))
    ]
    railway = [NodeInfo("RLY-1", "RLY", None, {"en": "Railway ticket refund"}, ("railway",))]
    router = Router(TaxonomyIndex([*lpg, *railway]))
    text = "LPG cylinder not delivered, the LPG cylinder is leaking; and a railway refund"
    found = router.suggest(text, limit=5)
    assert found.departments[0][0] == "PET"
    assert [s.department for s in found.suggestions] == ["PET", "PET", "PET", "RLY", "PET"]


def test_a_real_english_word_is_not_taken_for_a_misspelling_and_a_swap_is() -> None:
    index = TaxonomyIndex(
        [
            NodeInfo("SKL-1", "SKL", None, {"en": "Skill training"}),
            NodeInfo("RLV-1", "RLV", None, {"en": "Relieving order"}),
            NodeInfo("PEN-1", "PEN", None, {"en": "Pension not received"}),
        ]
    )
    # 'still' is one letter from the taxonomy's 'skill', but a word of its own
    assert "skill" not in weigh(index, terms("still pending"))[0]
    # letters swapped: 'recieved' is received (one swap), not relieved (one letter changed)
    corrected = weigh(index, terms("pensoin not recieved"))[0]
    assert set(corrected) == {stem("pension"), stem("received")}
    assert Router(index).suggest("pensoin not recieved").suggestions[0].department == "PEN"


def test_a_real_word_may_be_the_other_spelling_and_a_lexicons_word_is_meant(
    sample_router: Router,
) -> None:
    index = TaxonomyIndex(
        [
            NodeInfo("TR-1", "TR", None, {"en": "Driving licence not issued"}),
            NodeInfo("LB-1", "LB", None, {"en": "Labour court"}),
        ]
    )
    router = Router(index)
    assert router.suggest("license").suggestions[0].department == "TR"
    assert router.suggest("labor dispute").suggestions[0].department == "LB"
    # the Hindi lexicon reads ट्रेन as train: not a misspelling of the sample's 'drain'
    assert stem("drain") not in weigh(sample_router.index, terms("ट्रेन late hai"))[0]
    # but a lexicon's American spelling finds the British taxonomy (लाइसेंस: license)
    assert router.suggest("लाइसेंस नहीं मिला").suggestions[0].department == "TR"


@pytest.mark.parametrize("text", ["garbage", "kachra 5 din se nahi uthaya", "pension"])
def test_asking_for_more_suggestions_changes_none_of_the_first(
    sample_router: Router, text: str
) -> None:
    lists = [sample_router.suggest(text, limit=n).suggestions for n in (1, 2, 3, 5, 20)]
    for shorter, longer in itertools.pairwise(lists):
        assert longer[: len(shorter)] == shorter


def test_tree_only_confidence_is_the_same_in_a_small_taxonomy_and_asks_for_evidence(
    sample_router: Router,
) -> None:
    one = sample_router.suggest("months").suggestions[0]  # one keyword of one leaf
    two = sample_router.suggest("old age pension months").suggestions[0]
    assert one.department == two.department == "SWD"
    assert one.confidence < 0.5 < 0.7 < two.confidence
    # the rest of the probability is a department the four-department sample does not have
    assert sum(p for _, p in sample_router.suggest("months").departments) < 0.5
    # however strong the words, a taxonomy of four departments is not read as all there is
    strong = "old age pension vridha not received stopped delayed months pension"
    assert sample_router.suggest(strong).suggestions[0].confidence < 0.9


def test_words_that_agree_with_a_quote_make_it_surer_however_weak(
    sample_router: Router,
) -> None:
    # the tree alone leaves most of a weak text's probability to no department of the
    # hub's; a quote names one of them: what the words say is how they rank the departments
    alone = with_references(np.zeros(2), ["UDD", "WSD"], {"WSD": 1.0}, rate=0.5)
    agreeing = with_references(np.array([0.02, 0.05]), ["UDD", "WSD"], {"WSD": 1.0}, rate=0.5)
    assert agreeing[1] > alone[1] and agreeing.sum() == pytest.approx(1.0)
    quote = "WSD/E/2024/000123"
    [(first, with_words), *_] = sample_router.suggest(f"{quote} contaminated").departments
    assert first == "WSD" and with_words > sample_router.suggest(quote).departments[0][1]


async def test_unsure_text_waits_for_a_gro_who_categorises_it(
    rt: Runtime, people: People, client: httpx.AsyncClient
) -> None:
    strict = Runtime(settings=rt.settings.replace(routing_auto_threshold=1.0), jobs=rt.jobs)
    data = FilingData(
        description="Garbage is dumped near the water tank and nobody clears it.",
        channel=Channel.CALL_CENTRE,
        citizen_mobile="9900000001",
    )
    grievance = await file_grievance(strict, people.actor(people.operator), data)
    assert grievance.status == GrievanceStatus.TRIAGE and grievance.category_id is None
    filed = await GrievanceEvent.get(grievance_id=grievance.id)
    assert filed.note.startswith("awaiting triage: best guess")
    # the timeline says where it waits: the best guess's department, as the grievance does
    assert grievance.department_id is not None
    assert lifecycle.replay([filed]) == await lifecycle.state_of(grievance)
    assert filed.after["routing"]["alternatives"]

    queue = """{ triageQueue { registrationNumber status } }"""
    guessed = "udd_gro" if grievance.department_id == people.udd_gro.department_id else "wsd_gro"
    gro = getattr(people, guessed)
    seen = data_of(await gql(client, queue, as_user=gro))["triageQueue"]
    assert [g["registrationNumber"] for g in seen] == [grievance.registration_number]
    refused = await gql(client, queue, as_user=people.asha)  # not a citizen's field at all
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    categorise = """
    mutation C($input: CategoriseInput!) {
      categoriseGrievance(input: $input) {
        grievance { status category { code } department { code } timeline { action } }
        errors { field code message }
      }
    }"""
    refused = await gql(
        client,
        categorise,
        {
            "input": {
                "registrationNumber": grievance.registration_number,
                "categoryCode": "UDD-ULB-SWM-GARB-BLACK",
            }
        },
        as_user=people.asha,
    )
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    wrong = await gql(
        client,
        categorise,
        {"input": {"registrationNumber": grievance.registration_number, "categoryCode": "UDD"}},
        as_user=gro,
    )
    assert data_of(wrong)["categoriseGrievance"]["errors"][0]["field"] == "categoryCode"
    done = await gql(
        client,
        categorise,
        {
            "input": {
                "registrationNumber": grievance.registration_number,
                "categoryCode": "UDD-ULB-SWM-GARB-BLACK",
                "note": "dumping spot",
            }
        },
        as_user=gro,
    )
    payload = data_of(done)["categoriseGrievance"]
    assert payload["errors"] == []
    assert payload["grievance"]["status"] == "PENDING_ASSIGNMENT"
    assert payload["grievance"]["category"]["code"] == "UDD-ULB-SWM-GARB-BLACK"
    assert [e["action"] for e in payload["grievance"]["timeline"]] == ["FILE", "CATEGORISE"]


# -- reload and relearn without a restart ----------------------------------------------


async def test_rule_reload_reaches_the_router_without_a_restart(
    settings: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(routing, "REFRESH_SECONDS", 0.0)
    before = await routing.suggest("nobody from bwssb answers our calls")
    assert not any("bwssb" in s.explanation for s in before.suggestions)
    changed = tmp_path / "rules"
    changed.mkdir()
    for file in SAMPLE_RULES.glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        if file.name == "taxonomy.yaml":
            text = text.replace(
                "keywords: [no water, water supply", "keywords: [bwssb, no water, water supply"
            )
        (changed / file.name).write_text(text, encoding="utf-8")
    try:
        report = await load_rule_set(read_rules(changed))
        assert report.changed
        after = await routing.suggest("nobody from bwssb answers our calls")
        assert after.suggestions[0].suggestion.department == "WSD"
        assert "'bwssb' matched keyword" in after.suggestions[0].explanation
    finally:
        await load_rule_set(read_rules(SAMPLE_RULES))


async def test_a_lexicon_edit_reaches_the_router_without_a_restart(
    settings: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deployment adds a word to its own lexicon folder (HUB_LEXICON_DIR): the running
    hub reads it on its next look at the taxonomy. A broken edit is logged once, naming
    the file and the word, and routing goes on with the lists it had."""
    monkeypatch.setattr(routing, "REFRESH_SECONDS", 0.0)
    said = "mailapani piled up in our lane for a week"
    use_lexicons(tmp_path)
    try:
        assert (await routing.suggest(said)).suggestions == []
        mine = tmp_path / "local.yaml"
        mine.write_text("version: 1\nwords:\n  mailapani: garbage\n", encoding="utf-8")
        after = await routing.suggest(said)
        assert after.suggestions[0].suggestion.department == "UDD"
        assert "'mailapani'" in after.suggestions[0].explanation

        mine.write_text("version: 1\nwords:\n  mailapani: garbage\n  ghanta ghar: clock\n")
        with caplog.at_level("WARNING", logger="hub.routing"):
            kept = await routing.suggest(said)
            await routing.suggest(said)
        assert kept.suggestions[0].suggestion.department == "UDD"
        warned = [r.getMessage() for r in caplog.records if "lexicons changed" in r.getMessage()]
        assert len(warned) == 1 and f"{mine}: words.ghanta ghar: read as 2 words" in warned[0]

        mine.unlink()
        assert (await routing.suggest(said)).suggestions == []
    finally:
        use_lexicons(None)


async def test_a_lexicon_change_is_not_lost_when_an_index_build_fails(
    settings: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The index holds the tree's wording as the lexicons read it. A rebuild after a
    lexicon change that fails (cancelled, out of memory) is tried again, not taken for
    done; and a process that switches lexicon folders rebuilds too."""
    monkeypatch.setattr(routing, "REFRESH_SECONDS", 0.0)
    zebra = stem("zebra")
    assert zebra is not None
    assert not (await routing.current_router(fresh=True)).router.index.knows(zebra)
    build = routing._build
    calls = 0

    async def fails_once(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the build was interrupted")
        return await build(*args)

    monkeypatch.setattr(routing, "_build", fails_once)
    # the sample tree names garbage; read through this list, its wording says zebra too
    (tmp_path / "mine.yaml").write_text("words:\n  garbage: zebra\n", encoding="utf-8")
    use_lexicons(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="interrupted"):
            await routing.current_router(fresh=True)
        assert (await routing.current_router(fresh=True)).router.index.knows(zebra)
    finally:
        use_lexicons(None)
    assert not (await routing.current_router(fresh=True)).router.index.knows(zebra)
    assert calls == 3


async def test_model_is_rebuilt_from_routed_grievances(rt: Runtime, people: People) -> None:
    assert (await routing.rebuild_model(1000)).model_id is None  # nothing to learn from yet
    for i in range(12):
        await file_grievance(
            rt,
            people.actor(people.asha),
            FilingData(
                description=f"The BWSSB tanker skipped our street again, day {i}",
                channel=Channel.WEB,
                category_code="WSD-WS-NOW-AREA",
            ),
        )
    done = await routing.rebuild_model(1000)
    assert done.model_id is not None and done.examples == 12
    assert await RoutingModel.all().count() == 1
    answer = await routing.suggest("bwssb")
    top = answer.suggestions[0]
    assert top.suggestion.department == "WSD"
    assert "routed grievances taught" in top.explanation
    # the departments' own names, from the department table, are words the index knows
    built = await routing.current_router(fresh=True)
    welfare = built.router.index.name_postings["welfar"][0]
    assert [built.router.index.departments[i] for i in welfare] == ["SWD"]


async def test_a_rebuild_learns_from_the_deployments_seed_examples(
    rt: Runtime, people: People, tmp_path: Path
) -> None:
    await _train_on_water_grievances(rt, people)  # 12 routed grievances, no seeds
    seeds = tmp_path / "seeds.yaml"
    seeds.write_text(
        "examples:\n  RDPR: [MGNREGA wages not paid, mgnrega job card pending]\n"
        "  DOTEL: [a CPGRAMS department this deployment does not have]\n",
        encoding="utf-8",
    )
    done = await routing.rebuild_model(1000, settings=replace(rt.settings, routing_examples=seeds))
    assert done.model_id is not None and done.examples == 12  # grievances, not seeds
    assert done.note == (
        f"with 2 seed examples from {seeds}; "
        "seed examples of departments the taxonomy lacks skipped: DOTEL"
    )
    answer = await routing.suggest("mgnrega wages")
    assert answer.suggestions[0].suggestion.department == "RDPR"
    # a broken file costs the seeds, not the model
    seeds.write_text("examples: [", encoding="utf-8")
    done = await routing.rebuild_model(1000, settings=replace(rt.settings, routing_examples=seeds))
    assert done.model_id is not None
    assert done.note.startswith(f"seed examples not used: {seeds}: not valid YAML")
    # the shipped file is for the CPGRAMS taxonomy: the sample's departments have none
    done = await routing.rebuild_model(1000, settings=rt.settings)
    shipped = rt.settings.routing_examples
    assert done.note == f"no seed example in {shipped} is for a department of this taxonomy"


async def test_the_english_word_list_is_read_with_the_index_not_by_a_citizens_text(
    rt: Runtime,
) -> None:
    from routing_rules import text

    text._english.cache_clear()
    await routing.current_router(fresh=True)
    assert text._english.cache_info().currsize == 1


# -- command line and benchmark --------------------------------------------------------


def test_hub_route_prints_ranked_suggestions(tmp_path: Path) -> None:
    env = {"HUB_DATABASE_URL": f"sqlite://{tmp_path / 'hub.sqlite3'}"}
    assert run_hub("migrate", env=env).returncode == 0
    assert run_hub("rules", "load", str(SAMPLE_RULES), env=env).returncode == 0
    shown = run_hub("route", "kachra nahi uthaya gaya", "--boundary", "KA-BLR-BBMP-W150", env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("1. UDD-ULB-SWM-GARB")
    assert "why: 'kachra'" in shown.stdout
    refused = run_hub("route", "   ", env=env)
    assert refused.returncode == 2 and "text: Write a few words" in refused.stderr
    as_json = run_hub("route", "no water in our area", "--json", env=env)
    assert json.loads(as_json.stdout)[0]["department"] == "WSD"
    nothing = run_hub("route", "!!! ???", "--json", env=env)
    assert json.loads(nothing.stdout) == [] and "no words we could route on" in nothing.stderr
    rebuilt = run_hub("routing", "rebuild", env=env)
    assert rebuilt.returncode == 0 and "no model built" in rebuilt.stdout


def test_bench_routing_prints_figures_as_json() -> None:
    labelled = str(FIXTURE / "cpgrams_grievances.csv")
    result = run_hub(
        "bench",
        "routing",
        "--taxonomy-dir",
        str(FIXTURE / "cpgrams"),
        "--train",
        labelled,
        "--eval",
        labelled,
        "--folds",
        "2",
        "--no-keywords",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"top1", "top3", "coverage_at_90", "p50_ms", "p99_ms", "index_build_s"} <= set(figures)
    assert figures["method"] == "2-fold cross-validation"
    assert figures["tree_only"]["top1"] >= 0.6  # the fixture's texts use the tree's words
    assert 0 <= figures["coverage_at_90"] <= 1 and figures["p99_ms"] >= figures["p50_ms"]
    assert figures["categorised"] >= 1 and 0 <= figures["category_top1"] <= figures["category_top3"]
    # what a deployment sets HUB_ROUTING_AUTO_THRESHOLD by: a higher one routes fewer
    routed = figures["auto_routing"]
    assert [r["threshold"] for r in routed] == [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    assert all(a["routed"] >= b["routed"] for a, b in itertools.pairwise(routed))
    assert "HUB_ROUTING_AUTO_THRESHOLD: 0.5 routes" in result.stdout


def test_auto_routing_shares_per_threshold() -> None:
    from hub.bench.routing import auto_routing

    confidence = [0.97, 0.91, 0.85, 0.72, 0.55, 0.30]
    right = [True, False, True, True, False, True]
    table = {t: (share, ok) for t, share, ok in auto_routing(confidence, right)}
    assert table[0.9] == (2 / 6, 1 / 2)
    assert table[0.7] == (4 / 6, 3 / 4)
    assert table[0.5] == (5 / 6, 3 / 5)
    assert table[0.95] == (1 / 6, 1.0)
    # a threshold nothing reaches routes none: no share of them is right or wrong
    assert {ok for _, _, ok in auto_routing([0.3, 0.2], [True, False])} == {None}
    # the hub routes only to a category: a likely department with none waits for a GRO
    assert auto_routing([0.97, 0.91], [True, False], [False, True])[-2][1:] == (1 / 2, 0.0)


def test_figures_of_several_shuffles_are_their_means() -> None:
    """Which grievances share a fold moves a figure; ``--shuffles`` reports the mean. Top-1
    and top-3 are rates over every grievance scored once per shuffle; coverage is set per
    shuffle (a deployment sets one threshold for its own history) and then averaged."""
    from hub.bench.routing import Outcome, mean_of

    def run(ranks: list[int | None], confidence: list[float]) -> list[Outcome]:
        return [Outcome(r, c, 1.0, None, None) for r, c in zip(ranks, confidence, strict=True)]

    # first shuffle: the two surest are right, then a wrong one; second: the surest is wrong
    first = run([0, 0, 2, 0], [0.9, 0.8, 0.7, 0.6])
    second = run([1, 0, 0, None], [0.9, 0.8, 0.7, 0.6])
    mean = mean_of([first, second])
    assert (mean.top1, mean.top3) == (5 / 8, 7 / 8)
    assert mean.coverage_at_90 == pytest.approx((2 / 4 + 0.0) / 2)
    # pooled, the two shuffles' confidences would interleave into another figure
    assert summarise([*first, *second]).coverage_at_90 != mean.coverage_at_90
    assert mean_of([first]) == summarise(first)
    filed = [replace(o, category="L1", category_rank=0) for o in first]
    assert mean_of([filed, filed]).categorised == 4


def test_bench_routing_averages_shuffles_seeded_in_turn() -> None:
    labelled = str(FIXTURE / "cpgrams_grievances.csv")
    common = ["bench", "routing", "--taxonomy-dir", str(FIXTURE / "cpgrams"), "--no-keywords"]
    common += ["--train", labelled, "--eval", labelled, "--folds", "2"]
    result = run_hub(*common, "--shuffles", "3", "--seed", "4")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["method"] == "2-fold cross-validation, mean of 3 shuffles (seeds 4-6)"
    assert [s["seed"] for s in figures["shuffles"]] == [4, 5, 6]
    assert figures["top1"] == pytest.approx(fmean(s["top1"] for s in figures["shuffles"]), abs=1e-4)
    assert "  shuffle 5: top1 " in result.stdout
    one = json.loads(run_hub(*common).stdout.strip().splitlines()[-1])
    assert [s["seed"] for s in one["shuffles"]] == [7] and one[
        "method"
    ] == "2-fold cross-validation"
    refused = run_hub(*common, "--shuffles", "0")
    assert refused.returncode == 2 and "0 is not between 1 and 100" in refused.stderr


def test_a_grievance_export_names_its_category_below_the_department() -> None:
    """Exports write the department's node in their own words ('Drinking Water' for the
    tree's 'Drinking Water and Sanitation') and cut long paths short."""
    from hub.bench.routing import Row, category_of, category_paths, node_infos
    from routing_rules.cpgrams import read_cpgrams

    index = TaxonomyIndex(node_infos(read_cpgrams(FIXTURE / "cpgrams", detach_orphans=True)))
    paths, leaves = category_paths(index), set(index.leaves)

    def filed(org: str, path: str) -> str | None:
        return category_of(Row("1", org, path, "text"), paths, leaves)

    tap = "Rural Piped Water Supply >> Household Tap Connection >> Tap connection not provided"
    assert filed("JALSH", f"Drinking Water >> {tap}") == "90004"
    assert filed("JALSH", f"Drinking Water and Sanitation >> {tap[:-10]}") == "90004"  # cut
    assert filed("OTHER", f"Drinking Water >> {tap}") is None  # another department's path
    # a path that stops at an inner node, or a cut that begins several leaves, names none
    assert filed("JALSH", "Water >> Rural Piped Water Supply >> Household Tap Connection") is None
    assert (
        filed("JALSH", "Water >> Rural Piped Water Supply >> Household Tap Connection >> T") is None
    )
    assert filed("JALSH", "") is None and filed("JALSH", "Drinking Water") is None


def test_bench_routing_refuses_a_csv_without_its_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,x\n")
    result = run_hub(
        "bench", "routing", "--taxonomy-dir", str(FIXTURE / "cpgrams"), "--eval", str(bad)
    )
    assert result.returncode == 2 and "missing column(s) org_code, text" in result.stderr


@pytest.mark.skipif(
    not (CPGRAMS_DIR / "grievances_dev.csv").is_file(),
    reason=f"the CPGRAMS data is not at {CPGRAMS_DIR} (set HUB_TEST_CPGRAMS_DIR)",
)
def test_routing_quality_on_real_cpgrams_grievances_does_not_regress() -> None:
    """Cross-validated on the 528 real grievances: the figures the README reports."""
    labelled = str(CPGRAMS_DIR / "grievances_dev.csv")
    result = run_hub(
        "bench",
        "routing",
        "--taxonomy-dir",
        str(CPGRAMS_DIR),
        "--train",
        labelled,
        "--eval",
        labelled,
        "--json",
        timeout=300,  # five models, each learning from 4,230 seed examples too
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["method"] == "5-fold cross-validation" and figures["seed_examples"] == 4230
    assert figures["tree_only"]["top1"] >= 0.38 and figures["tree_only"]["top3"] >= 0.54
    assert figures["top1"] >= 0.58 and figures["top3"] >= 0.745
    assert figures["coverage_at_90"] >= 0.24
    # the category the citizen picked, among the hub's first suggestions
    assert figures["categorised"] >= 480 and figures["category_top1"] >= 0.13


async def _train_on_water_grievances(rt: Runtime, people: People) -> None:
    for i in range(12):
        await file_grievance(
            rt,
            people.actor(people.ravi),
            FilingData(
                description=f"The BWSSB tanker skipped our street again, day {i}",
                channel=Channel.WEB,
                category_code="WSD-WS-NOW-AREA",
            ),
        )
    assert (await routing.rebuild_model(1000)).model_id is not None


async def test_other_peoples_grievances_never_leak_through_routing(
    rt: Runtime, people: People, client: httpx.AsyncClient
) -> None:
    await _train_on_water_grievances(rt, people)
    theirs = {g.registration_number for g in await Grievance.filter(citizen_id=people.ravi.id)}
    query = """query S($text: String!) { routeSuggestions(text: $text) {
        suggestions { departmentCode explanation similarGrievances } } }"""
    seen = {}
    for who in ("asha", "udd_gro", "wsd_gro", "leader"):
        body = await gql(client, query, {"text": "bwssb tanker"}, as_user=getattr(people, who))
        seen[who] = data_of(body)["routeSuggestions"]["suggestions"][0]
        assert seen[who]["departmentCode"] == "WSD"
        assert not any(number in seen[who]["explanation"] for number in theirs)
    assert seen["asha"]["similarGrievances"] == []  # a citizen
    assert seen["udd_gro"]["similarGrievances"] == []  # another department's officer
    assert set(seen["wsd_gro"]["similarGrievances"]) <= theirs
    assert seen["wsd_gro"]["similarGrievances"] and seen["leader"]["similarGrievances"]
    # an officer of another WSD office is not shown the headquarters' grievances either
    bwssb = await Office.get(code="WSD-BWSSB")
    assert not await Grievance.filter(citizen_id=people.ravi.id, office_id=bwssb.id).exists()
    other_office = await User.create(
        mobile="+919700040099",
        kind=UserKind.EMPLOYEE,
        roles=[Role.LME.value],
        department_id=bwssb.department_id,
        office=bwssb,
    )
    body = await gql(client, query, {"text": "bwssb tanker"}, as_user=other_office)
    assert data_of(body)["routeSuggestions"]["suggestions"][0]["similarGrievances"] == []
    strict = Runtime(settings=rt.settings.replace(routing_auto_threshold=1.0), jobs=rt.jobs)
    mine = await file_grievance(
        strict,
        people.actor(people.asha),
        FilingData(description="bwssb tanker did not come today", channel=Channel.SMS),
    )
    notes = [
        e.note + json.dumps(e.after) for e in await GrievanceEvent.filter(grievance_id=mine.id)
    ]
    assert not any(number in note for note in notes for number in theirs)


async def test_a_category_moved_to_another_department_teaches_only_the_department(
    rt: Runtime, people: People
) -> None:
    filed = await file_grievance(
        rt,
        people.actor(people.asha),
        FilingData(
            description="The garbage van skipped our house again this week.",
            channel=Channel.WEB,
            category_code="UDD-ULB-SWM-GARB-DOOR",
        ),
    )
    [taught] = await routing.training_examples(1000)
    assert (taught.department, taught.category) == ("UDD", "UDD-ULB-SWM-GARB-DOOR")
    # a reorganisation moves the category to WSD; the grievance stays with UDD
    door = TaxonomyNode.filter(code="UDD-ULB-SWM-GARB-DOOR")
    udd, wsd = [await Department.get(code=code) for code in ("UDD", "WSD")]
    await door.update(department_id=wsd.id)
    try:
        [taught] = await routing.training_examples(1000)
    finally:  # the sample taxonomy is the other tests' too
        await door.update(department_id=udd.id)
    assert (taught.department, taught.category, taught.reference) == (
        "UDD",
        None,
        filed.registration_number,
    )


async def test_the_hubs_own_unconfirmed_decisions_teach_nothing(
    rt: Runtime, people: People
) -> None:
    loose = Runtime(settings=rt.settings.replace(routing_auto_threshold=0.3), jobs=rt.jobs)
    for i in range(12):
        routed = await file_grievance(
            loose,
            people.actor(people.asha),
            FilingData(description=f"contaminated muddy water again {i}", channel=Channel.SMS),
        )
        assert routed.status == GrievanceStatus.PENDING_ASSIGNMENT
    assert await routing.training_examples(1000) == []
    assert (await routing.rebuild_model(1000)).model_id is None


async def test_a_destination_sends_the_grievance_to_that_department(
    rt: Runtime, people: People
) -> None:
    node = await TaxonomyNode.get(code="UDD-ULB-RD-POT")
    node.destination = "WSD"  # e.g. road cuts for pipe work go to the water board
    await node.save(update_fields=["destination"])
    try:
        grievance = await file_grievance(
            rt,
            people.actor(people.asha),
            FilingData(
                description="Pothole left after pipe work on our road",
                channel=Channel.WEB,
                category_code="UDD-ULB-RD-POT",
                boundary_code="KA-BLR-BBMP-W150",
            ),
        )
        row = await Grievance.get(id=grievance.id).select_related("department", "office")
        assert row.department is not None and row.department.code == "WSD"
        assert row.office is not None and row.office.department_id == row.department.id
        assert row.registration_number.startswith("KA-WSD-")
    finally:
        node.destination = ""
        await node.save(update_fields=["destination"])


async def test_a_state_triage_cell_handles_what_the_hub_cannot_guess(
    rt: Runtime, people: People, client: httpx.AsyncClient
) -> None:
    cell = await User.create(
        mobile="+919700099001", name="State triage", kind=UserKind.EMPLOYEE, roles=["gro"]
    )
    grievance = await file_grievance(
        rt,
        people.actor(people.asha),
        FilingData(description="Nobody answers me. Third time writing.", channel=Channel.SMS),
    )
    assert grievance.status == GrievanceStatus.TRIAGE and grievance.department_id is None
    queue = data_of(await gql(client, "{ triageQueue { registrationNumber } }", as_user=cell))
    assert queue["triageQueue"] == [{"registrationNumber": grievance.registration_number}]
    assert (
        data_of(
            await gql(client, "{ triageQueue { registrationNumber } }", as_user=people.udd_gro)
        )["triageQueue"]
        == []
    )
    done = await gql(
        client,
        """mutation C($n: String!) { categoriseGrievance(input: {registrationNumber: $n,
           categoryCode: "UDD-ULB-SL-OFF"}) { grievance { status department { code } }
           errors { code } } }""",
        {"n": grievance.registration_number},
        as_user=cell,
    )
    payload = data_of(done)["categoriseGrievance"]
    # done, and now UDD's: out of the state cell's scope, so the payload shows nothing
    assert payload == {"grievance": None, "errors": []}
    row = await Grievance.get(id=grievance.id).select_related("department")
    assert row.status == GrievanceStatus.PENDING_ASSIGNMENT
    assert row.department is not None and row.department.code == "UDD"
