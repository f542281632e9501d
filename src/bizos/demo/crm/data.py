"""The vocabulary of the demo sales history: who Northwind Coffee Roasters sells to, who
works there, what they write and why deals are won or lost.

Domains are under the reserved ``.example`` top-level domain so no demo message can
ever reach a real inbox; phone numbers come from the ranges set aside for fiction
(US/CA ``555-01xx``, Ofcom's drama numbers in the UK).
"""

from __future__ import annotations

from dataclasses import dataclass

# The 37 cafés the activity seeder's prospects (``buyer{i}@cafe{i % 37}.example``) work at.
CAFE_NAMES = [
    "Copper Kettle Café", "The Daily Grind", "Little Owl Coffee", "Bean & Bloom",
    "Harbor Lane Café", "Second Shot Espresso", "Maple Street Coffee", "Kiln Coffee Bar",
    "The Fox & Crema", "Morning Ritual", "Northside Espresso", "Pour House",
    "Sparrow Café", "Common Ground Coffee", "Brass Tap Café", "Wildflower Coffee Co.",
    "The Roost", "Two Cups Café", "Red Door Espresso", "Lantern Coffee",
    "Juniper Café", "Drift Coffee", "Oak & Ash Café", "Tidewater Coffee",
    "Blue Heron Café", "Parlour Coffee", "Stone Bridge Café", "Wren Espresso Bar",
    "Cloudberry Café", "Ferris Coffee House", "Goldfinch Café", "Mill Race Coffee",
    "Halfmoon Espresso", "The Corner Cup", "Saltbox Café", "Ember Coffee Lab",
    "Pinecone Café",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Segment:
    """A kind of customer: how big they are, who buys, what a contract is worth."""

    industry: str
    employees: tuple[int, int]
    amount: tuple[int, int]  # wholesale contract value in USD
    titles: tuple[str, ...]
    product: tuple[str, ...]  # what a deal with them is for


CAFE = Segment(
    "Café",
    (4, 30),
    (1200, 9000),
    ("Owner", "Co-owner", "Head Barista", "Café Manager", "Purchasing"),
    ("house espresso blend", "single-origin filter rotation", "espresso + decaf program"),
)
SEGMENTS = {
    "Restaurant": Segment(
        "Restaurant",
        (12, 90),
        (2000, 14000),
        ("Owner", "General Manager", "Beverage Director", "F&B Manager", "Chef-Owner"),
        ("after-dinner espresso program", "brunch filter coffee", "espresso + cold brew"),
    ),
    "Hotel": Segment(
        "Hotel",
        (40, 650),
        (8000, 48000),
        ("F&B Manager", "Director of Food & Beverage", "Purchasing Manager", "Executive Chef"),
        ("breakfast & lobby bar coffee", "in-room coffee program", "banqueting coffee supply"),
    ),
    "Corporate office": Segment(
        "Corporate office",
        (60, 2400),
        (3000, 30000),
        ("Office Manager", "Workplace Experience Lead", "Facilities Manager", "Purchasing"),
        ("office coffee service", "pantry beans subscription", "office espresso bar supply"),
    ),
    "Grocery": Segment(
        "Grocery",
        (25, 420),
        (5000, 36000),
        ("Category Buyer", "Purchasing Manager", "Store Manager", "Owner"),
        ("retail bags on shelf", "private-label whole bean", "bulk bins program"),
    ),
    "University": Segment(
        "University",
        (600, 8000),
        (12000, 48000),
        ("Dining Services Director", "Purchasing Officer", "Catering Manager"),
        ("campus cafés supply", "dining hall coffee contract", "catering coffee supply"),
    ),
    "Coworking": Segment(
        "Coworking",
        (8, 60),
        (1800, 12000),
        ("Community Manager", "Operations Manager", "Owner"),
        ("members' coffee bar", "pantry beans subscription"),
    ),
}

# Everyone else Northwind sells to: (name, domain stem, industry).
BUSINESSES = [
    ("Trattoria Lucca", "trattorialucca", "Restaurant"),
    ("Ember & Vine", "embervine", "Restaurant"),
    ("The Salt Yard", "saltyard", "Restaurant"),
    ("Nori House", "norihouse", "Restaurant"),
    ("Brasserie Marceau", "brasseriemarceau", "Restaurant"),
    ("Hearth Kitchen", "hearthkitchen", "Restaurant"),
    ("Gasthaus Lindenhof", "lindenhof", "Restaurant"),
    ("Olive & Fig", "olivefig", "Restaurant"),
    ("Smoke Signal BBQ", "smokesignalbbq", "Restaurant"),
    ("Paloma Cantina", "palomacantina", "Restaurant"),
    ("The Granary Hotel", "granaryhotel", "Hotel"),
    ("Harbourview Hotel", "harbourviewhotel", "Hotel"),
    ("Hotel Alster Residenz", "alster-residenz", "Hotel"),
    ("The Wickham", "thewickham", "Hotel"),
    ("Cedar Lodge Resort", "cedarlodge", "Hotel"),
    ("Bellhaven Inn", "bellhaveninn", "Hotel"),
    ("Maritime Suites", "maritimesuites", "Hotel"),
    ("Lakeside Grand", "lakesidegrand", "Hotel"),
    ("Brightwave Software", "brightwave", "Corporate office"),
    ("Kestrel Analytics", "kestrelanalytics", "Corporate office"),
    ("Fernbrook Insurance", "fernbrook", "Corporate office"),
    ("Atlas Design Studio", "atlasdesign", "Corporate office"),
    ("Quantel Logistics", "quantel", "Corporate office"),
    ("Verity Law LLP", "veritylaw", "Corporate office"),
    ("Northbeam Energy", "northbeam", "Corporate office"),
    ("Helix Biotech", "helixbio", "Corporate office"),
    ("Pixelforge Games", "pixelforge", "Corporate office"),
    ("Summit Health Partners", "summithealth", "Corporate office"),
    ("Green Basket Market", "greenbasket", "Grocery"),
    ("Fairfield Co-op", "fairfieldcoop", "Grocery"),
    ("Urban Pantry", "urbanpantry", "Grocery"),
    ("Marktkorb Feinkost", "marktkorb", "Grocery"),
    ("Hollis & Daughters Grocers", "hollisgrocers", "Grocery"),
    ("Bramble Farm Shop", "bramblefarm", "Grocery"),
    ("Riverside Natural Foods", "riversidenatural", "Grocery"),
    ("Westbrook University", "westbrook-university", "University"),
    ("Carrow College", "carrowcollege", "University"),
    ("Technische Hochschule Nordstadt", "th-nordstadt", "University"),
    ("St. Aldric University", "staldric", "University"),
    ("Lakeshore Community College", "lakeshorecc", "University"),
    ("The Hive Cowork", "thehivecowork", "Coworking"),
    ("Foundry Desks", "foundrydesks", "Coworking"),
    ("Common Room Workspace", "commonroom", "Coworking"),
    ("Loom Collective", "loomcollective", "Coworking"),
]

# Where the businesses that are not in the home market are.
HOME_COUNTRY = {
    "lindenhof": "DE", "alster-residenz": "DE", "marktkorb": "DE", "th-nordstadt": "DE",
    "harbourviewhotel": "GB", "thewickham": "GB", "carrowcollege": "GB", "staldric": "GB",
    "hollisgrocers": "GB", "bramblefarm": "GB", "saltyard": "GB", "maritimesuites": "CA",
    "lakeshorecc": "CA", "brasseriemarceau": "CA",
}  # fmt: skip

# (city, country, phone number pattern as a local would write it; "{n}" is 00-99).
CITIES = [
    ("Portland", "US", "(503) 555-01{n}"),
    ("Seattle", "US", "(206) 555-01{n}"),
    ("San Francisco", "US", "(415) 555-01{n}"),
    ("Chicago", "US", "(312) 555-01{n}"),
    ("Austin", "US", "(512) 555-01{n}"),
    ("Brooklyn", "US", "(718) 555-01{n}"),
    ("Denver", "US", "(303) 555-01{n}"),
    ("Boston", "US", "(617) 555-01{n}"),
    ("Toronto", "CA", "(416) 555-01{n}"),
    ("Vancouver", "CA", "(604) 555-01{n}"),
    ("Montréal", "CA", "(514) 555-01{n}"),
    ("London", "GB", "020 7946 00{n}"),
    ("Manchester", "GB", "0161 496 00{n}"),
    ("Bristol", "GB", "0117 496 00{n}"),
    ("Edinburgh", "GB", "0131 496 00{n}"),
    ("Berlin", "DE", "030 23125 4{n}"),
    ("Hamburg", "DE", "040 66969 4{n}"),
    ("Munich", "DE", "089 21094 4{n}"),
    ("Cologne", "DE", "0221 47095 4{n}"),
]
# Mostly home market; the UK and Germany through the Hamburg roastery partner.
COUNTRY_WEIGHTS = {"US": 0.5, "CA": 0.14, "GB": 0.2, "DE": 0.16}

FIRST_NAMES = [
    "Ava", "Noah", "Mia", "Liam", "Zoe", "Ethan", "Chloe", "Mateo", "Priya", "Daniel",
    "Grace", "Omar", "Lena", "Jonas", "Sofia", "Marcus", "Aisha", "Tom", "Hannah", "Kai",
    "Elena", "Ben", "Fatima", "Oscar", "Isla", "Ravi", "Clara", "Felix", "Nadia", "Sam",
    "Leah", "Diego", "Emma", "Tariq", "Julia", "Owen", "Mei", "Lucas", "Ingrid", "Theo",
    "Amara", "Jack", "Rosa", "Finn", "Yara", "Henry", "Keiko", "Ali", "Freya", "Malik",
]  # fmt: skip
LAST_NAMES = [
    "Nguyen", "Schmidt", "Patel", "Walker", "García", "Müller", "O'Brien", "Kim",
    "Johnson", "Rossi", "Fischer", "Haddad", "Campbell", "Novak", "Tanaka", "Silva",
    "Brooks", "Weber", "Clarke", "Hassan", "Lindqvist", "Moreau", "Chen", "Adeyemi",
    "Becker", "Murphy", "Kowalski", "Reyes", "Hughes", "Wagner", "Osei", "Fraser",
    "Larsen", "Ivanova", "Bauer", "Delgado", "Sato", "Doyle", "Yilmaz", "Price",
]  # fmt: skip
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "gmx.de", "hotmail.co.uk"]
# People who write from a personal address: pop-ups, carts, small caterers.
SOLO_TITLES = ("Owner", "Founder", "Pop-up operator", "Caterer", "Coffee cart owner")

LEAD_SOURCES = {
    "web_form": 0.28,
    "referral": 0.12,
    "trade_show": 0.12,
    "cold_outreach": 0.15,
    "instagram": 0.13,
    "api": 0.08,
    "import": 0.12,
}
# How much a source says about closing (the signal a trained scoring model should find).
SOURCE_WIN_LIFT = {
    "referral": 1.1,
    "trade_show": 0.8,
    "web_form": 0.15,
    "api": 0.0,
    "instagram": -0.35,
    "import": -0.45,
    "cold_outreach": -0.7,
    "existing_customer": 1.2,
}
TRADE_SHOWS = [
    "Coffee Fest Portland",
    "London Coffee Festival",
    "Specialty Coffee Expo",
    "INTERNORGA Hamburg",
]

LEAD_MESSAGES = [
    "Looking for a new house espresso, roughly {kg} kg a week. Can you send samples?",
    "Do you do wholesale pricing for {kg} kg/week? We currently buy from a national roaster.",
    "We're opening a second location and want a roaster who can train our baristas.",
    "Interested in a decaf and a cold brew option alongside our espresso.",
    "Our staff drink a lot of coffee - about {kg} kg a week. What would an office plan cost?",
    "Saw you at the festival, would love to talk about a filter rotation.",
    "Could you quote for breakfast service coffee, around {kg} kg per week?",
    "Need compostable packaging and delivery twice a week. Possible?",
    "What are your minimum order quantities and lead times?",
    "Please call me about supplying our campus cafés.",
]
DISQUALIFY_REASONS = [
    "home barista, not a business",
    "outside our delivery area",
    "too small: under 3 kg a month",
    "duplicate of an existing lead",
    "no response after three attempts",
    "student project, no purchase intent",
    "locked into a supplier contract until next year",
]
LOST_REASONS = ["price", "went with competitor", "no budget", "timing"]
LOST_REASON_WEIGHTS = [0.34, 0.3, 0.18, 0.18]
WON_REASONS = [
    "loved the samples",
    "barista training included",
    "twice-weekly local delivery",
    "best price per kg at their volume",
    "referral trust",
]

NOTES = [
    "Runs a {machine}; wants a blend that holds up in milk. Sent tasting notes.",
    "Uses about {kg} kg a week, currently with a national roaster; unhappy with freshness.",
    "Prefers washed Ethiopians for filter; asked about a seasonal Kenyan.",
    "Decision sits with the owner; {first} is the day-to-day contact.",
    "Asked for invoices monthly on 30-day terms.",
    "Deliveries before 7am only - loading bay at the back.",
    "Interested in barista training for two new hires.",
    "Will revisit pricing after their Q{q} budget review.",
    "Compared us with two other roasters; price sensitive but cares about traceability.",
    "Wants a decaf that isn't an afterthought - Swiss Water process preferred.",
]
MACHINES = ["La Marzocco Linea PB", "Slayer Steam", "Victoria Arduino Eagle One", "Synesso MVP"]

# Task titles per moment of the sales process: (origin, title, priority).
LEAD_TASKS = [
    ("lead.assigned", "Call {name} about wholesale needs", "normal"),
    ("lead.hot", "Reply to {name} today (hot lead)", "high"),
]
STAGE_TASKS = {
    "qualified": ("deal.stage:qualified", "Send samples to {company}", "normal"),
    "proposal": ("deal.stage:proposal", "Follow up on proposal for {company}", "high"),
    "negotiation": (
        "deal.stage:negotiation",
        "Confirm terms and first delivery with {company}",
        "high",
    ),
}
CUSTOMER_TASKS = [
    ("Quarterly check-in with {company}", "low"),
    ("Schedule barista training at {company}", "normal"),
    ("Review reorder volumes with {company}", "normal"),
]

# How a rep takes leads (SalesRep rows: capacity, territories), by the team member's name.
REP_PROFILES: dict[str, tuple[int, list[str]]] = {
    "Maya Okafor": (60, ["US", "CA"]),
    "Luis Romero": (50, ["US", "CA"]),
    "Hana Sato": (40, ["GB", "DE"]),
}
DEFAULT_REP: tuple[int, list[str]] = (40, [])
# The tenant's assignment rules, tried in order: (name, countries, sources, who by name;
# "owner" is the workspace owner). Leads no rule places go round robin over the team.
ASSIGNMENT_RULES: list[tuple[str, list[str], list[str], list[str]]] = [
    ("Referrals: the owner calls back", [], ["referral"], ["owner"]),
    ("UK and Germany", ["GB", "DE"], [], ["Hana Sato"]),
    ("North America inbound", ["US", "CA"], ["web_form", "api", "instagram"], ["Maya Okafor"]),
    ("North America outbound and events", ["US", "CA"], [], ["Luis Romero", "Maya Okafor"]),
]
# Words for a one-person business: "Delgado Coffee Cart".
SOLO_BUSINESSES = ["Coffee Cart", "Catering", "Pop-up Café", "Events"]
