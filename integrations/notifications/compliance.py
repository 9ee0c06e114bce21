"""Does an outgoing automatic or templated text repeat what the marketplace already told the buyer?

Pure (no ORM, no clock). Allegro itself sends the purchase confirmation ("Kupiłeś…"), payment
received and parcel status mails (rules.md §5, seed 002), and buyers get invoice copies from the
marketplace/accounting tool. A seller text made only of those announcements is *held* with a reason;
a text that also carries something the buyer needs (order packed / no more changes, returns and
exchanges, the invoice itself attached, an answer or a question) passes.

The text is split into sentences; each sentence is either a *duplicate* announcement, *substantive*
(a useful topic, a question, or a real sentence of its own) or *filler* (greeting, sign-off,
pleasantry). Held = at least one duplicate sentence and no substantive one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


def gettext_noop(message: str) -> str:
    """Marks a msgid for makemessages; pure modules do not import Django's translation."""
    return message


# Category → the reason shown to the seller (English msgid; translated by the caller's gettext).
CATEGORIES = {
    "purchase": gettext_noop("repeats Allegro's purchase confirmation / thank-you mail"),
    "payment": gettext_noop("repeats Allegro's payment-received mail"),
    "dispatch": gettext_noop("repeats the dispatch notice Allegro and the carrier send"),
    "tracking": gettext_noop("repeats the parcel status / tracking mails Allegro and the carrier send"),
    "invoice_mail": gettext_noop("only says an invoice was mailed (the invoice mail itself is enough)"),
}

_DUPLICATE = {
    "purchase": [
        r"\bdziekuj\w* (ci |panu |pani |wam |bardzo )?za (zakup|zamowieni|zakupy|wybor|zaufanie)",
        r"\bdziekuj\w*.{0,20}\bza\b.{0,25}\b(zakup|zamowieni)",
        r"\bzamowienie (nr \S+ )?(zostalo )?(przyjete|zlozone|zarejestrowane|potwierdzone)",
        r"\bpotwierdz\w* (zlozeni\w* |przyjeci\w* )?zamowieni",
        r"\bkupiles\b|\bkupilas\b",
        r"\bprzyjelismy (twoje |pana |pani )?zamowienie",
        r"\bthank(s| you)\b.{0,20}\bfor (your |the )?(purchase|order|shopping|buying)",
        r"\b(your )?order (has been |was |is )?(received|confirmed|placed|accepted)",
        r"\bwe('ve| have) received your order",
        r"\border confirmation\b",
    ],
    "payment": [
        r"\b(platnosc|wplat|zaplat|przelew|naleznosc)\w*.{0,50}\b(otrzyma|zaksiegowa|odnotowa|wplyn|potwierdz|zaakceptowa)",
        r"\b(otrzyma|zaksiegowa|odnotowa|potwierdza)\w*\b.{0,30}\b(platnos|wplat|zaplat|przelew)",
        r"\b(platnosc|wplat|zaplat|przelew)\w*.{0,20}\b(dotarl|doszl|jest juz u nas)",
        r"\bpayment\b.{0,30}\b(received|confirmed|credited|accepted|went through|successful)",
        r"\b(received|confirm\w*)\b.{0,20}\byour payment",
    ],
    "dispatch": [
        r"\b(paczk|przesylk|zamowieni|towar|produkt)\w*.{0,40}"
        r"\b(wyslan|nadan|w drodze|wyjechal|opuscil)",
        r"\b(wyslalismy|nadalismy|wysylamy dzis|przekazalismy)\b.{0,40}"
        r"\b(paczk|przesylk|zamowieni|towar|kurier)",
        r"\bprzekazan\w* (kurierowi|przewoznikowi|do kuriera|firmie kurierskiej|do wysylki|do nadania)",
        r"\b(kurier|przewoznik)\w* (juz )?(odebral|zabral|ma)\b.{0,20}\b(paczk|przesylk|zamowieni)",
        r"\b(has been |was |been |have |has )?(shipped|dispatched|sent out|posted)\b",
        r"\bon (its|the|their) way\b",
        r"\bhanded (over )?to the (courier|carrier)",
    ],
    "tracking": [
        r"\bnumer\w* (przesylki|paczki|sledzenia|listu przewozowego|nadania)",
        r"\bsledz\w* (przesylk|paczk|status)",
        r"\bstatus\w* (twojej |swojej |pana |pani )?(przesylki|paczki|zamowienia)",
        r"\b(czeka|dotarla|dostarczon|jest gotow)\w*.{0,30}"
        r"\b(paczkomat|paczkomac|punkci\w* odbioru|do odbioru|na odbior)",
        r"\btracking (number|link|code|id)|^tracking\s*:",
        r"\btrack (your|the) (parcel|package|order|shipment)",
        r"\b(ready for (pick ?up|collection)|out for delivery|has been delivered|was delivered)",
        r"\bparcel status\b",
    ],
    "invoice_mail": [
        r"\bfaktur\w*.{0,60}\b(wyslan|przeslan|wyslal|przeslal|dostarczon)\w*.{0,40}\b(mail|adres|skrzynk|poczt)",
        r"\b(sprawdz|zajrzyj)\w*.{0,30}\b(skrzynk|poczt|mail)\w*.{0,40}\bfaktur",
        r"\binvoice\b.{0,30}\b(sent|emailed|e-mailed|mailed)\b.{0,30}\b(e-?mail|inbox|address|mailbox)",
        r"\bcheck your (e-?mail|inbox|mailbox)\b.{0,30}\binvoice",
    ],
}

_USEFUL = [
    # order packed, no more changes (seed 002: the mail sellers find worth sending)
    r"\bspakowan|\bzapakowan|\bkompletuj",
    r"\bnie (mozemy|da sie|mozna|bedzie mozna|jest (juz )?mozliw)\w*.{0,40}\b(zmian|zmieni|anulow|modyfik)",
    r"\bbez (dalszych |mozliwosci )?zmian",
    r"\b(packed|being packed)\b",
    r"\bno (further|more) changes\b|\bcan(no|')t (be )?(change|modif|cancel)",
    # returns and exchanges
    r"\bzwrot|\bwymian|\bodstapi|\breklamac|\bkorekt",
    r"\breturn|\bexchange|\brefund|\bcredit note",
    # the invoice itself
    r"\bw zalacz\w*|\bzalacza\w*|\bdo pobrania\b|\bpod linkiem\b|\bpobierz\w*",
    r"\battached\b|\battachment\b|\bdownload\b",
    # stock / options problems the buyer must act on
    r"\bbrak\w* (towaru|rozmiaru|koloru|na stanie)|\bniedostepn|\bwyczerpa",
    r"\bout of stock\b|\bunavailable\b|\bno longer available\b",
    # a later review request (seed 002: worth sending, weeks later)
    r"\bopini|\brecenzj|\breview\b",
]

# Something went wrong or differs from what the marketplace said (not in a pleasantry: "zapraszamy
# ponownie" is no news): worth telling.
_TWIST = [
    r"\b(niestety|jednak|ponownie|bledn|pomylk|pomylil|uszkodz|opozni|przeprasza|doplat|brakuje|odmow)",
    r"\b(but|however|unfortunately|again|wrong|mistake|damaged|delay\w*|sorry|short|difference|refuse)\b",
]

_FILLER = [
    r"^(dzien dobry|witam|witamy|czesc|szanown\w*|drog\w*|hej|hello|hi|dear"
    r"|good (morning|afternoon|evening))\b",
    r"^(pozdrawiam|pozdrawiamy|z powazaniem|serdecznie|best regards|kind regards|regards"
    r"|cheers|sincerely|thanks|thank you)\b",
    r"^(zespol|team|obsluga klienta|customer service)\b",
    r"\b(zapraszamy ponownie|do zobaczenia|milego dnia|milej lektury|zyczymy|zycze|udanych zakupow)",
    r"\b(w razie (pytan|watpliwosci)|jestesmy do dyspozycji|prosimy o kontakt|pozostajemy do dyspozycji)",
    r"\b(we hope you|hope you enjoy|enjoy your|have a (nice|great|good) day|see you again"
    r"|shop with us again)",
    r"\b(if you have any questions|feel free to contact|do not hesitate|don't hesitate|we are here to help)",
    r"\b(to wiadomosc automatyczna|nie odpowiadaj|this is an automatic|do not reply)",
]

_C_DUP = {cat: [re.compile(p) for p in pats] for cat, pats in _DUPLICATE.items()}
_C_USEFUL = [re.compile(p) for p in _USEFUL]
_C_TWIST = [re.compile(p) for p in _TWIST]
_C_FILLER = [re.compile(p) for p in _FILLER]
_URL = re.compile(r"https?://\S+|www\.\S+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
# A sentence of its own (not a duplicate, not filler) this long counts as content for the buyer.
SUBSTANTIVE_MIN_WORDS = 6


def normalize(text: str) -> str:
    """Lower case, Polish letters folded to ASCII (ł→l, ą→a…), whitespace collapsed."""
    text = text.lower().replace("ł", "l")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[ \t]+", " ", text).strip()


@dataclass(frozen=True)
class ComplianceResult:
    held: bool
    categories: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    substantive: tuple[str, ...] = field(default=(), repr=False)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _sentence_kind(sentence: str) -> tuple[str, tuple[str, ...]]:
    cats = tuple(cat for cat, pats in _C_DUP.items() if any(p.search(sentence) for p in pats))
    if any(p.search(sentence) for p in _C_USEFUL) or sentence.rstrip().endswith("?"):
        return "substantive", cats
    filler = any(p.search(sentence) for p in _C_FILLER)
    if not filler and any(p.search(sentence) for p in _C_TWIST):
        return "substantive", cats
    if cats:
        return "duplicate", cats
    if filler:
        return "filler", ()
    words = re.findall(r"\w+", _URL.sub(" ", sentence))
    if len(words) >= SUBSTANTIVE_MIN_WORDS:
        return "substantive", ()
    return "filler", ()


def check(text: str) -> ComplianceResult:
    """Hold a text made only of marketplace-duplicate announcements (and pleasantries)."""
    sentences = [s.strip() for s in _SENTENCE_SPLIT.split(normalize(text or "")) if s.strip()]
    categories: list[str] = []
    substantive: list[str] = []
    for sentence in sentences:
        kind, cats = _sentence_kind(sentence)
        if kind == "duplicate":
            categories.extend(c for c in cats if c not in categories)
        elif kind == "substantive":
            substantive.append(sentence)
    if categories and not substantive:
        return ComplianceResult(
            held=True,
            categories=tuple(categories),
            reasons=tuple(CATEGORIES[c] for c in categories),
        )
    return ComplianceResult(held=False, categories=tuple(categories), substantive=tuple(substantive))
