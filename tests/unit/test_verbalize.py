"""verbalize: numbers, dates, times, units and abbreviations as words for the offline
voices, in German and English."""

# ruff: noqa: RUF001  (en dashes, minus and multiplication signs are what is tested)

from __future__ import annotations

import pytest

from tts_worker.verbalize import verbalize

GERMAN = [
    # times
    ("Es ist 14:30 Uhr.", "Es ist vierzehn Uhr dreißig."),
    ("Treffen um 14.30 Uhr.", "Treffen um vierzehn Uhr dreißig."),
    ("Der Zug fährt um 9:05.", "Der Zug fährt um neun Uhr fünf."),
    ("Um 1 Uhr und um 1:00.", "Um ein Uhr und um ein Uhr."),
    ("Es ist 0:15 Uhr.", "Es ist null Uhr fünfzehn."),
    ("Um 13:01 Uhr.", "Um dreizehn Uhr eins."),
    ("Um 20 Uhr.", "Um zwanzig Uhr."),
    ("Es ist 14:30:15 Uhr.", "Es ist vierzehn Uhr dreißig und fünfzehn Sekunden."),
    ("Geöffnet 10:00–12:00 Uhr.", "Geöffnet zehn bis zwölf Uhr."),
    ("Geöffnet von 9-17 Uhr.", "Geöffnet von neun bis siebzehn Uhr."),
    ("Von 10:30–12:00 Uhr.", "Von zehn Uhr dreißig bis zwölf Uhr."),
    # dates, with the ordinal inflected for the word before it
    ("Heute ist der 27.11.", "Heute ist der siebenundzwanzigste November."),
    ("Der 27.11. ist ein Freitag.", "Der siebenundzwanzigste November ist ein Freitag."),
    ("Am 27.11. hat sie Geburtstag.", "Am siebenundzwanzigsten November hat sie Geburtstag."),
    ("Am 3. Oktober ist Feiertag.", "Am dritten Oktober ist Feiertag."),
    ("Der 1. Mai ist frei.", "Der erste Mai ist frei."),
    ("Ab dem 1. Januar.", "Ab dem ersten Januar."),
    (
        "Am 27.11.2026 um 9 Uhr.",
        "Am siebenundzwanzigsten November zweitausendsechsundzwanzig um neun Uhr.",
    ),
    ("Montag, 3. Oktober 2026", "Montag, dritter Oktober zweitausendsechsundzwanzig"),
    ("Termin: 5.6.2026", "Termin: fünfter Juni zweitausendsechsundzwanzig"),
    ("Geboren am 3.3.1999.", "Geboren am dritten März neunzehnhundertneunundneunzig."),
    ("Am 2026-11-27.", "Am siebenundzwanzigsten November zweitausendsechsundzwanzig."),
    ("Vom 3. bis 5. Oktober.", "Vom dritten bis fünften Oktober."),
    ("Vom 3.–5. Oktober.", "Vom dritten bis fünften Oktober."),
    ("Am 3. und 4. Mai.", "Am dritten und vierten Mai."),
    ("Montag, den 3. Oktober.", "Montag, den dritten Oktober."),
    # ordinals
    ("Zum 2. Mal auf dem 3. Platz.", "Zum zweiten Mal auf dem dritten Platz."),
    ("Sie ist die 3. Frau.", "Sie ist die dritte Frau."),
    ("Jeden 2. Tag.", "Jeden zweiten Tag."),
    ("Er kam als 1. ins Ziel.", "Er kam als erster ins Ziel."),
    # decimal comma, thousands, signs, years
    ("Es sind 2,5 Grad.", "Es sind zwei Komma fünf Grad."),
    ("Pi ist 3,14.", "Pi ist drei Komma eins vier."),
    ("Die 3.5 ist neu.", "Die drei Komma fünf ist neu."),
    ("Es kamen 1.000 Leute.", "Es kamen eintausend Leute."),
    ("Es sind 1.000.000 Menschen.", "Es sind eine Million Menschen."),
    ("Es sind 12.000 Menschen.", "Es sind zwölftausend Menschen."),
    ("Minus: -7 und −7 und –7.", "Minus: minus sieben und minus sieben und minus sieben."),
    ("Im Jahr 1989 fiel die Mauer.", "Im Jahr neunzehnhundertneunundachtzig fiel die Mauer."),
    ("Im Jahr 2026.", "Im Jahr zweitausendsechsundzwanzig."),
    ("Von 2020–2024.", "Von zweitausendzwanzig bis zweitausendvierundzwanzig."),
    ("Agent 007.", "Agent null null sieben."),
    ("Ich habe 3 Äpfel.", "Ich habe drei Äpfel."),
    ("Das Spiel endete 2:1.", "Das Spiel endete zwei zu eins."),
    # units
    ("Morgen -5 °C.", "Morgen minus fünf Grad Celsius."),
    ("Heute +3°C.", "Heute plus drei Grad Celsius."),
    ("Es sind 1 °C.", "Es sind ein Grad Celsius."),
    ("Eine Neigung von 30°.", "Eine Neigung von dreißig Grad."),
    ("Es sind 72 °F.", "Es sind zweiundsiebzig Grad Fahrenheit."),
    ("Er fährt 120 km/h.", "Er fährt einhundertzwanzig Kilometer pro Stunde."),
    ("Noch 1 km.", "Noch ein Kilometer."),
    ("Es sind 42,2 km.", "Es sind zweiundvierzig Komma zwei Kilometer."),
    ("Er ist 1,80 m groß.", "Er ist ein Meter achtzig groß."),
    ("Nach 300 m links.", "Nach dreihundert Meter links."),
    ("Es sind 5 cm.", "Es sind fünf Zentimeter."),
    (
        "Es sind 2 kg Mehl und 500 g Zucker.",
        "Es sind zwei Kilogramm Mehl und fünfhundert Gramm Zucker.",
    ),
    ("Wir brauchen 0,5 l Milch.", "Wir brauchen null Komma fünf Liter Milch."),
    ("Die Wohnung hat 75 m².", "Die Wohnung hat fünfundsiebzig Quadratmeter."),
    ("Der Tank hat 30 m³.", "Der Tank hat dreißig Kubikmeter."),
    ("Regen: 80 %.", "Regen: achtzig Prozent."),
    ("Die Miete steigt um 2,5%.", "Die Miete steigt um zwei Komma fünf Prozent."),
    ("Es dauert 1 h oder 2 h.", "Es dauert eine Stunde oder zwei Stunden."),
    ("Nur 15 Min. Verspätung.", "Nur fünfzehn Minuten Verspätung."),
    ("Es leben 3,5 Mio. Menschen dort.", "Es leben drei Komma fünf Millionen Menschen dort."),
    ("Noch 1 Stunde.", "Noch eine Stunde."),
    ("Es ist 1 Grad wärmer.", "Es ist ein Grad wärmer."),
    ("Es sind 5–10 Grad.", "Es sind fünf bis zehn Grad."),
    # money
    ("Das kostet 2,50 €.", "Das kostet zwei Euro fünfzig."),
    ("Das kostet 1 €.", "Das kostet ein Euro."),
    ("Das kostet 0,99 €.", "Das kostet neunundneunzig Cent."),
    ("Das kostet 5,- €.", "Das kostet fünf Euro."),
    ("Das kostet € 20.", "Das kostet zwanzig Euro."),
    ("Das kostet 20 EUR.", "Das kostet zwanzig Euro."),
    ("Das kostet 1.500 € im Monat.", "Das kostet eintausendfünfhundert Euro im Monat."),
    ("Das kostet 3,50 Euro.", "Das kostet drei Euro fünfzig."),
    ("Das kostet 10 $.", "Das kostet zehn Dollar."),
    # arithmetic
    ("3 + 4 = 7", "drei plus vier gleich sieben"),
    ("3 * 4 = 12", "drei mal vier gleich zwölf"),
    ("6 × 7 = 42", "sechs mal sieben gleich zweiundvierzig"),
    ("10 - 5 = 5", "zehn minus fünf gleich fünf"),
    # abbreviations
    ("Obst, z. B. Äpfel.", "Obst, zum Beispiel Äpfel."),
    ("Obst, z.B. Äpfel.", "Obst, zum Beispiel Äpfel."),
    ("Äpfel, Birnen usw.", "Äpfel, Birnen und so weiter."),
    ("Äpfel usw. Dann Birnen.", "Äpfel und so weiter. Dann Birnen."),
    ("Äpfel usw. und Birnen.", "Äpfel und so weiter und Birnen."),
    ("Eier etc.", "Eier et cetera."),
    ("Es dauert ca. 20 Minuten.", "Es dauert circa zwanzig Minuten."),
    ("Dr. Müller und Dr Meier.", "Doktor Müller und Doktor Meier."),
    ("Zimmer Nr. 12.", "Zimmer Nummer zwölf."),
    ("Kommen Sie bzw. rufen Sie an.", "Kommen Sie beziehungsweise rufen Sie an."),
    ("Es ist teuer, d. h. wir warten.", "Es ist teuer, das heißt wir warten."),
    ("Gäste, u. a. der Bürgermeister.", "Gäste, unter anderem der Bürgermeister."),
    ("Das gilt i. d. R. immer.", "Das gilt in der Regel immer."),
    (
        "Bitte ggf. evtl. inkl. Prof. Str.",
        "Bitte gegebenenfalls eventuell inklusive Professor Straße",
    ),
    # symbols
    ("Rock & Roll", "Rock und Roll"),
    ("§ 5 BGB", "Paragraf fünf BGB"),
    ("Etwa ~5 km.", "Etwa circa fünf Kilometer."),
]

ENGLISH = [
    # times
    ("It is 9:05.", "It is nine oh five."),
    ("It is 9:00.", "It is nine o'clock."),
    ("It is 9:30.", "It is nine thirty."),
    ("The train leaves at 14:30 today.", "The train leaves at two thirty p.m. today."),
    ("The train leaves at 14:30.", "The train leaves at two thirty p.m."),
    ("It is 0:30.", "It is twelve thirty a.m."),
    ("At 9:30 a.m. we go.", "At nine thirty a.m. we go."),
    ("Meet at 7:45pm.", "Meet at seven forty-five p.m."),
    ("Meet at 5 pm at the station.", "Meet at five p.m. at the station."),
    ("It ends at 5 p.m.", "It ends at five p.m."),
    ("At 11 AM.", "At eleven a.m."),
    ("The score was 3:1.", "The score was three to one."),
    # dates and ordinals
    ("On November 27th.", "On November twenty-seventh."),
    ("On November 27.", "On November twenty-seventh."),
    ("On November 27, 2026.", "On November twenty-seventh, twenty twenty-six."),
    ("On March 3 we go.", "On March third we go."),
    ("On 3 March 2026 we go.", "On the third of March twenty twenty-six we go."),
    ("On the 3rd of March.", "On the third of March."),
    ("On 11/27/2026.", "On November twenty-seventh, twenty twenty-six."),
    ("On 2026-11-27.", "On November twenty-seventh, twenty twenty-six."),
    ("She finished 3rd.", "She finished third."),
    ("The 21st, 22nd and 101st.", "The twenty-first, twenty-second and one hundred and first."),
    ("He was born in 1987.", "He was born in nineteen eighty-seven."),
    # numbers
    ("It weighs 2.5 kg.", "It weighs two point five kilograms."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("About 1,000 people.", "About one thousand people."),
    ("It is 1,000,000 dollars.", "It is one million dollars."),
    ("We drove 1,250 km.", "We drove one thousand two hundred and fifty kilometers."),
    ("It is -7 degrees.", "It is minus seven degrees."),
    ("It is −3 °C.", "It is minus three degrees Celsius."),
    ("2,5 and 7", "two, five and seven"),
    ("Open 9–5 daily.", "Open nine to five daily."),
    ("Pages 10-12.", "Pages ten to twelve."),
    ("5 x 3 = 15", "five times three equals fifteen"),
    ("3 + 4 = 7", "three plus four equals seven"),
    ("10 - 5 = 5", "ten minus five equals five"),
    # units
    ("It is 72°F.", "It is seventy-two degrees Fahrenheit."),
    ("It is 1 °C.", "It is one degree Celsius."),
    ("It is 72° today.", "It is seventy-two degrees today."),
    ("Limit 120 km/h.", "Limit one hundred and twenty kilometers per hour."),
    ("Limit 5 mph.", "Limit five miles per hour."),
    ("After 300 m turn.", "After three hundred meters turn."),
    ("It is 1 km.", "It is one kilometer."),
    ("It has 80 m².", "It has eighty square meters."),
    ("It has 3 m³.", "It has three cubic meters."),
    ("Rain: 40%.", "Rain: forty percent."),
    ("1 ft, 12 ft, 2 oz, 5 lbs", "one foot, twelve feet, two ounces, five pounds"),
    ("1 h and 2 hrs and 30 min", "one hour and two hours and thirty minutes"),
    # money
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("It costs $1.", "It costs one dollar."),
    ("It costs $1.00.", "It costs one dollar."),
    ("It costs $0.99.", "It costs ninety-nine cents."),
    ("They raised $1.5 million.", "They raised one point five million dollars."),
    ("It costs €3.", "It costs three euros."),
    ("It costs 5 USD.", "It costs five dollars."),
    ("It costs £2.50.", "It costs two pounds and fifty pence."),
    # abbreviations
    ("Fruit, e.g. apples.", "Fruit, for example apples."),
    ("Fruit, i.e. apples.", "Fruit, that is apples."),
    ("Apples, pears etc.", "Apples, pears et cetera."),
    ("Apples etc. Then pears.", "Apples et cetera. Then pears."),
    ("It takes approx. 20 minutes.", "It takes approximately twenty minutes."),
    ("Dr. Smith and Dr Lee.", "Doctor Smith and Doctor Lee."),
    ("Mr. and Mrs. Jones, Mr Brown.", "Mister and Missus Jones, Mister Brown."),
    ("Ms. Smith vs. Prof. Lee.", "Miz Smith versus Professor Lee."),
    ("Room No. 5.", "Room number five."),
    ("No. 7 is here.", "Number seven is here."),
    ("Rock & roll.", "Rock and roll."),
]

UNCHANGED = [
    ("de-DE", "Wie wird das Wetter morgen in Berlin?"),
    ("de-DE", "Äpfel, Öl und Süßes: „Zitat“ – und (Klammern)!"),
    ("de-DE", "Er wurde Dritter."),
    ("de-DE", "Ich habe 1 Katze."),  # "ein" or "eine": the gender is not known
    ("de-DE", "Ein 2. Versuch."),
    ("de-DE", "Das Papier ist A4 und das Virus heißt SARS."),
    ("de-DE", "Ein 5er und ein 3D-Drucker."),
    ("en-US", "What is the capital city of France?"),
    ("en-US", "I said no. Then I left."),
    ("en-US", "It's a v2 release of the R2D2 toy."),
    ("en-US", "May I help you?"),
    ("fr-FR", "Il est 14:30, le 27.11.2026, il fait -5 °C, 2,5 km."),
    ("es-ES", "Son las 14:30 y hace 20 °C."),
    ("sv-SE", "Klockan är 14:30."),
]


@pytest.mark.parametrize(("text", "expected"), GERMAN)
def test_german(text: str, expected: str) -> None:
    assert verbalize(text, "de-DE") == expected


@pytest.mark.parametrize(("text", "expected"), ENGLISH)
def test_english(text: str, expected: str) -> None:
    assert verbalize(text, "en-US") == expected


@pytest.mark.parametrize(("language", "text"), UNCHANGED)
def test_text_without_anything_to_say_differently_is_unchanged(language: str, text: str) -> None:
    assert verbalize(text, language) == text


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("en-US", "On 11/12/2026.", "On November twelfth, twenty twenty-six."),
        ("en-GB", "On 11/12/2026.", "On the eleventh of December twenty twenty-six."),
        ("en-GB", "On 27/11/2026.", "On the twenty-seventh of November twenty twenty-six."),
        ("en-US", "On 27/11/2026.", "On the twenty-seventh of November twenty twenty-six."),
        ("en-GB", "On 2026-11-27.", "On the twenty-seventh of November twenty twenty-six."),
        ("en", "It is 9:05.", "It is nine oh five."),
        ("de", "Es ist 9:05.", "Es ist neun Uhr fünf."),
        ("de-AT", "Am 1. Jänner.", "Am ersten Jänner."),
        ("de_CH", "Es ist 9:05.", "Es ist neun Uhr fünf."),
        ("DE-de", "Es ist 9:05.", "Es ist neun Uhr fünf."),
    ],
)
def test_the_region_only_orders_english_dates(language: str, text: str, expected: str) -> None:
    assert verbalize(text, language) == expected


def test_every_digit_of_a_typical_answer_is_said_in_words() -> None:
    answer = (
        "Am 27.11. wird es in Berlin zwischen -2 °C und 5 °C kalt, mit 80 % Regen ab "
        "14:30 Uhr und Wind mit 30 km/h; z. B. reichen 2,5 l Tee für 1.000 m Weg."
    )
    spoken = verbalize(answer, "de-DE")
    assert not any(c.isdigit() for c in spoken), spoken
    assert "%" not in spoken and "°" not in spoken and "/" not in spoken
