"""Where a place is in time: city and country names, German and English, to IANA zones.

"Wie spät ist es in Tokio?" has one right answer, and a language model without a clock
guesses it (the 1.5B offline model said "16:30 Uhr" at 04:25 in Tokyo). The time in a
place is the watch's clock in that place's zone, so `llm_worker.intents` answers it
from this table. Every city the tz database names is in it by that name ("new york",
"buenos aires"); the rest are the names people use that the database does not:
German exonyms (Tokio, Peking, Moskau), other big cities, countries and a few US
states. A country or state that spans several zones names one city per main zone and
is answered for each. A place not here is left to the model (Gemini can search).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Place:
    de: str
    """How German says "in <place>": "in Tokio", "in der Schweiz", "im Iran"."""
    en: str
    """How English says it: "in Tokyo", "in the USA"."""
    zones: tuple[tuple[str, str, str], ...]
    """(German name, English name, IANA zone) per zone: one for a city or a one-zone
    country, several for a country that spans zones."""


# Names (lower case, any of the two languages) → (German phrase, English phrase, zone).
CITIES: dict[tuple[str, ...], tuple[str, str, str]] = {
    ("tokio", "tokyo"): ("Tokio", "Tokyo", "Asia/Tokyo"),
    ("peking", "beijing"): ("Peking", "Beijing", "Asia/Shanghai"),
    ("hongkong", "hong kong"): ("Hongkong", "Hong Kong", "Asia/Hong_Kong"),
    ("moskau", "moscow"): ("Moskau", "Moscow", "Europe/Moscow"),
    ("sankt petersburg", "st petersburg", "saint petersburg"): (
        "Sankt Petersburg",
        "Saint Petersburg",
        "Europe/Moscow",
    ),
    ("wladiwostok", "vladivostok"): ("Wladiwostok", "Vladivostok", "Asia/Vladivostok"),
    ("rom", "rome"): ("Rom", "Rome", "Europe/Rome"),
    ("mailand", "milan"): ("Mailand", "Milan", "Europe/Rome"),
    ("neapel", "naples"): ("Neapel", "Naples", "Europe/Rome"),
    ("venedig", "venice"): ("Venedig", "Venice", "Europe/Rome"),
    ("florenz", "florence"): ("Florenz", "Florence", "Europe/Rome"),
    ("kairo", "cairo"): ("Kairo", "Cairo", "Africa/Cairo"),
    ("lissabon", "lisbon"): ("Lissabon", "Lisbon", "Europe/Lisbon"),
    ("warschau", "warsaw"): ("Warschau", "Warsaw", "Europe/Warsaw"),
    ("prag", "prague"): ("Prag", "Prague", "Europe/Prague"),
    ("wien", "vienna"): ("Wien", "Vienna", "Europe/Vienna"),
    ("salzburg",): ("Salzburg", "Salzburg", "Europe/Vienna"),
    ("graz",): ("Graz", "Graz", "Europe/Vienna"),
    ("innsbruck",): ("Innsbruck", "Innsbruck", "Europe/Vienna"),
    ("zürich", "zurich"): ("Zürich", "Zurich", "Europe/Zurich"),
    ("genf", "geneva"): ("Genf", "Geneva", "Europe/Zurich"),
    ("bern",): ("Bern", "Bern", "Europe/Zurich"),
    ("basel",): ("Basel", "Basel", "Europe/Zurich"),
    ("kopenhagen", "copenhagen"): ("Kopenhagen", "Copenhagen", "Europe/Copenhagen"),
    ("brüssel", "brussels"): ("Brüssel", "Brussels", "Europe/Brussels"),
    ("athen", "athens"): ("Athen", "Athens", "Europe/Athens"),
    ("kiew", "kyjiw", "kyiv", "kiev"): ("Kiew", "Kyiv", "Europe/Kyiv"),
    ("bukarest", "bucharest"): ("Bukarest", "Bucharest", "Europe/Bucharest"),
    ("belgrad", "belgrade"): ("Belgrad", "Belgrade", "Europe/Belgrade"),
    ("luxemburg",): ("Luxemburg", "Luxembourg", "Europe/Luxembourg"),
    ("edinburgh", "edinburg"): ("Edinburgh", "Edinburgh", "Europe/London"),
    ("manchester",): ("Manchester", "Manchester", "Europe/London"),
    ("barcelona",): ("Barcelona", "Barcelona", "Europe/Madrid"),
    ("palma", "palma de mallorca", "mallorca"): ("Palma", "Palma", "Europe/Madrid"),
    ("teneriffa", "tenerife", "gran canaria", "las palmas"): (
        "Teneriffa",
        "Tenerife",
        "Atlantic/Canary",
    ),
    ("hamburg",): ("Hamburg", "Hamburg", "Europe/Berlin"),
    ("münchen", "munich"): ("München", "Munich", "Europe/Berlin"),
    ("köln", "cologne"): ("Köln", "Cologne", "Europe/Berlin"),
    ("frankfurt",): ("Frankfurt", "Frankfurt", "Europe/Berlin"),
    ("stuttgart",): ("Stuttgart", "Stuttgart", "Europe/Berlin"),
    ("düsseldorf",): ("Düsseldorf", "Düsseldorf", "Europe/Berlin"),
    ("dresden",): ("Dresden", "Dresden", "Europe/Berlin"),
    ("leipzig",): ("Leipzig", "Leipzig", "Europe/Berlin"),
    ("neu delhi", "new delhi", "delhi"): ("Neu-Delhi", "New Delhi", "Asia/Kolkata"),
    ("mumbai", "bombay"): ("Mumbai", "Mumbai", "Asia/Kolkata"),
    ("bangalore", "bengaluru"): ("Bangalore", "Bangalore", "Asia/Kolkata"),
    ("kalkutta", "calcutta"): ("Kalkutta", "Kolkata", "Asia/Kolkata"),
    ("mexiko stadt", "mexico city"): ("Mexiko-Stadt", "Mexico City", "America/Mexico_City"),
    ("washington", "washington dc", "washington d c"): (
        "Washington",
        "Washington",
        "America/New_York",
    ),
    ("boston",): ("Boston", "Boston", "America/New_York"),
    ("miami",): ("Miami", "Miami", "America/New_York"),
    ("atlanta",): ("Atlanta", "Atlanta", "America/New_York"),
    ("philadelphia",): ("Philadelphia", "Philadelphia", "America/New_York"),
    ("san francisco",): ("San Francisco", "San Francisco", "America/Los_Angeles"),
    ("seattle",): ("Seattle", "Seattle", "America/Los_Angeles"),
    ("las vegas",): ("Las Vegas", "Las Vegas", "America/Los_Angeles"),
    ("san diego",): ("San Diego", "San Diego", "America/Los_Angeles"),
    ("dallas",): ("Dallas", "Dallas", "America/Chicago"),
    ("houston",): ("Houston", "Houston", "America/Chicago"),
    ("montreal", "montréal"): ("Montreal", "Montreal", "America/Toronto"),
    ("ottawa",): ("Ottawa", "Ottawa", "America/Toronto"),
    ("melbourne",): ("Melbourne", "Melbourne", "Australia/Melbourne"),
    ("canberra",): ("Canberra", "Canberra", "Australia/Sydney"),
    ("wellington",): ("Wellington", "Wellington", "Pacific/Auckland"),
    ("singapur", "singapore"): ("Singapur", "Singapore", "Asia/Singapore"),
    ("abu dhabi",): ("Abu Dhabi", "Abu Dhabi", "Asia/Dubai"),
    ("doha",): ("Doha", "Doha", "Asia/Qatar"),
    ("ankara",): ("Ankara", "Ankara", "Europe/Istanbul"),
    ("tel aviv",): ("Tel Aviv", "Tel Aviv", "Asia/Jerusalem"),
    ("teheran", "tehran"): ("Teheran", "Tehran", "Asia/Tehran"),
    ("bagdad", "baghdad"): ("Bagdad", "Baghdad", "Asia/Baghdad"),
    ("kapstadt", "cape town"): ("Kapstadt", "Cape Town", "Africa/Johannesburg"),
    ("rio", "rio de janeiro"): ("Rio de Janeiro", "Rio de Janeiro", "America/Sao_Paulo"),
    ("sao paulo", "são paulo"): ("São Paulo", "São Paulo", "America/Sao_Paulo"),
    ("brasilia", "brasília"): ("Brasília", "Brasília", "America/Sao_Paulo"),
    ("havanna", "havana"): ("Havanna", "Havana", "America/Havana"),
    ("bogota", "bogotá"): ("Bogotá", "Bogotá", "America/Bogota"),
    ("hanoi",): ("Hanoi", "Hanoi", "Asia/Bangkok"),
    ("saigon", "ho chi minh stadt", "ho chi minh city"): (
        "Ho-Chi-Minh-Stadt",
        "Ho Chi Minh City",
        "Asia/Ho_Chi_Minh",
    ),
}

# Countries and states: names → (German "in …", English "in …", zones as
# (German name, English name, zone); several when it spans zones).
Zones = tuple[tuple[str, str, str], ...]
USA: Zones = (
    ("New York", "New York", "America/New_York"),
    ("Los Angeles", "Los Angeles", "America/Los_Angeles"),
)
COUNTRIES: dict[tuple[str, ...], tuple[str, str, Zones]] = {
    ("deutschland", "germany"): ("in Deutschland", "in Germany", (("", "", "Europe/Berlin"),)),
    ("österreich", "austria"): ("in Österreich", "in Austria", (("", "", "Europe/Vienna"),)),
    ("schweiz", "switzerland"): ("in der Schweiz", "in Switzerland", (("", "", "Europe/Zurich"),)),
    ("frankreich", "france"): ("in Frankreich", "in France", (("", "", "Europe/Paris"),)),
    ("italien", "italy"): ("in Italien", "in Italy", (("", "", "Europe/Rome"),)),
    ("spanien", "spain"): ("in Spanien", "in Spain", (("", "", "Europe/Madrid"),)),
    ("portugal",): ("in Portugal", "in Portugal", (("", "", "Europe/Lisbon"),)),
    (
        "england",
        "großbritannien",
        "grossbritannien",
        "uk",
        "united kingdom",
        "britain",
        "great britain",
        "schottland",
        "scotland",
        "vereinigtes königreich",
    ): ("in Großbritannien", "in the UK", (("", "", "Europe/London"),)),
    ("irland", "ireland"): ("in Irland", "in Ireland", (("", "", "Europe/Dublin"),)),
    ("niederlande", "holland", "netherlands"): (
        "in den Niederlanden",
        "in the Netherlands",
        (("", "", "Europe/Amsterdam"),),
    ),
    ("belgien", "belgium"): ("in Belgien", "in Belgium", (("", "", "Europe/Brussels"),)),
    ("dänemark", "denmark"): ("in Dänemark", "in Denmark", (("", "", "Europe/Copenhagen"),)),
    ("schweden", "sweden"): ("in Schweden", "in Sweden", (("", "", "Europe/Stockholm"),)),
    ("norwegen", "norway"): ("in Norwegen", "in Norway", (("", "", "Europe/Oslo"),)),
    ("finnland", "finland"): ("in Finnland", "in Finland", (("", "", "Europe/Helsinki"),)),
    ("island", "iceland"): ("in Island", "in Iceland", (("", "", "Atlantic/Reykjavik"),)),
    ("polen", "poland"): ("in Polen", "in Poland", (("", "", "Europe/Warsaw"),)),
    ("tschechien", "czechia", "czech republic"): (
        "in Tschechien",
        "in the Czech Republic",
        (("", "", "Europe/Prague"),),
    ),
    ("ungarn", "hungary"): ("in Ungarn", "in Hungary", (("", "", "Europe/Budapest"),)),
    ("griechenland", "greece"): ("in Griechenland", "in Greece", (("", "", "Europe/Athens"),)),
    ("türkei", "turkey", "türkiye"): ("in der Türkei", "in Turkey", (("", "", "Europe/Istanbul"),)),
    ("ukraine",): ("in der Ukraine", "in Ukraine", (("", "", "Europe/Kyiv"),)),
    ("japan",): ("in Japan", "in Japan", (("", "", "Asia/Tokyo"),)),
    ("china",): ("in China", "in China", (("", "", "Asia/Shanghai"),)),
    ("indien", "india"): ("in Indien", "in India", (("", "", "Asia/Kolkata"),)),
    ("südkorea", "korea", "south korea"): (
        "in Südkorea",
        "in South Korea",
        (("", "", "Asia/Seoul"),),
    ),
    ("thailand",): ("in Thailand", "in Thailand", (("", "", "Asia/Bangkok"),)),
    ("vietnam",): ("in Vietnam", "in Vietnam", (("", "", "Asia/Ho_Chi_Minh"),)),
    ("israel",): ("in Israel", "in Israel", (("", "", "Asia/Jerusalem"),)),
    ("ägypten", "egypt"): ("in Ägypten", "in Egypt", (("", "", "Africa/Cairo"),)),
    ("südafrika", "south africa"): (
        "in Südafrika",
        "in South Africa",
        (("", "", "Africa/Johannesburg"),),
    ),
    ("kenia", "kenya"): ("in Kenia", "in Kenya", (("", "", "Africa/Nairobi"),)),
    ("nigeria",): ("in Nigeria", "in Nigeria", (("", "", "Africa/Lagos"),)),
    ("argentinien", "argentina"): (
        "in Argentinien",
        "in Argentina",
        (("", "", "America/Argentina/Buenos_Aires"),),
    ),
    ("brasilien", "brazil"): ("in Brasilien", "in Brazil", (("", "", "America/Sao_Paulo"),)),
    ("mexiko", "mexico"): ("in Mexiko", "in Mexico", (("", "", "America/Mexico_City"),)),
    ("neuseeland", "new zealand"): (
        "in Neuseeland",
        "in New Zealand",
        (("", "", "Pacific/Auckland"),),
    ),
    ("philippinen", "philippines"): (
        "auf den Philippinen",
        "in the Philippines",
        (("", "", "Asia/Manila"),),
    ),
    ("iran",): ("im Iran", "in Iran", (("", "", "Asia/Tehran"),)),
    ("irak", "iraq"): ("im Irak", "in Iraq", (("", "", "Asia/Baghdad"),)),
    ("saudi arabien", "saudi arabia"): (
        "in Saudi-Arabien",
        "in Saudi Arabia",
        (("", "", "Asia/Riyadh"),),
    ),
    ("kuba", "cuba"): ("auf Kuba", "in Cuba", (("", "", "America/Havana"),)),
    ("peru",): ("in Peru", "in Peru", (("", "", "America/Lima"),)),
    ("kolumbien", "colombia"): ("in Kolumbien", "in Colombia", (("", "", "America/Bogota"),)),
    ("chile",): ("in Chile", "in Chile", (("", "", "America/Santiago"),)),
    ("kalifornien", "california"): (
        "in Kalifornien",
        "in California",
        (("", "", "America/Los_Angeles"),),
    ),
    ("florida",): ("in Florida", "in Florida", (("", "", "America/New_York"),)),
    ("texas",): ("in Texas", "in Texas", (("", "", "America/Chicago"),)),
    ("hawaii",): ("auf Hawaii", "in Hawaii", (("", "", "Pacific/Honolulu"),)),
    ("alaska",): ("in Alaska", "in Alaska", (("", "", "America/Anchorage"),)),
    ("usa", "us", "u s a", "vereinigte staaten", "vereinigten staaten", "amerika"): (
        "in den USA",
        "in the USA",
        USA,
    ),
    ("united states", "america", "the states", "states"): ("in den USA", "in the USA", USA),
    ("kanada", "canada"): (
        "in Kanada",
        "in Canada",
        (
            ("Toronto", "Toronto", "America/Toronto"),
            ("Vancouver", "Vancouver", "America/Vancouver"),
        ),
    ),
    ("australien", "australia"): (
        "in Australien",
        "in Australia",
        (("Sydney", "Sydney", "Australia/Sydney"), ("Perth", "Perth", "Australia/Perth")),
    ),
    ("russland", "russia"): (
        "in Russland",
        "in Russia",
        (("Moskau", "Moscow", "Europe/Moscow"), ("Wladiwostok", "Vladivostok", "Asia/Vladivostok")),
    ),
}

REGIONS = ("Africa", "America", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
ARTICLES = re.compile(r"^(der|den|dem|die|the) ")


@cache
def table() -> dict[str, Place]:
    """Every known name, lower case with spaces for dashes and underscores, → Place."""
    places: dict[str, Place] = {}
    for zone in sorted(zoneinfo.available_timezones()):
        region, _, city = zone.rpartition("/")
        if region.split("/")[0] not in REGIONS or not city:
            continue
        name = city.replace("_", " ")
        places.setdefault(_key(name), Place(f"in {name}", f"in {name}", (("", "", zone),)))
    for names, (german, english, zone) in CITIES.items():
        place = Place(f"in {german}", f"in {english}", ((german, english, zone),))
        places.update({_key(name): place for name in names})
    for names, (de, en, zones) in COUNTRIES.items():
        country = Place(de, en, zones)
        places.update({_key(name): country for name in names})
    return places


def _key(name: str) -> str:
    return re.sub(r"[\s_.-]+", " ", name.lower()).strip()


def find(name: str) -> Place | None:
    """The place a spoken or typed name means ("tokio", "der schweiz", "the usa")."""
    key = ARTICLES.sub("", _key(name))
    return table().get(key)
