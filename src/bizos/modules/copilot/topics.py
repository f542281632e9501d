"""What a question is about, from the ways owners ask it: each topic has weighted
patterns over the lower-cased question, and the best total wins. A topic names the tool
family that answers it (see ``planning.py``)."""

# ruff: noqa: E501  (pattern tables and phrasing tables read best one entry a line)

from __future__ import annotations

import re
from dataclasses import dataclass

_TOPICS: dict[str, list[tuple[str, float]]] = {
    "revenue": [
        (r"\brevenues?\b|\bturnover\b|\btakings\b|\bgross sales\b|\bincome\b|\bturn(?:s|ed|ing)? over\b|\bgross(?:ed)? (?:this|last|in|for|so)\b|\bgrossed\b|\breceipts\b", 3),
        (r"\btop[- ]line\b", 7),  # "top line" is revenue, not the top product line
        (r"\bwhat (?:did|have|has|do) (?:we|i|the (?:shop|store|business|company)) (?:turn(?:ed)? over|take|taken|took|bring|brought|make|made|earn|earned|gross|grossed|bill|billed|pull|pulled)\b|\bhow much business\b", 3),
        (r"\bsales\b|\bsold\b|\bsell\b|\bselling\b", 2),
        (r"\bhow much (?:money )?(?:did|have|has|do|does) (?:\w+ ){1,3}?(?:make|made|bring|take|earn|sell|do|sold|generate|generated)\b", 3),
        (r"\b(?:made|make|making|earn(?:ed)?|brought in|bring in|take in|took in|bill(?:ed)?)\b", 1),
        (r"\bmoney\b", 0.5),
        (r"\b(?:money|cash|revenue|sales|income) (?:came|comes|come|coming|has come|have come) in\b|\b(?:did|have|has) (?:we|i|the (?:shop|store|business)) (?:bring|brought|brings) in\b|\bhow much (?:money|cash) (?:did|have|has) (?:we|i) (?:got|get|received?|take|taken|took)\b", 6),
        (r"\bhow much (?:did|has|have) (?:\w+ ){1,4}(?:spend|spent|buy|bought|order(?:ed)?)\b", 2),
        (r"\bwhat (?:did|has|have) (?:\w+ ){1,3}(?:buy|bought|order|ordered|purchase|purchased)\b", 3),
    ],
    "net_revenue": [
        (r"\bnet (?:revenue|sales|takings|turnover)\b|\b(?:revenue|sales|takings|turnover) (?:after|less|minus|net of|excluding|without) (?:the )?(?:refunds|returns)\b", 12),
    ],
    "channel_share": [
        (r"\b(?:percentage|percent|share|proportion|fraction|%|how much) of (?:our |the |my |total )*(?:revenue|sales|turnover|income)\b.{0,30}\b(?:from|comes?|came|is|was|via|through|on|by)\b", 12),
        (r"\bwhat (?:percentage|percent|share|proportion|fraction)\b", 2),
    ],
    "orders": [
        (r"\borders?\b|\bpurchases\b|\btransactions\b", 2),
        (r"\bhow many (?:customers|clients|people|buyers) (?:have )?(?:ordered|bought|purchased)\b", 5),
        (r"\bhow many (?:orders|sales|purchases|transactions)\b|\bnumber of (?:orders|sales)\b|\border (?:count|volume)\b", 3),
    ],
    "aov": [
        (r"\baov\b|\baverage (?:(?:wholesale|shopify|online|web|retail|deal) )?(?:order|sale|basket|ticket|transaction|spend)(?: (?:value|size|amount))?\b|\bavg\.? order\b|\bbasket size\b|\btypical order\b|\bspend per order\b|\bper order\b", 6),
    ],
    "top_customers": [
        (r"\b(?:best|top|biggest|largest|most valuable|highest[- ]spending|loyal|major|key|main|important|leading)\s+(?:\d+\s+|\w+\s+)?(?:customers?|clients?|buyers?|accounts?|spenders?)\b", 6),
        (r"\b(?:who|which (?:customers?|clients?|accounts?|buyers?))(?: has| have)? (?:buys|bought|spends|spent|orders|ordered|purchased?|pays|paid)(?: \w+)? (?:the )?most\b", 6),
        (r"\bwho (?:are|were|is|was) (?:my|our) (?:best|top|biggest)\b", 3),
        (r"\bcustomers?\b|\bclients?\b", 1),
    ],
    "top_products": [
        (r"\bbest[- ]?sell(?:ers?|ing)\b|\btop[- ]sell(?:ers?|ing)\b|\bbestsellers?\b", 6),
        (r"\b(?:best|top|most popular|popular|biggest|bestselling|top-performing|leading)\s+(?:\d+\s+|\w+\s+)?(?:products?|items?|skus?|coffees?|lines?|sellers?)\b", 6),
        (r"\b(?:what|which) (?:products?|items?|coffees?|skus?)? ?(?:sells?|sold|moves?|moved|did) (?:the )?(?:most|best)\b|\bsells? (?:the )?best\b|\bmost (?:popular|sold|ordered)\b", 6),
        (r"\b(?:which|what) (?:products?|items?|coffees?|skus?) (?:\w+ ){0,2}(?:the )?most\b", 7),
        (r"\bwhat (?:are|do|did|is) (?:people|customers|they|folks|everyone) (?:buy|buying|bought|order|ordering|love|loving)\b", 7),
        (r"\bproducts?\b|\bitems?\b|\bskus?\b", 0.5),
    ],
    "stock_value": [
        (r"\b(?:stock|inventory) (?:value|worth|valuation)\b|\bvalue of (?:the |our |my )?(?:stock|inventory)\b|\b(?:stock|inventory) (?:is|are) (?:worth|valued)\b|\bworth of (?:stock|inventory)\b", 7),
        (r"\bhow much (?:is )?(?:the |our |my )?(?:stock|inventory)(?: is)? worth\b|\bhow much (?:stock|inventory) do (?:we|i) have\b|\btied up in (?:stock|inventory)\b|\bhow much (?:do we have |have we got |is there )?in stock\b", 7),
    ],
    "low_stock": [
        (r"\brun out\b|\brunning (?:low|out|short)\b|\blow (?:on |in )?(?:stock|inventory)\b|\bout of stock\b|\bstock[- ]?outs?\b|\bsold out\b", 7),
        (r"\breorder\b|\bre-order\b|\brestock\w*\b|\bre-stock\w*\b|\breplenish\b|\bneed(?:s)? (?:to be )?(?:re)?order(?:ed|ing)?\b|\bshort on\b|\bstock levels?\b|\bwhat (?:should|do) (?:i|we) (?:order|buy)\b", 5),
        (r"\b(?:stock|inventory)\b", 1),
    ],
    "receivables": [
        (r"\bowes? (?:us|me)\b|\bwho owes\b|\bwho still owes\b|\bowed\b|\bowing\b|\breceivables?\b|\ba/?r\b|\baccounts receivable\b|\bag(?:e)?ing\b", 7),
        (r"\bunpaid\b|\boutstanding\b|\byet to pay\b|\bnot (?:yet )?paid\b|\bhaven'?t paid\b|\bhasn'?t paid\b|\bhas not paid\b|\bhave not paid\b|\bstill (?:to )?pay\b|\bdebtors?\b|\bin the door\b", 4),
    ],
    "overdue_invoices": [
        (r"\boverdue (?:invoices?|bills?|payments?|accounts?)\b|\binvoices?\b.{0,20}\b(?:overdue|late|past due)\b|\bpast[- ]due\b|\blate (?:payments?|payers?|invoices?)\b|\bpaying late\b|\blate (?:on|with) (?:their )?payments?\b", 8),
        (r"\binvoices?\b", 1.5),
    ],
    "refunds": [
        (r"\brefund(?:s|ed)?\b|\breturns\b|\bmoney back\b|\bchargebacks?\b", 4),
    ],
    "expenses": [
        (r"\bexpenses?\b|\bspend(?:ing)?\b|\bspent\b|\bcosts?\b|\boutgoings\b|\bcost us\b|\bbills?\b|\bpaid (?:for|out)\b|\bexpenditure\b|\boverheads?\b", 3),
        (r"\bhow much (?:did|do|have) (?:we|i) (?:spend|spent|pay|paid)\b|\bwhat (?:did|do) (?:we|i) spend\b", 4),
        (r"\bhow much (?:\w+ ){1,3}(?:did|do|have|has) (?:we|i) (?:pay|paid|spend|spent)\b|\bwhere (?:is|does|did) (?:our|my|the) money go", 6),
    ],
    "budgets": [
        (r"\bbudgets?\b|\bover ?spen[dt]\b|\bover(?:spending)?\b.{0,12}\bbudget\b", 6),
        (r"\b(?:over|under|within|on|off) (?:the )?budget\b", 4),
        (r"\b(?:against|vs|versus|compared to|relative to) (?:the |our |my )?budgets?\b", 6),
    ],
    "profit": [
        (r"\bprofits?\b|\bprofitable\b|\bmargins?\b|\bnet income\b|\bbottom line\b|\bearnings\b|\b(?:making|make|made) money\b|\bin the (?:black|red)\b|\bafter (?:costs|expenses)\b", 7),
    ],
    "pipeline": [
        (r"\bpipeline\b|\bopen deals?\b|\bdeal ?flow\b|\bdeals? (?:by|per|in each|at each) stage\b|\bdeals? in (?:play|progress|the works)\b|\bopportunities\b", 7),
        (r"\bhow many deals\b|\b(?:what|which) deals\b|\bdeals?\b", 2),
        (r"\b(?:in|at) (?:the )?(?:lead|qualified|qualification|proposal|negotiation|negotiating) stage\b|\b(?:stuck|sitting|sits|waiting) (?:in|at) (?:the )?(?:proposal|negotiation|qualified|qualification)\b|\bwhat(?:'s| is) (?:in|at) (?:the )?(?:proposal|negotiation)\b|\bin negotiation\b", 7),
    ],
    "forecast": [
        (r"\bclosing\b|\bwill close\b|\bshould close\b", 6),
        (r"\bforecasts?\b|\bprojected\b|\bprojections?\b|\bexpect(?:ed)? to (?:close|win|make|sell)\b|\b(?:going|likely) to (?:close|win)\b|\bwill (?:we|i) (?:make|close|hit|sell)\b|\bpredict", 7),
    ],
    "leads": [
        (r"\bleads?\b|\bsign-?ups\b|\binquir(?:y|ies)\b|\benquir(?:y|ies)\b|\bprospects?\b", 4),
        (r"\bnew (?:leads?|prospects?|inquiries|enquiries|sign-?ups)\b|\bhow many leads\b", 2),
    ],
    "lead_sources": [
        (r"\bwhere (?:do|did|are|were) (?:(?:our|my|the|new|most|of|all) )*(?:leads?|customers?|prospects?|inquiries|sign-?ups)(?: \w+)? (?:come|coming|came) from\b|\blead sources?\b|\bsources? of (?:\w+ )?leads\b|\bleads? by (?:source|channel)\b|\bwhich (?:channels?|sources?) (?:bring|brings|brought|gives?|generates?)(?: in)?(?: us)? (?:the )?(?:most |more )?(?:leads?|prospects|inquiries|enquiries|sign-?ups)", 10),
    ],
    "hot_leads": [
        (r"\b(?:hot|hottest|warm|warmest|best|top|strongest|most promising|highest[- ]scor(?:ing|ed)|qualified)\s+(?:\d+\s+)?(?:leads?|prospects?)\b|\bwho should (?:i|we) (?:call|contact|chase|reach out to)(?: first)?\b|\blead scores?\b", 9),
        (r"\b(?:which|what) (?:leads?|prospects?) should (?:i|we)\b|\b(?:leads?|prospects?) (?:to|i should|we should) (?:follow up|call|chase|contact)", 9),
    ],
    "deal": [
        (r"\bthe [\w&'. -]{2,70}? deal\b|\bdeal with [\w&'. -]{2,40}|\b(?:status|stage) of (?:the )?[\w&'. -]{2,70}? (?:deal|opportunity)\b", 5),
    ],
    "lookup": [
        (r"\btell me (?:all )?about\b|\bwhat do (?:we|i) know about\b|\bwho is\b|\bwho are\b|\binfo(?:rmation)? (?:on|about)\b|\blook ?up\b|\bdetails (?:of|for|on)\b|\bprofile (?:of|for)\b|\bhistory with\b|\bhow(?:'s| is) (?:it going|our relationship) with\b|\bany news (?:on|from)\b|\bwhat(?:'s| is) (?:up|new|happening|going on) with\b|\b(?:find|show me) (?:the )?(?:contact|company|customer|account)\b|\bsummar(?:y|ise|ize) (?:of )?\b", 4),
    ],
    "next_actions": [
        (r"\bnext (?:best )?(?:steps?|actions?|moves?)\b|\bwhat should (?:i|we) do (?:next|about|with)\b|\bhow (?:should|do) (?:i|we) follow up\b|\bwhat(?:'s| is) next (?:for|with)\b|\bhow (?:do|can) (?:i|we) (?:close|win|move)\b", 7),
    ],
    "tickets": [
        (r"\btickets?\b|\bsupport (?:queue|requests?|cases?|load|inbox)\b|\bcomplaints?\b|\bhelp ?desk\b|\bsupport\b|\bcases\b", 4),
        (r"\b(?:urgent|unresolved|unanswered|open|pending)\s+(?:tickets?|issues?|requests?|cases?|complaints?)\b|\bcustomer (?:issues|problems)\b", 3),
    ],
    "sla": [
        (r"\bslas?\b|\bbreach(?:es|ed)?\b|\bmissed (?:\w+ )?(?:deadlines?|targets?|slas?)\b|\bresponse targets?\b", 9),
    ],
    "first_response": [
        (r"\bhow (?:fast|quickly|quick|long|soon) (?:do|did|does|are|is|have) (?:we|i|the team|support|our team|our support(?: team)?|agents) (?:take to )?(?:respond|reply|answer|get back|responding|replying)", 10),
        (r"\bhow long (?:does|do|did) it take (?:us |me |the team |support |our team )?to (?:respond|reply|answer|get back)", 10),
        (r"\b(?:first[- ])?response times?\b|\breply times?\b|\btime to (?:first )?(?:respond|reply|response)\b|\bfirst response\b|\bresponsive\b", 9),
    ],
    "my_tasks": [
        (r"\bmy (?:tasks?|to-?dos?|to do list|todo list|list|agenda|day)\b|\bon my plate\b|\bwhat do i (?:have|need) to do\b|\btasks? (?:for|assigned to) me\b|\bwhat(?:'s| is) on my (?:list|plate|agenda)\b|\bassigned to me\b", 8),
        (r"\bwhat should i (?:work on|focus on|do today|be doing)\b|\bwhat(?:'s| is) (?:due|on) (?:today|this week)\b|\btasks? due\b", 7),
        (r"\btasks?\b|\bto-?dos?\b", 2),
    ],
    "overdue_tasks": [
        (r"\boverdue tasks?\b|\blate tasks?\b|\btasks?\b.{0,20}\b(?:overdue|late|past due|missed)\b|\bwhat(?:'s| is| am i) (?:overdue|late|behind)\b|\bbehind on\b|\bmissed deadlines\b|\bslipped\b", 8),
        (r"\banything i'?ve missed\b|\bhave i missed\b|\bdid i miss\b|\bfall(?:en)? behind\b|\bfell behind\b", 7),
        (r"\boverdue\b", 3),
    ],
    "contracts_due": [
        (r"\b(?:contracts?|agreements?|leases?)\b.{0,40}\b(?:due|renew\w*|expir\w*|ending|ends?|run out|runs out|lapse|lapses|terminat\w*|up for|notice)\b|\brenewals?\b|\bnotice dates?\b|\bup for renewal\b", 8),
        (r"\b(?:renew\w*|expir\w*|ending|terminat\w*)\b.{0,30}\b(?:contracts?|agreements?|leases?)\b", 8),
    ],
    "overview": [
        (r"\bhow (?:are|were|is|was|did) (?:we|things|business|the business|it|the shop|the store|sales|the company|i) (?:doing|going|looking|do|go|been|performing|tracking)\b|\bhow(?:'s| is) (?:business|it going|the business|things|trade|the shop)\b", 8),
        (r"\bhow did (?:\w+ ){1,4}go\b|\bhow was (?:\w+ ){0,3}(?:day|week|month|quarter|year|friday|monday|weekend)\b", 8),
        (r"\boverview\b|\bsnapshot\b|\bdashboard\b|\bkpis?\b|\bhealth check\b|\bstatus report\b|\bbrief me\b|\brecap\b|\bsummary of (?:the )?(?:business|week|month|day)\b|\bstate of (?:the )?business\b|\bkey (?:numbers|figures|metrics)\b|\bat a glance\b", 8),
    ],
}  # fmt: skip

TOPIC_PATTERNS = _TOPICS
TOPIC_INTENT = {name: "metrics" for name in _TOPICS}
TOPIC_INTENT.update({"deal": "search", "lookup": "search", "kb": "search"})

COMPILED = {
    name: [(re.compile(pattern), weight) for pattern, weight in patterns]
    for name, patterns in _TOPICS.items()
}

OUT_OF_SCOPE = re.compile(
    r"\bweather\b|\bforecast for (?:the )?(?:weekend|tomorrow)\b|\bpoem\b|\bpoetry\b|\bjoke\b|"
    r"\bsong\b|\blyrics\b|\bstory\b|\bworld cup\b|\bsuper ?bowl\b|\bolympics\b|\bfootball\b|"
    r"\bsoccer\b|\bnba\b|\bscore of the\b|\bwho won\b|\brecipe\b|\bcapital of\b|\bpresident\b|"
    r"\bprime minister\b|\bceo of\b|\bking of\b|\bqueen of\b|\bmovie\b|\bfilm\b|\btranslate\b|\bmeaning of life\b|\bhoroscope\b|"
    r"\bstock (?:market|price)\b|\bbitcoin\b|\bcrypto\b|\bnews\b|\bhistory of\b|\bcelebrity\b|"
    r"\bdistance (?:from|between)\b|\btime (?:is it )?in [a-z]+\b|\bwrite (?:me )?an? (?:essay|haiku|limerick)\b|"
    r"\bsing\b|\bdate tonight\b|\btell me a\b|\bhow tall\b|\bhow old is\b|\bwho (?:invented|discovered|wrote|painted)\b"
)

# Asked of the world, not the business, whatever business words they share.
WORLD = re.compile(
    r"\b(?:coffee ?shops?|cafes?|restaurants?|hotels?|bars?|places?|things to do) (?:in|near|around) "
    r"(?!(?:our|my|the|this|last|stock)\b)[a-z]+|\bbook (?:me )?an? (?:flight|hotel|table|room)\b|"
    r"\b(?:write|compose) (?:me )?an? (?:poem|song|story|essay|haiku|limerick)\b|\btell me a joke\b|"
    r"\bweather (?:in|today|tomorrow|like)\b"
)

# One named contract ("the Finca La Esperanza agreement", "our lease"), read in its
# document; "which contracts renew" lists them all (kb.contracts_due).
ONE_CONTRACT = re.compile(
    r"\b(?:the|our|my|this|that|their|his|her) (?:[\w&'.-]+ ){0,6}?(?:contract|agreement|lease)\b(?!s)"
)
SOME_CONTRACTS = re.compile(
    r"\b(?:any|which|what|all|how many|list)\b (?:(?:of )?(?:the|our|my) )?(?:\w+ )?(?:contracts?|agreements?|leases?)\b|\b(?:contracts|agreements|leases)\b"
)

KB_CUES = re.compile(
    r"\b(?:contract|agreement|lease|tenancy)s?\b|\bpolic(?:y|ies)\b|\bwarrant(?:y|ies)\b|\bguarantee\b|\bprocedures?\b|\bprocess for\b|"
    r"\bhandbook\b|\bmanual\b|\bquestions? about\b|\bguide(?:lines)?\b|\bfaq\b|\bdocs?\b|\bdocuments?(?:ation)?\b|"
    r"\bterms\b|\bconditions\b|\bopening hours\b|\bhours\b|\bvacation\b|\bholiday(?:s)? (?:policy|allowance|entitlement)\b|\bleave\b|"
    r"\bshipping (?:times?|costs?|rates?|options?|policy|methods?)\b|\bdeliver(?:y|ies) (?:times?|costs?|options?|areas?)\b|"
    r"\bdo (?:we|you) (?:ship|deliver|offer|accept|provide|sell|have|allow|support)\b|\bcan (?:i|customers?|we|they|you) (?:return|exchange|cancel|get|pay|change|order)\b|"
    r"\bhow (?:long|do|does|can|should|to)\b|\bwhat(?:'s| is| are) (?:our|the|my) [\w ]{0,30}(?:policy|process|procedure|terms|rules|address|number|hours|price list|prices)\b|"
    r"\bwhere (?:can|do) (?:i|we) find\b|\bexplain\b|\binstructions?\b|\bbrew(?:ing)? (?:guide|ratio|instructions)\b|\bgrind (?:size|setting)\b|\bsubscriptions?\b|\bwholesale (?:terms|pricing|prices)\b|"
    r"\bpayment terms\b|\bminimum order\b|\bdiscounts?\b|\bcontact details\b|\bphone number\b|\baddress\b"
)

KB_STRONG = re.compile(
    r"\bpolic(?:y|ies)\b|\bwarrant(?:y|ies)\b|\bguarantee\b|\bhandbook\b|\bprocedures?\b|"
    r"\b(?:refund|return|returns|exchange|cancellation) (?:window|period|policy|rules|process|deadline)\b|\bterms and conditions\b|\bopening hours\b|\bhow (?:do|can|should) (?:i|we|customers?)\b|"
    r"\bhow long (?:does|do|is|will|should|can)\b|\bcan (?:i|customers?|they) (?:return|exchange|cancel|get a)\b|"
    r"\bwhat(?:'s| is) the (?:process|procedure|rule)\b|\bnotice period\b|\bclauses?\b|\bsay about\b|\bin the [\w ]{1,30} (?:contract|agreement)\b|\bavailab(?:le|ility)\b|\baccording to\b|"
    # a business's terms and rules: what customers may do, what it offers, its minimums
    r"\bdo (?:we|you) (?:offer|ship|deliver|accept|provide|allow|support|charge|take back|refund|exchange|honou?r|price[- ]match|let|cover|guarantee|give (?:a |any )?(?:discount|refund|warranty|guarantee)|do (?:returns|refunds|exchanges|discounts|free|gift|wholesale|subscriptions|trade)|have (?:a|an|any) (?:\w+ )?(?:polic|process|procedure|rules?|guarantee|warrant|minimum|returns?|refund|loyalty|discount))|"
    r"\b(?:minimum|maximum|min\.?|max\.?) (?:\w+ ){0,2}(?:orders?|spend|purchases?|quantit(?:y|ies)|amounts?|notice)\b|\bmoq\b|"
    r"\bwhat(?:'s| is| are) (?:our|the|your|my) (?:\w+ ){0,4}(?:polic(?:y|ies)|terms|rules|conditions|requirements?|lead times?|cut-?offs?|return window)\b|"
    r"\b(?:rules?|polic(?:y|ies)|terms) (?:for|on|about|around|regarding)\b|\bwhat happens (?:if|when)\b|"
    r"\bcan (?:a |the |our |my )?(?:customers?|clients?|buyers?|people|users?|subscribers?|guests?|wholesalers?|wholesale (?:customers?|clients?|accounts?|buyers?)|staff|employees|members)\b|"
    r"\bcan (?:i|we) (?:return|exchange|cancel|pause|skip|refund|swap|use|split|pay by|pay with|order (?:online|by|over))\b|"
    r"\bis there (?:a|an|any) (?:\w+ ){0,3}(?:minimum|maximum|limit|fee|charge|discount|warranty|guarantee|polic(?:y|ies)|deadline|cut-?off|restocking)\b|"
    r"\b(?:are|is) (?:returns?|refunds?|exchanges?|shipping|delivery|deliveries|postage) (?:free|included|allowed|possible)\b|"
    r"\bwho (?:pays|covers|is responsible)(?: for)? (?:the )?(?:returns?|shipping|postage|delivery|damages?|duties|customs|repairs?)\b|\breturn (?:postage|shipping|label)s?\b|"
    r"\bhow much (?:does|do|is|will) (?:it cost to |a |the )?(?:\w+ ){0,2}(?:shipping|delivery|postage|subscriptions?|returns?|restocking|membership)(?: cost| costs| fee)?\b"
)
GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|heya|yo|howdy|greetings|good (?:morning|afternoon|evening|day)|"
    r"morning|evening|hey there|hi there|hello there|sup|what'?s up)\b[\s!.,a-z]{0,20}$"
)
THANKS = re.compile(
    r"^(?:(?:ok(?:ay)?|great|perfect|awesome|cool|nice|brilliant|lovely|excellent|good|fine|"
    r"got it|understood|sounds good|makes sense|noted)[\s,!.]*)*(?:thanks?(?: you| so much| a lot)?|"
    r"thank you(?: very much| so much)?|cheers|ta|thx|ty|much appreciated|appreciate it)?[\s!.,]*"
    r"(?:that(?:'s| is) (?:all|it|great|helpful))?[\s!.]*$"
)
GOODBYE = re.compile(
    r"^(?:bye|goodbye|see you|see ya|later|that'?s all|good ?night)\b[\s!.a-z]{0,15}$"
)
HELP = re.compile(
    r"\bwhat can (?:you|i) (?:do|ask|help)\b|\bwhat (?:do|can) you (?:do|know)\b|^help\b|"
    r"\bhow (?:do(?:es)?|can) (?:this|you|i use (?:this|you)) work\b|\bwho are you\b|"
    r"\bwhat are you\b|\bwhat should i ask\b|\bcapabilit|\bhow can you help\b|\bwhat (?:kind of |sort of |type of |other )?questions\b|\bwhat can i ask\b"
)


@dataclass(frozen=True, slots=True)
class Scored:
    topic: str
    score: float


def scores(text: str) -> list[Scored]:
    """Every topic with a positive score, best first (table order breaks ties)."""
    out = []
    for name, patterns in COMPILED.items():
        total = sum(weight for regex, weight in patterns if regex.search(text))
        if total > 0:
            out.append(Scored(name, total))
    order = list(COMPILED)
    out.sort(key=lambda s: (-s.score, order.index(s.topic)))
    return out


def conversation(text: str) -> str | None:
    """``greeting``, ``thanks``, ``goodbye`` or ``help`` for small talk, else None."""
    bare = text.strip(" ?!.")
    if not bare:
        return "greeting"
    if HELP.search(text):
        return "help"
    if scores(text):  # "morning sales" asks about sales
        return None
    if GREETING.match(bare):
        return "greeting"
    if GOODBYE.match(bare):
        return "goodbye"
    if THANKS.match(bare) and bare:
        return "thanks"
    return None


# Things the copilot has no tool for: said plainly (with where to do it, or what it can
# answer instead), never answered with an unrelated figure. (kind, pattern, words)
_DO = r"^(?:(?:hey|ok|okay|so|please|pls|can you|could you|would you|will you|go ahead and|i want to|i need to|i'd like to|i would like to|help me|you can|let's)[, ]+)*"
_RECORD = r"(?:(?:the|this|that|an?|all|our|my) )?(?:(?:\w+ ){0,2})?(?:orders?|invoices?|contacts?|customers?|compan(?:y|ies)|deals?|products?|subscriptions?|payments?|tickets?|tasks?|leads?|accounts?)\b"
CANNOT: list[tuple[str, re.Pattern[str], str]] = [
    (
        "action",
        re.compile(
            _DO
            + r"(?:cancel|refund|delete|remove|void|archive|merge|fulfil+|ship|close|reopen|restock|issue an? refund (?:for|on)|mark) "
            + _RECORD
        ),
        "That isn't something I can do yet: I can only propose a task, a note, a deal move, an email draft or a payment reminder. Open the record in its own page (orders under Commerce, invoices under Billing, contacts and deals under CRM) to do that.",
    ),
    (
        "metrics",
        re.compile(
            r"\b(?:cheapest|most expensive|priciest|least expensive|lowest[- ]priced|highest[- ]priced)\b|\bprice of\b"
        ),
        "I can't answer product prices yet: no tool of mine reads the catalogue's prices. I can tell you your best sellers, revenue per product, or stock value instead.",
    ),
    (
        "metrics",
        re.compile(r"\bwin(?:ning)? rates?\b|\bclose rates?\b"),
        "I can't work out a win rate yet: no tool of mine counts won against lost deals. I can show the open pipeline by stage, the forecast, or new leads instead.",
    ),
    (
        "metrics",
        re.compile(
            r"\bcash (?:position|flow|balance|on hand|in the bank)\b|\bbank balance\b|\bhow much (?:cash|money) (?:do we have|is in the bank|have we got)\b|\brunway\b"
        ),
        "I can't see your bank balance or cash position yet: no tool of mine reads the bank. I can tell you revenue, what customers owe you, refunds and expenses instead.",
    ),
    (
        "metrics",
        re.compile(
            r"\bnew (?:customers?|clients?|buyers?|accounts?)\b|\bcustomers? (?:did we|have we) (?:get|gain|win|acquire)"
        ),
        "I can't count new customers yet: no tool of mine reads when a customer first bought. I can count new leads, orders, or list your top customers instead.",
    ),
]


def cannot(text: str) -> tuple[str, str] | None:
    """``(intent, words)`` for a question no tool answers, else None."""
    for intent, regex, words in CANNOT:
        if regex.search(text):
            return intent, words
    return None
