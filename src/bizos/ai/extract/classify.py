"""Sentiment and intent of a customer message (no network).

A small rule-based reader for support mail, in the spirit of lexicon scorers such as
VADER but with our own word list and rules:

* **sentiment** — words carry a valence (``terrible`` -3, ``great`` +2.5); a negator
  (``not``, ``never``, ``-n't``…) up to three words before a word flips and damps it;
  intensifiers (``very``, ``absolutely``) and diminishers (``slightly``) scale it; a
  valenced word in capitals (``NOT``, ``TERRIBLE``) counts half again; ``but`` shifts
  weight to the clause after it; exclamation marks push the total further from zero;
  a few phrases carry their own valence (``thanks for nothing``, ``charged twice``,
  ``still waiting``). The sum is squashed into [-1, 1] with ``x / sqrt(x² + 15)``.
* **urgency** — explicit cues (``urgent``, ``asap``, ``immediately``, ``legal action``,
  ``chargeback``, an outage, a shouted ``NOW``) unless negated (``not urgent``,
  ``no rush``).
* **intent** — weighted keyword patterns per intent; a specific intent (refund, cancel,
  billing, shipping, technical) beats a general one (complaint, praise, question), a
  negative message leans to ``complaint``, praise needs a positive message, and a
  message with nothing to go on is ``other``.

``signals`` lists the cues that decided the answer, so an agent can see why a ticket
was raised. Accuracy on the labelled messages in ``tests/ai`` is reported by the tests.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Sentiment = Literal["negative", "neutral", "positive"]
INTENTS: tuple[str, ...] = (
    "refund",
    "cancel",
    "complaint",
    "shipping",
    "billing",
    "technical",
    "question",
    "praise",
    "other",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")

# Below / above these normalised scores a message reads negative / positive.
NEGATIVE_AT = -0.35
POSITIVE_AT = 0.3
_ALPHA = 15.0  # squashing constant: a single strong word (±3) lands near ±0.6
_NEGATION_SCOPE = 3
_NEGATED = -0.74
_EXCLAMATION_BOOST = 0.3

_LEXICON: dict[str, float] = {
    # positive
    "good": 1.5,
    "great": 2.5,
    "excellent": 3.0,
    "amazing": 3.0,
    "awesome": 3.0,
    "fantastic": 3.0,
    "brilliant": 3.0,
    "wonderful": 3.0,
    "superb": 3.0,
    "perfect": 2.5,
    "perfectly": 2.5,
    "love": 2.5,
    "loved": 2.5,
    "lovely": 2.5,
    "gorgeous": 2.5,
    "happy": 2.0,
    "pleased": 2.0,
    "delighted": 3.0,
    "glad": 1.5,
    "impressed": 2.5,
    "helpful": 2.0,
    "appreciated": 2.0,
    "appreciate": 1.5,
    "thanks": 0.8,
    "thank": 0.8,
    "grateful": 2.0,
    "nice": 1.5,
    "kind": 1.5,
    "friendly": 1.5,
    "recommend": 1.5,
    "satisfied": 1.5,
    "smooth": 1.0,
    "easy": 1.0,
    "quick": 1.0,
    "quickly": 0.8,
    "fast": 0.8,
    "best": 2.0,
    "fine": 0.5,
    # negative
    "bad": -2.0,
    "terrible": -3.0,
    "awful": -3.0,
    "horrible": -3.0,
    "worst": -3.0,
    "poor": -2.0,
    "useless": -2.5,
    "disappointed": -2.5,
    "disappointing": -2.5,
    "unacceptable": -3.0,
    "ridiculous": -2.5,
    "annoyed": -2.0,
    "annoying": -2.0,
    "angry": -2.5,
    "furious": -3.0,
    "frustrated": -2.5,
    "frustrating": -2.5,
    "upset": -2.0,
    "unhappy": -2.5,
    "rude": -2.5,
    "scam": -3.0,
    "fraud": -3.0,
    "joke": -1.5,
    "disgusting": -3.0,
    "pathetic": -3.0,
    "incompetent": -3.0,
    "shocking": -2.5,
    "appalling": -3.0,
    "hate": -2.5,
    "sucks": -2.5,
    "nightmare": -3.0,
    "disgrace": -3.0,
    "mess": -2.0,
    "waste": -2.0,
    "wasted": -2.0,
    "ignored": -2.0,
    "broken": -1.2,
    "damaged": -1.2,
    "crashed": -1.2,
    "crash": -1.0,
    "crashes": -1.0,
    "error": -0.8,
    "errors": -0.8,
    "failed": -1.2,
    "failing": -1.2,
    "fails": -1.2,
    "problem": -0.8,
    "wrong": -1.0,
    "lost": -1.0,
    "late": -1.0,
    "delayed": -1.0,
    "slow": -1.2,
    "overcharged": -2.0,
    "worried": -1.5,
    "stuck": -1.0,
    "soaked": -1.5,
    "ruined": -2.0,
    "complaint": -1.0,
}
_INTENSIFIERS: dict[str, float] = {
    "very": 1.4,
    "really": 1.4,
    "extremely": 1.6,
    "so": 1.3,
    "totally": 1.4,
    "absolutely": 1.5,
    "completely": 1.4,
    "incredibly": 1.6,
    "super": 1.4,
    "truly": 1.3,
    "highly": 1.4,
    "much": 1.3,
    "utterly": 1.6,
    "most": 1.2,
    "slightly": 0.6,
    "somewhat": 0.7,
    "bit": 0.7,
    "little": 0.8,
    "fairly": 0.8,
    "kinda": 0.7,
}
_NEGATORS = frozenset(
    {"not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot",
     "without", "hardly", "barely"}
)  # fmt: skip
# Capitals that are names, not shouting.
_ABBREVIATIONS = frozenset(
    {"I", "OK", "ASAP", "VAT", "API", "CSV", "PDF", "UPS", "DHL", "USB", "ID", "URL", "SMS",
     "FAQ", "USA", "UK", "EU", "TV", "PC", "IT", "HR", "CEO", "AM", "PM", "USD", "EUR",
     "GBP", "SKU", "PIN", "OTP", "SSO", "DNS", "SSL", "HTML", "IOS"}
)  # fmt: skip

# Emoji as character classes: 😠 😡 🤬 😤 🖕 💩 / 👎 😞 😟 😢 😭 😩 😫 😒 🙄 🙁 ☹ /
# 👍 😊 😀 😃 😄 😁 🙏 🎉 😍 🥰 ❤ (not the slight smile 🙂: it says little).
_EMOJI_ANGRY = "[\U0001f620\U0001f621\U0001f92c\U0001f624\U0001f595\U0001f4a9]"
_EMOJI_UNHAPPY = (
    "[\U0001f44e\U0001f61e\U0001f61f\U0001f622\U0001f62d\U0001f629\U0001f62b"
    "\U0001f612\U0001f644\U0001f641\u2639]"
)
_EMOJI_HAPPY = (
    "[\U0001f44d\U0001f60a\U0001f600\U0001f603\U0001f604\U0001f601"
    "\U0001f64f\U0001f389\U0001f60d\U0001f970\u2764]"
)

# Phrases with a valence of their own; their words are then not scored again.
_PHRASES: tuple[tuple[re.Pattern[str], float, str], ...] = tuple(
    (re.compile(p), v, s)
    for p, v, s in (
        (r"\bthanks? (you )?for nothing\b", -3.0, "sarcasm"),
        (
            r"\bnobody (has |have |ever )?(answered|answers|replied|replies|responded|"
            r"called|got back|gets back)\b",
            -2.0,
            "ignored",
        ),
        (r"\bno (response|reply|answer|one (has )?(answered|replied|called))\b", -1.5, "ignored"),
        (r"\bnobody (told|informed|warned|asked) (me|us)\b", -1.5, "not_informed"),
        (r"\b(not|never|refuse to|won't be) pay(ing)?\b|\bnever ordered\b", -1.5, "disputed"),
        (
            r"\b(charged|billed) (me |us )?after (i|we) (had )?cancell?ed\b",
            -2.0,
            "charged_after_cancel",
        ),
        (
            r"\bstill (nothing|waiting|no\b|not\b|hasn't|haven't|has not|have not)",
            -1.2,
            "still_waiting",
        ),
        (r"\b(second|third|fourth|fifth|\d+(st|nd|rd|th)) time\b", -1.5, "repeat_contact"),
        (
            r"\b(charged|billed) (me )?(twice|two times|double)\b|\bdouble[- ]charged\b",
            -1.0,
            "double_charge",
        ),
        (r"\bwaste of (my )?(time|money)\b", -2.5, "waste"),
        (r"\bripped off\b", -3.0, "ripped_off"),
        (r"\bkeep (it|up the good work)( up)?\b", 1.5, "encouragement"),
        (r"\bwell done\b", 2.0, "encouragement"),
        (r"\bmuch appreciated\b", 2.5, "gratitude"),
        (
            r"\b(can't|cannot|can not|unable to) (access|log ?in|sign in)\b|\blocked out\b",
            -1.0,
            "locked_out",
        ),
        # Emoji (each one counts): anger, disappointment, approval.
        (_EMOJI_ANGRY, -2.5, "emoji_angry"),
        (_EMOJI_UNHAPPY, -1.5, "emoji_unhappy"),
        (_EMOJI_HAPPY, 1.5, "emoji_happy"),
    )
)

_NOT_URGENT = re.compile(
    r"\b(not|isn't|is not|no|nothing)\s+(that |too |very |super )?(urgent|a rush|rush|hurry|"
    r"pressing)\b|\bno (rush|hurry)\b|\bwhenever (you|it) (can|get a chance|suits)\b|"
    r"\bin your own time\b|\bwhen you get a chance\b"
)
_URGENCY: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), s)
    for p, s in (
        (r"\burgent(ly)?\b", "urgent"),
        (r"\basap\b|\bas soon as possible\b", "asap"),
        (r"\bimmediately\b|\bright (now|away)\b|\bat once\b|\bwithout delay\b", "immediately"),
        (r"\bemergency\b|\bcritical\b", "emergency"),
        (
            r"\blegal action\b|\blawyers?\b|\bsolicitors?\b|\battorneys?\b|\blawsuit\b|"
            r"\bsue (you|your)\b|\btake (you|this) to court\b|\bsmall claims\b",
            "legal_threat",
        ),
        (
            r"\bchargebacks?\b|\bdispute (the|this) (charge|payment|transaction)\b|"
            r"\bcontact(ing)? my bank\b",
            "chargeback",
        ),
        (
            r"\boutage\b|\b(production|site|website|store|shop|checkout|system|server|app|"
            r"service|everything)\b[^.!?]{0,25}\b(is|are|went|has been|have been) "
            r"(down|offline)\b",
            "outage",
        ),
        (r"\bdeadline\b", "deadline"),
    )
)

# Urgency cues that also say how the customer feels (a threat is not a neutral remark).
_URGENCY_VALENCE: dict[str, float] = {"legal_threat": -2.5, "chargeback": -2.5, "outage": -1.5}

_Rule = tuple[str, float]
_INTENT_RULES: dict[str, tuple[_Rule, ...]] = {
    "refund": (
        (r"\brefund(s|ed|ing)?\b", 2.0),
        (r"\bmoney back\b|\breimburse(ment|d)?\b|\bcredit (it )?back\b", 2.0),
        (r"\b(my|a|the) return\b|\breturn (it|them|the|this)\b|\breturn label\b", 1.5),
    ),
    "cancel": (
        (r"\bcancel\b|\bcancell?ation\b", 2.0),
        (r"\bcancell?(ed|ing)\b", 0.5),
        (r"\bunsubscribe\b|\bterminate\b|\btermination\b", 2.0),
        (
            r"\bclose (my|our) account\b|\bdelete (my|our) account\b|\bstop my subscription\b|"
            r"\bend (my|our) (subscription|contract|membership)\b|\bdon'?t renew\b",
            2.0,
        ),
    ),
    "billing": (
        (r"\binvoices?\b|\bbilling\b|\bbilled\b|\breceipts?\b|\bvat\b", 1.5),
        (r"\bcharged?\b|\bcharging\b|\bcharges\b|\bovercharged\b|\bdouble[- ]charged\b", 1.5),
        (r"\bpayments?\b|\bpaying\b|\bpaid\b|\bcredit card\b|\bdebit card\b|\bmy card\b", 1.0),
        (
            r"\bdeclined\b|\bprice increase\b|\bsubscription fee\b|\bplan\b|\bupgrade\b|"
            r"\bdowngrade\b",
            1.0,
        ),
        (r"\bnever ordered\b|\bbilling address\b", 1.0),
    ),
    "shipping": (
        (r"\bship(ping|ped|ment|s)?\b|\bdeliver(y|ed|ies)?\b|\bdispatch(ed)?\b", 1.5),
        (r"\bpackage\b|\bparcel\b|\bcourier\b|\bcarrier\b|\bdriver\b|\bpostage\b", 1.0),
        (r"\btracking\b|\bin transit\b|\bups\b|\bdhl\b|\bfedex\b|\busps\b", 1.5),
        (r"\bwhere is my (order|package|parcel)\b", 2.0),
        (r"\barriv(e|ed|es|al)\b|\bhasn'?t arrived\b|\bwrong address\b", 1.0),
        (r"\barrived (broken|damaged|smashed|cracked)\b", 1.5),
    ),
    "technical": (
        (r"\berrors?\b|\bbugs?\b|\bcrash(es|ed|ing)?\b|\bbroke\b|\bglitch\b", 1.5),
        (
            r"\blog ?in\b|\bsign ?in\b|\bpassword\b|\b(can't|cannot|unable to) access\b|"
            r"\blocked out\b",
            1.5,
        ),
        (r"\b(not|isn't|doesn't|don't|won't|stopped) work(ing|s)?\b", 1.0),
        (
            r"\bapp\b|\bwebsite\b|\bsite\b|\bpage\b|\bdashboard\b|\bsync\b|\bintegration\b|"
            r"\bapi\b|\bexport\b|\bupload\b|\binstall\b|\bupdate\b",
            1.0,
        ),
        (r"\boffline\b|\bdown\b|\bslow\b|\bloading\b|\btimeout\b|\b500\b|\b404\b", 1.0),
    ),
    "complaint": (
        (r"\bcomplain(t|ts|ing)?\b", 2.5),
        (r"\brude\b|\bstaff\b|\bcustomer service\b|\bsupport\b|\bservice\b", 1.0),
        (
            r"\bdisappointed\b|\bunacceptable\b|\bawful\b|\bterrible\b|\bworst\b|\buseless\b|"
            r"\bjoke\b|\bnot happy\b|\bquality\b",
            1.0,
        ),
        (r"\bnobody\b|\bno one\b|\blawyer\b|\blegal action\b", 1.0),
    ),
    "praise": (
        (r"\bthank(s| you)\b|\bappreciated?\b|\bgrateful\b", 1.0),
        (
            r"\bgreat\b|\bamazing\b|\bexcellent\b|\bfantastic\b|\bbrilliant\b|\bawesome\b|"
            r"\blove\b|\bwell done\b|\bkeep it up\b|\bgood\b|\bhappy\b",
            1.5,
        ),
    ),
    "question": (
        (r"\?", 1.0),
        (
            r"^(how|what|when|where|which|who|why|is there|is it|are there|do you|does|can i|"
            r"could you|can you)\b",
            0.5,
        ),
    ),
}
_COMPILED_INTENTS: dict[str, tuple[tuple[re.Pattern[str], float], ...]] = {
    intent: tuple((re.compile(p, re.MULTILINE), w) for p, w in rules)
    for intent, rules in _INTENT_RULES.items()
}
# Specific intents first: they win ties against the general ones.
_TIE_ORDER = ("refund", "cancel", "billing", "shipping", "technical", "complaint", "praise",
              "question")  # fmt: skip
_MIN_INTENT_SCORE = 1.0

_TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[0-9]+|[.,;:!?]")
_CLAUSE_BREAK = frozenset(".,;:!?")
_SENTENCE_BREAK = frozenset(".;!?")


@dataclass(frozen=True, slots=True)
class Classification:
    """How a message reads: ``sentiment_score`` in [-1, 1]; ``signals`` are the cues."""

    sentiment: str
    sentiment_score: float
    intent: str
    urgent: bool
    signals: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classify(text: str) -> Classification:
    """Read ``text`` (subject and body of one message) for sentiment, intent, urgency."""
    signals: list[str] = []
    lowered = text.lower()
    cues = _urgency(lowered, text, signals)
    score = _sentiment(text, signals, extra=sum(_URGENCY_VALENCE.get(c, 0.0) for c in cues))
    sentiment = _label(score)
    urgent = bool(cues)
    intent = _intent(_strip_quoted(lowered), score, signals)
    return Classification(
        sentiment=sentiment,
        sentiment_score=round(score, 3),
        intent=intent,
        urgent=urgent,
        signals=list(dict.fromkeys(signals)),
    )


def classify_json(text: str) -> str:
    """The classification as the JSON object the local provider answers with."""
    return json.dumps(classify(text).to_dict())


def parse_classification(text: str) -> Classification:
    """A provider's JSON answer (possibly in a code fence or with prose around it) as a
    ``Classification``; unknown labels fall back (intent ``other``, sentiment from the
    score). Raises ``ValueError`` when there is no JSON object to read."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the classification")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the classification is not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise ValueError("the classification is not a JSON object")
    try:
        score = max(-1.0, min(1.0, float(data.get("sentiment_score", 0.0))))
    except (TypeError, ValueError):
        score = 0.0
    if not math.isfinite(score):
        score = 0.0
    sentiment = data.get("sentiment")
    if sentiment not in SENTIMENTS:
        sentiment = _label(score)
    intent = data.get("intent")
    raw_signals = data.get("signals")
    signals = [str(s)[:80] for s in raw_signals[:20]] if isinstance(raw_signals, list) else []
    return Classification(
        sentiment=str(sentiment),
        sentiment_score=round(score, 3),
        intent=intent if intent in INTENTS else "other",
        urgent=data.get("urgent") is True,
        signals=signals,
    )


def _label(score: float) -> str:
    if score <= NEGATIVE_AT:
        return "negative"
    if score >= POSITIVE_AT:
        return "positive"
    return "neutral"


def _strip_quoted(text: str) -> str:
    """Drop quoted earlier mail (lines starting with ``>``): it is not this message."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


# --- sentiment ----------------------------------------------------------------------


def _sentiment(text: str, signals: list[str], *, extra: float = 0.0) -> float:
    """The normalised score in [-1, 1]; phrases are scored first and blanked out.
    ``extra`` is raw valence found elsewhere (threats)."""
    text = _strip_quoted(text)
    lowered = text.lower()
    total = extra
    masked = list(text)
    for pattern, valence, signal in _PHRASES:
        for match in pattern.finditer(lowered):
            total += valence
            signals.append(signal)
            for i in range(match.start(), match.end()):
                masked[i] = " "
    scored_text = "".join(masked)
    total += _word_valence(scored_text, signals)
    exclamations = min(text.count("!"), 3)
    if exclamations and total:
        signals.append("exclamation")
        total += math.copysign(_EXCLAMATION_BOOST * exclamations, total)
    score = total / math.sqrt(total * total + _ALPHA) if total else 0.0
    return max(-1.0, min(1.0, score))


def _word_valence(text: str, signals: list[str]) -> float:
    tokens = _TOKEN.findall(text)
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    if shouting:
        signals.append("all_caps")
    total = 0.0
    sentence: list[float] = []
    but_at: int | None = None
    negate_left = 0
    scale = 1.0
    for raw in [*tokens, "."]:
        word = raw.lower()
        if raw in _CLAUSE_BREAK:
            negate_left, scale = 0, 1.0
            if raw in _SENTENCE_BREAK:
                total += _weigh_but(sentence, but_at)
                sentence, but_at = [], None
            continue
        if word == "but":
            but_at = len(sentence)
            negate_left, scale = 0, 1.0
            continue
        if word in _NEGATORS or word.endswith("n't"):
            negate_left = _NEGATION_SCOPE
            if raw.isupper() and len(raw) > 1:
                signals.append("caps_emphasis")
            continue
        if word in _INTENSIFIERS:
            scale *= _INTENSIFIERS[word]
            continue
        valence = _LEXICON.get(word, 0.0)
        if valence:
            valence *= scale
            if raw.isupper() and len(raw) > 1 and raw not in _ABBREVIATIONS and not shouting:
                valence *= 1.5
                signals.append("caps_emphasis")
            elif shouting:
                valence *= 1.3
            if negate_left > 0:
                valence *= _NEGATED
                signals.append("negation")
            elif scale != 1.0:
                signals.append("intensifier")
            sentence.append(valence)
            scale = 1.0
            negate_left = 0
            continue
        negate_left = max(0, negate_left - 1)
        if negate_left == 0:
            scale = 1.0
    return total


def _weigh_but(values: list[float], but_at: int | None) -> float:
    """``A but B``: what follows *but* counts more than what it qualifies."""
    if but_at is None:
        return sum(values)
    return 0.5 * sum(values[:but_at]) + 1.5 * sum(values[but_at:])


# --- urgency and intent ---------------------------------------------------------------


def _urgency(lowered: str, original: str, signals: list[str]) -> list[str]:
    """The urgency cues found (empty: not urgent); negated ones do not count."""
    lowered = _strip_quoted(lowered)
    if _NOT_URGENT.search(lowered):
        signals.append("not_urgent")
        lowered = _NOT_URGENT.sub(" ", lowered)
    cues = [signal for pattern, signal in _URGENCY if pattern.search(lowered)]
    if re.search(r"\bNOW\b", _strip_quoted(original)):
        cues.append("now")
    signals.extend(f"urgency:{cue}" for cue in cues)
    return cues


def _intent(lowered: str, score: float, signals: list[str]) -> str:
    text = lowered.strip()
    scores = {
        intent: sum(w for pattern, w in rules if pattern.search(text))
        for intent, rules in _COMPILED_INTENTS.items()
    }
    if score <= NEGATIVE_AT:
        scores["complaint"] += 1.0 if score > -0.6 else 1.5
        scores["praise"] = 0.0
    elif score < POSITIVE_AT:
        scores["praise"] = 0.0  # "thanks" as a sign-off is not praise
    best = max(_TIE_ORDER, key=lambda name: (scores[name], -_TIE_ORDER.index(name)))
    if scores[best] < _MIN_INTENT_SCORE:
        return "other"
    signals.append(f"intent:{best}")
    return best
