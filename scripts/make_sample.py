"""Write the bundled bilingual sample dataset, data/sample/dataset_{en,es}_{split}.json.

The reviews are synthetic: composed from the hand-written English and Spanish
phrase banks below (nothing is taken from MARC or any other corpus). The files
have MARC's JSON Lines format, so the pipeline's `download` stage reads them as
it reads the real data. Titles are written from what the body says (its
sentiment, a key phrase, the book's genre), so the title task stays learnable.

    python scripts/make_sample.py            # (re)write data/sample/
    python scripts/make_sample.py --check    # exit 1 unless the files are reproduced
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stages.lib.io import write_text  # noqa: E402

SEED = 20240611
LANGUAGES = ("en", "es")
#: file split name -> rows per language
SPLIT_SIZES = {"train": 1500, "dev": 120, "test": 120}
#: share of rows per category; the rest is shared evenly by PRODUCT_CATEGORIES
BOOK_SHARES = {"book": 0.25, "digital_ebook_purchase": 0.20}
PRODUCT_CATEGORIES = ("kitchen", "toy", "sports", "electronics", "pet_products", "home",
                      "apparel")
SHORT_TITLE_SHARE = 0.40
FIELDS = ("review_id", "product_id", "reviewer_id", "stars", "review_body", "review_title",
          "language", "product_category")

# --------------------------------------------------------------------------------------
# Nouns and grammar
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Noun:
    """A noun phrase; ``gender`` ("m"/"f") is used for Spanish only."""

    text: str
    gender: str = "m"
    plural: bool = False
    mass: bool = False  # English uncountable: no "a" before it


@dataclass(frozen=True)
class Subject:
    """What a review is about: a kind of book or a product."""

    noun: Noun
    short: Noun  # one word, for two-word titles ("Great thriller", "Buena novela")
    kind: str  # fiction, nonfiction or product
    genre: str = ""  # books: "fans of {genre}" / "amantes de {genre}"
    animal: str = ""  # pet products: dog / cat


@dataclass(frozen=True)
class Aspect:
    noun: Noun
    pos: tuple[str, ...]
    neg: tuple[str, ...]


def es_inflect(adjective: str, gender: str, plural: bool) -> str:
    """Inflect a Spanish adjective given in masculine singular (its last word only)."""
    head, _, word = adjective.rpartition(" ")
    if gender == "f":
        if word.endswith("o"):
            word = word[:-1] + "a"
        elif word.endswith("or"):
            word += "a"
    if plural:
        word += "s" if word[-1] in "aeiouáéó" else "es"
    return f"{head} {word}".strip()


def es_words(noun: Noun) -> dict[str, str]:
    g, p = noun.gender, noun.plural
    pick = {("m", False): 0, ("f", False): 1, ("m", True): 2, ("f", True): 3}[(g, p)]
    return {
        "n": noun.text,
        "el": ("el", "la", "los", "las")[pick],
        "un": ("un", "una", "unos", "unas")[pick],
        "este": ("este", "esta", "estos", "estas")[pick],
        "lo": ("lo", "la", "los", "las")[pick],
        "ser": "son" if p else "es",
        "estar": "están" if p else "está",
        "parecer": "parecieron" if p else "pareció",
        "encantar": "encantaron" if p else "encantó",
        "convencer": "convencieron" if p else "convenció",
    }


def en_words(noun: Noun) -> dict[str, str]:
    p = noun.plural
    return {
        "n": noun.text,
        "a": "" if (p or noun.mass) else "‹a› ",
        "be": "are" if p else "is",
        "was": "were" if p else "was",
        "it": "they" if p else "it",
        "this": "these" if p else "this",
    }


_SLOT = re.compile(r"\{(\w+)(?::([^}]*))?\}")


def render(lang: str, template: str, noun: Noun | None = None, **extra: str) -> str:
    """Fill ``{slot}`` and ``{adj:word}`` (adjective agreeing with ``noun``) in a template."""
    words = {} if noun is None else (es_words(noun) if lang == "es" else en_words(noun))
    words.update(extra)

    def fill(match: re.Match[str]) -> str:
        key, arg = match.group(1), match.group(2)
        if key == "adj":
            if lang == "es" and noun is not None:
                return es_inflect(arg, noun.gender, noun.plural)
            return arg
        return words[key]

    return finish(lang, _SLOT.sub(fill, template))


def finish(lang: str, text: str) -> str:
    """Articles and contractions that depend on the next word; tidy spaces."""
    text = re.sub(r" {2,}", " ", text).strip()
    if lang == "en":
        text = re.sub(r"‹a› (\w+)", lambda m: _a_or_an(m.group(1)) + " " + m.group(1), text)
    else:
        text = re.sub(r"\b([Dd]e|[Aa]) el\b", lambda m: m.group(1) + "l", text)
        # "y" becomes "e" before an i- sound (y + instrucciones -> e instrucciones)
        text = re.sub(r"\by (h?i[^aeoué])", r"e \1", text)
    return text


def _a_or_an(word: str) -> str:
    vowel = word[0].lower() in "aeiou" and not word.startswith(("US", "one", "uni", "use"))
    return "an" if vowel else "a"


def cap(text: str) -> str:
    """Upper-case the first letter (after any opening ¿ ¡ or quote)."""
    for i, char in enumerate(text):
        if char.isalpha():
            return text[:i] + char.upper() + text[i + 1:]
    return text


def lower_first(text: str) -> str:
    if text.startswith(("I ", "I'", "Kindle")):
        return text
    return text[:1].lower() + text[1:]


# --------------------------------------------------------------------------------------
# Phrase banks
# --------------------------------------------------------------------------------------

def N(text: str, gender: str = "m", plural: bool = False, mass: bool = False) -> Noun:
    return Noun(text, gender, plural, mass)


def S(noun: Noun, short: Noun, kind: str, genre: str = "", animal: str = "") -> Subject:
    return Subject(noun, short, kind, genre, animal)


def A(noun: Noun, pos: str, neg: str) -> Aspect:
    return Aspect(noun, tuple(pos.split("|")), tuple(neg.split("|")))


SUBJECTS: dict[str, dict[str, list[Subject]]] = {
    "en": {
        "book": [
            S(N("mystery novel"), N("mystery"), "fiction", "mysteries"),
            S(N("thriller"), N("thriller"), "fiction", "thrillers"),
            S(N("fantasy novel"), N("fantasy"), "fiction", "epic fantasy"),
            S(N("science fiction novel"), N("novel"), "fiction", "science fiction"),
            S(N("historical novel"), N("novel"), "fiction", "historical fiction"),
            S(N("romance novel"), N("romance"), "fiction", "romance"),
            S(N("horror novel"), N("novel"), "fiction", "horror"),
            S(N("short story collection"), N("collection"), "fiction", "short stories"),
            S(N("crime novel"), N("novel"), "fiction", "crime fiction"),
            S(N("young adult novel"), N("novel"), "fiction", "young adult fiction"),
            S(N("biography"), N("biography"), "nonfiction", "biographies"),
            S(N("memoir"), N("memoir"), "nonfiction", "memoirs"),
            S(N("cookbook"), N("cookbook"), "nonfiction", "home cooking"),
            S(N("self-help book"), N("book"), "nonfiction", "self-help"),
            S(N("history book"), N("book"), "nonfiction", "history"),
            S(N("travel guide"), N("guide"), "nonfiction", "travel writing"),
            S(N("popular science book"), N("book"), "nonfiction", "popular science"),
        ],
        "kitchen": [
            S(N("frying pan"), N("pan"), "product"), S(N("knife set"), N("knives", plural=True),
                                                      "product"),
            S(N("blender"), N("blender"), "product"), S(N("coffee maker"), N("product"), "product"),
            S(N("cutting board"), N("board"), "product"), S(N("kettle"), N("kettle"), "product"),
        ],
        "toy": [
            S(N("building set"), N("set"), "product"),
            S(N("jigsaw puzzle"), N("puzzle"), "product"),
            S(N("doll"), N("doll"), "product"), S(N("remote control car"), N("toy"), "product"),
            S(N("board game"), N("game"), "product"), S(N("plush toy"), N("toy"), "product"),
        ],
        "sports": [
            S(N("yoga mat"), N("mat"), "product"), S(N("water bottle"), N("bottle"), "product"),
            S(N("resistance band set"), N("bands", plural=True), "product"),
            S(N("running belt"), N("belt"), "product"),
            S(N("pair of dumbbells"), N("dumbbells", plural=True), "product"),
            S(N("pair of cycling gloves"), N("gloves", plural=True), "product"),
        ],
        "electronics": [
            S(N("Bluetooth speaker"), N("speaker"), "product"),
            S(N("phone charger"), N("charger"), "product"),
            S(N("USB cable"), N("cable"), "product"),
            S(N("power bank"), N("product"), "product"), S(N("keyboard"), N("keyboard"), "product"),
            S(N("webcam"), N("webcam"), "product"),
        ],
        "pet_products": [
            S(N("dog bed"), N("bed"), "product", animal="dog"),
            S(N("scratching post"), N("product"), "product", animal="cat"),
            S(N("dog lead"), N("lead"), "product", animal="dog"),
            S(N("grooming brush"), N("brush"), "product", animal="dog"),
            S(N("cat bowl"), N("bowl"), "product", animal="cat"),
            S(N("cat toy"), N("toy"), "product", animal="cat"),
        ],
        "home": [
            S(N("desk lamp"), N("lamp"), "product"), S(N("storage box"), N("box"), "product"),
            S(N("wall clock"), N("clock"), "product"), S(N("bath towel"), N("towel"), "product"),
            S(N("pillow"), N("pillow"), "product"), S(N("shower curtain"), N("curtain"), "product"),
        ],
        "apparel": [
            S(N("T-shirt"), N("shirt"), "product"), S(N("winter jacket"), N("jacket"), "product"),
            S(N("pair of jeans"), N("jeans", plural=True), "product"),
            S(N("jumper"), N("jumper"), "product"), S(N("dress"), N("dress"), "product"),
            S(N("rain jacket"), N("jacket"), "product"),
        ],
    },
    "es": {
        "book": [
            S(N("novela de misterio", "f"), N("novela", "f"), "fiction", "el misterio"),
            S(N("thriller"), N("thriller"), "fiction", "los thrillers"),
            S(N("novela de fantasía", "f"), N("novela", "f"), "fiction", "la fantasía épica"),
            S(N("novela de ciencia ficción", "f"), N("novela", "f"), "fiction",
              "la ciencia ficción"),
            S(N("novela histórica", "f"), N("novela", "f"), "fiction", "la novela histórica"),
            S(N("novela romántica", "f"), N("novela", "f"), "fiction", "la novela romántica"),
            S(N("novela de terror", "f"), N("novela", "f"), "fiction", "el terror"),
            S(N("libro de relatos"), N("libro"), "fiction", "los relatos"),
            S(N("novela negra", "f"), N("novela", "f"), "fiction", "la novela negra"),
            S(N("novela juvenil", "f"), N("novela", "f"), "fiction", "la literatura juvenil"),
            S(N("biografía", "f"), N("biografía", "f"), "nonfiction", "las biografías"),
            S(N("libro de memorias"), N("libro"), "nonfiction", "las memorias"),
            S(N("libro de cocina"), N("libro"), "nonfiction", "la cocina casera"),
            S(N("libro de autoayuda"), N("libro"), "nonfiction", "la autoayuda"),
            S(N("libro de historia"), N("libro"), "nonfiction", "la historia"),
            S(N("guía de viaje", "f"), N("guía", "f"), "nonfiction", "los viajes"),
            S(N("libro de divulgación científica"), N("libro"), "nonfiction",
              "la divulgación científica"),
            S(N("ensayo"), N("ensayo"), "nonfiction", "el ensayo"),
        ],
        "kitchen": [
            S(N("sartén", "f"), N("sartén", "f"), "product"),
            S(N("juego de cuchillos"), N("juego"), "product"),
            S(N("batidora", "f"), N("batidora", "f"), "product"),
            S(N("cafetera", "f"), N("cafetera", "f"), "product"),
            S(N("tabla de cortar", "f"), N("tabla", "f"), "product"),
            S(N("hervidor de agua"), N("hervidor"), "product"),
        ],
        "toy": [
            S(N("juego de construcción"), N("juego"), "product"),
            S(N("puzle"), N("puzle"), "product"), S(N("muñeca", "f"), N("muñeca", "f"), "product"),
            S(N("coche teledirigido"), N("juguete"), "product"),
            S(N("juego de mesa"), N("juego"), "product"), S(N("peluche"), N("peluche"), "product"),
        ],
        "sports": [
            S(N("esterilla de yoga", "f"), N("esterilla", "f"), "product"),
            S(N("botella de agua", "f"), N("botella", "f"), "product"),
            S(N("juego de bandas elásticas"), N("producto"), "product"),
            S(N("cinturón de running"), N("cinturón"), "product"),
            S(N("par de mancuernas"), N("producto"), "product"),
            S(N("par de guantes de ciclismo"), N("producto"), "product"),
        ],
        "electronics": [
            S(N("altavoz bluetooth"), N("altavoz"), "product"),
            S(N("cargador de móvil"), N("cargador"), "product"),
            S(N("cable USB"), N("cable"), "product"),
            S(N("batería externa", "f"), N("batería", "f"), "product"),
            S(N("teclado inalámbrico"), N("teclado"), "product"),
            S(N("webcam", "f"), N("webcam", "f"), "product"),
        ],
        "pet_products": [
            S(N("cama para perro", "f"), N("cama", "f"), "product", animal="perro"),
            S(N("rascador para gatos"), N("rascador"), "product", animal="gato"),
            S(N("correa para perro", "f"), N("correa", "f"), "product", animal="perro"),
            S(N("cepillo para mascotas"), N("cepillo"), "product", animal="perro"),
            S(N("comedero para gatos"), N("comedero"), "product", animal="gato"),
            S(N("juguete para gatos"), N("juguete"), "product", animal="gato"),
        ],
        "home": [
            S(N("lámpara de escritorio", "f"), N("lámpara", "f"), "product"),
            S(N("caja de almacenaje", "f"), N("caja", "f"), "product"),
            S(N("reloj de pared"), N("reloj"), "product"),
            S(N("toalla de baño", "f"), N("toalla", "f"), "product"),
            S(N("almohada", "f"), N("almohada", "f"), "product"),
            S(N("cortina de ducha", "f"), N("cortina", "f"), "product"),
        ],
        "apparel": [
            S(N("camiseta", "f"), N("camiseta", "f"), "product"),
            S(N("chaqueta de invierno", "f"), N("chaqueta", "f"), "product"),
            S(N("pantalón vaquero"), N("pantalón"), "product"),
            S(N("jersey de lana"), N("jersey"), "product"),
            S(N("vestido"), N("vestido"), "product"),
            S(N("chubasquero"), N("chubasquero"), "product"),
        ],
    },
}

ASPECTS: dict[str, dict[str, list[Aspect]]] = {
    "en": {
        "fiction": [
            A(N("plot"), "gripping|clever|original|well-constructed|engaging",
              "predictable|confusing|thin|far-fetched|muddled"),
            A(N("characters", plural=True), "memorable|believable|well-drawn|likeable|complex",
              "flat|unconvincing|annoying|one-dimensional|forgettable"),
            A(N("writing", mass=True), "beautiful|elegant|vivid|witty|lyrical",
              "clumsy|repetitive|dull|overwritten|sloppy"),
            A(N("ending"), "satisfying|surprising|moving|perfect",
              "rushed|disappointing|abrupt|silly"),
            A(N("pacing", mass=True), "brisk|steady|relentless", "sluggish|uneven|slow"),
            A(N("dialogue", mass=True), "sharp|natural|funny", "stilted|wooden|unnatural"),
            A(N("atmosphere"), "haunting|immersive|rich", "flat|generic|lifeless"),
        ],
        "nonfiction": [
            A(N("research", mass=True), "thorough|meticulous|impressive", "shallow|thin|sloppy"),
            A(N("explanations", plural=True), "clear|practical|accessible",
              "vague|confusing|long-winded"),
            A(N("examples", plural=True), "useful|relevant|well-chosen",
              "outdated|generic|repetitive"),
            A(N("writing", mass=True), "engaging|clear|lively", "dry|dull|clumsy"),
            A(N("structure"), "logical|clear|sensible", "messy|confusing|chaotic"),
        ],
        "ebook": [A(N("formatting", mass=True), "clean|flawless|tidy", "sloppy|broken|messy")],
        "print": [A(N("print quality", mass=True), "excellent|lovely|crisp", "poor|blurry|cheap")],
        "product": [
            A(N("quality", mass=True), "excellent|great|impressive", "poor|disappointing|cheap"),
            A(N("price"), "fair|reasonable|great", "steep|excessive|silly"),
            A(N("instructions", plural=True), "clear|simple|helpful",
              "confusing|useless|incomplete"),
            A(N("design"), "practical|clever|sleek", "awkward|impractical|clumsy"),
            A(N("materials", plural=True), "sturdy|solid|durable", "cheap|flimsy|thin"),
        ],
        "kitchen": [A(N("handle"), "comfortable|sturdy|solid", "flimsy|wobbly|loose")],
        "toy": [A(N("colours", plural=True), "bright|lovely|cheerful", "dull|faded|garish"),
                A(N("pieces", plural=True), "sturdy|chunky|well-made", "flimsy|fragile|tiny")],
        "sports": [A(N("grip"), "firm|excellent|secure", "poor|slippery|weak")],
        "electronics": [A(N("battery life", mass=True), "excellent|impressive|great",
                          "poor|disappointing|short"),
                        A(N("sound", mass=True), "clear|powerful|rich", "tinny|muffled|weak"),
                        A(N("connection"), "stable|reliable|fast", "unstable|unreliable|patchy")],
        "pet_products": [A(N("size"), "perfect|ideal|generous", "disappointing|tiny|odd")],
        "home": [A(N("colour"), "lovely|elegant|warm", "dull|drab|garish")],
        "apparel": [A(N("fabric"), "soft|comfortable|thick", "thin|scratchy|cheap"),
                    A(N("fit"), "perfect|flattering|comfortable", "odd|baggy|awkward"),
                    A(N("stitching", mass=True), "neat|solid|careful", "loose|sloppy|uneven")],
    },
    "es": {
        "fiction": [
            A(N("trama", "f"), "absorbente|original|ingenioso|bien construido|adictivo",
              "predecible|confuso|enrevesado|flojo|inverosímil"),
            A(N("personajes", plural=True), "memorable|creíble|entrañable|bien construido|complejo",
              "plano|poco creíble|insoportable|olvidable|estereotipado"),
            A(N("prosa", "f"), "elegante|cuidado|ágil|precioso|evocador",
              "torpe|repetitivo|pesado|descuidado|recargado"),
            A(N("final"), "sorprendente|emotivo|redondo|perfecto",
              "precipitado|decepcionante|abrupto|absurdo"),
            A(N("ritmo"), "ágil|trepidante|constante", "lento|irregular|pesado"),
            A(N("diálogos", plural=True), "natural|ingenioso|divertido",
              "forzado|artificial|acartonado"),
            A(N("ambientación", "f"), "inquietante|envolvente|rico", "plano|genérico|pobre"),
        ],
        "nonfiction": [
            A(N("documentación", "f"), "exhaustivo|riguroso|impresionante",
              "superficial|escaso|descuidado"),
            A(N("explicaciones", "f", plural=True), "claro|práctico|ameno",
              "vago|confuso|farragoso"),
            A(N("ejemplos", plural=True), "útil|acertado|bien elegido",
              "anticuado|genérico|repetitivo"),
            A(N("estilo"), "ameno|claro|cercano", "árido|pesado|torpe"),
            A(N("estructura", "f"), "lógico|claro|ordenado", "caótico|confuso|desordenado"),
        ],
        "ebook": [A(N("maquetación", "f"), "impecable|cuidado|limpio",
                    "descuidado|defectuoso|caótico")],
        "print": [A(N("edición", "f"), "precioso|cuidado|impecable", "pobre|descuidado|barato")],
        "product": [
            A(N("calidad", "f"), "excelente|sorprendente|estupendo", "pésimo|deficiente|mediocre"),
            A(N("precio"), "justo|razonable|ajustado", "excesivo|desorbitado|abusivo"),
            A(N("instrucciones", "f", plural=True), "claro|sencillo|útil",
              "confuso|incompleto|inútil"),
            A(N("diseño"), "práctico|ingenioso|elegante", "incómodo|poco práctico|tosco"),
            A(N("materiales", plural=True), "resistente|sólido|duradero",
              "barato|endeble|frágil"),
        ],
        "kitchen": [A(N("mango"), "cómodo|robusto|firme", "endeble|flojo|incómodo")],
        "toy": [A(N("colores", plural=True), "vivo|bonito|alegre", "apagado|desvaído|estridente"),
                A(N("piezas", "f", plural=True), "resistente|robusto|bien acabado",
                  "frágil|endeble|diminuto")],
        "sports": [A(N("agarre"), "firme|excelente|seguro", "escaso|resbaladizo|pobre")],
        "electronics": [A(N("autonomía", "f"), "excelente|sorprendente|estupendo",
                          "escaso|decepcionante|ridículo"),
                        A(N("sonido"), "nítido|potente|limpio", "metálico|apagado|flojo"),
                        A(N("conexión", "f"), "estable|fiable|rápido",
                          "inestable|poco fiable|lento")],
        "pet_products": [A(N("tamaño"), "perfecto|ideal|generoso", "decepcionante|diminuto|raro")],
        "home": [A(N("color"), "precioso|elegante|cálido", "apagado|soso|estridente")],
        "apparel": [A(N("tejido"), "suave|cómodo|grueso", "fino|áspero|barato"),
                    A(N("corte"), "perfecto|favorecedor|cómodo", "raro|holgado|extraño"),
                    A(N("costuras", "f", plural=True), "impecable|resistente|bien rematado",
                      "flojo|mal rematado|irregular")],
    },
}

#: aspect sentence frames: (polarity, template); {n} is the aspect, {x} its adjective,
#: {adv} an adverb (may be empty)
ASPECT_FRAMES: dict[str, dict[str, list[str]]] = {
    "en": {
        "pos": ["The {n} {be} {adv}{x}.", "I loved the {x} {n}.",
                "The best part is the {n}, which {be} {adv}{x}.",
                "I was impressed by how {x} the {n} {be}.",
                "As for the {n}, {it} {be} {adv}{x}.", "Special mention for the {x} {n}.",
                "I thought the {n} {was} {adv}{x}."],
        "neg": ["The {n} {be} {adv}{x}.", "Unfortunately, the {n} {be} {x}.",
                "The worst part is the {n}, which {be} {adv}{x}.", "I found the {n} {adv}{x}.",
                "I didn't like the {x} {n}.", "As for the {n}, {it} {be} {adv}{x}.",
                "The problem is the {n}: {it} {be} {adv}{x}."],
        "minor": ["My only complaint is that the {n} {be} a little {x}.",
                  "If I had to nitpick, the {n} {be} a bit {x}.",
                  "The {n} {be} a little {x}, but that is a minor point."],
    },
    "es": {
        "pos": ["{el} {n} {ser} {adv}{x}.", "{el} {n} me {parecer} {adv}{x}.",
                "Lo mejor {ser} {el} {n}, que {ser} {adv}{x}.",
                "Me {encantar} {el} {n}, que {ser} {adv}{x}.",
                "En cuanto a {el} {n}, {ser} {adv}{x}.", "Hay que destacar {el} {n}, {adv}{x}.",
                "Me ha sorprendido lo {x} que {ser} {el} {n}."],
        "neg": ["{el} {n} {ser} {adv}{x}.", "Por desgracia, {el} {n} {ser} {x}.",
                "Lo peor {ser} {el} {n}, que {ser} {adv}{x}.", "{el} {n} me {parecer} {adv}{x}.",
                "No me {convencer} {el} {n}, {adv}{x}.", "En cuanto a {el} {n}, {ser} {adv}{x}.",
                "El problema {ser} {el} {n}: {adv}{x}."],
        "minor": ["Mi única pega es que {el} {n} {ser} algo {x}.",
                  "Por poner una pega, {el} {n} {ser} un poco {x}.",
                  "{el} {n} {ser} un poco {x}, pero es un detalle menor."],
    },
}
ADVERBS = {
    "en": {"pos": ["", "", "really ", "very ", "genuinely ", "truly "],
           "neg": ["", "", "rather ", "pretty ", "frankly ", "far too "]},
    "es": {"pos": ["", "", "muy ", "realmente ", "francamente ", "bastante "],
           "neg": ["", "", "bastante ", "algo ", "francamente ", "demasiado "]},
}
#: connectors before a sentence that turns the review's sentiment around
TURNS = {"en": ["However, ", "On the other hand, ", "That said, ", "But "],
         "es": ["Sin embargo, ", "Por otro lado, ", "Eso sí, ", "Pero "]}
#: adjectives that take no adverb ("very perfect", "bastante pésimo")
ABSOLUTE = {"perfect", "flawless", "ideal", "excellent", "superb", "great", "lovely", "impressive",
            "perfecto", "impecable", "excelente", "estupendo", "pésimo", "sorprendente",
            "impresionante", "precioso", "ridículo", "absurdo", "redondo"}
REDEEM = {"en": ["To be fair, ", "In its favour, ", "On the plus side, "],
          "es": ["Eso sí, ", "Hay que reconocer que ", "A su favor, "]}


@dataclass(frozen=True)
class Line:
    """A body sentence, with the title it suggests (optional): both templates."""

    body: str
    title: str = ""
    scope: str = "any"  # any, book (both book categories), fiction, nonfiction, ebook,
    # print, product or a product category


def L(body: str, title: str = "", scope: str = "any") -> Line:
    return Line(body, title, scope)


# Overall verdicts per star rating; {subj} is the subject, {read} "read"/"bought".
VERDICTS: dict[str, dict[int, list[Line]]] = {
    "en": {
        5: [L("This is {a} {adj:wonderful} {subj}.", "{a} wonderful {subj}"),
            L("I absolutely loved this {subj}.", "Absolutely loved this {subj}"),
            L("One of the best books I have read this year.", "One of the best books this year",
              "book"),
            L("What {a} {subj}!", "What {a} {subj}!"),
            L("This {subj} is worth every penny.", "Worth every penny", "product"),
            L("Exactly what I was looking for.", "Exactly what I was looking for", "product"),
            L("Simply the best {subj} I have {read}.", "The best {subj} I have {read}"),
            L("I can't say enough good things about this {subj}.",
              "Can't say enough good things")],
        4: [L("A very good {subj}, though not perfect.", "{a} very good {subj}"),
            L("I really enjoyed this {subj}.", "Really enjoyed this {subj}", "book"),
            L("I'm very happy with this {subj}.", "Very happy with this {subj}", "product"),
            L("A solid {subj} overall.", "Solid {subj} overall"),
            L("Good {subj}, and I would happily {reread} it again.",
              "Good {subj}, would {reread} again"),
            L("All in all, {a} {subj} I would recommend.", "{a} {subj} I would recommend")],
        3: [L("{a} decent {subj}, nothing more.", "{a} decent {subj}, nothing more"),
            L("I have mixed feelings about this {subj}.", "Mixed feelings about this {subj}"),
            L("It's not bad, but I expected more.", "Not bad, but I expected more"),
            L("An average {subj} that does the job.", "An average {subj}"),
            L("It's fine, but nothing special.", "Fine, but nothing special")],
        2: [L("This {subj} was a letdown.", "{a} disappointing {subj}"),
            L("I expected much more from this {subj}.", "Expected much more from this {subj}"),
            L("Sadly, this {subj} did not live up to the hype.", "Did not live up to the hype"),
            L("I really wanted to like this {subj}.", "Wanted to like this {subj}"),
            L("Not {a} {subj} I would recommend.", "Not {a} {subj} I would recommend")],
        1: [L("This is the worst {subj} I have ever {read}.",
              "The worst {subj} I have ever {read}"),
            L("A complete waste of time and money.", "A complete waste of time and money"),
            L("I regret buying this {subj}.", "I regret buying this {subj}"),
            L("Honestly, one of the worst books I have read.", "One of the worst books I have read",
              "book"),
            L("Do yourself a favour and avoid this {subj}.", "Avoid this {subj}")],
    },
    "es": {
        5: [L("Es {un} {subj} {adj:maravilloso}.", "{un} {subj} {adj:maravilloso}"),
            L("{este} {subj} me ha encantado de principio a fin.",
              "Me ha encantado de principio a fin"),
            L("Uno de los mejores libros que he leído este año.",
              "Uno de los mejores libros del año", "book"),
            L("¡Qué maravilla de {subj}!", "¡Qué maravilla de {subj}!"),
            L("Es justo lo que estaba buscando.", "Justo lo que estaba buscando", "product"),
            L("Vale cada euro que cuesta.", "Vale cada euro que cuesta", "product"),
            L("Sin duda, {el} mejor {subj} que he {read}.", "{el} mejor {subj} que he {read}"),
            L("No tengo más que palabras buenas para {este} {subj}.",
              "Solo tengo palabras buenas")],
        4: [L("{un} {subj} muy {adj:bueno}, aunque no {adj:perfecto}.",
              "{un} {subj} muy {adj:bueno}"),
            L("He disfrutado mucho con {este} {subj}.", "He disfrutado mucho con {este} {subj}",
              "book"),
            L("{este} {subj} me ha gustado mucho.", "Me ha gustado mucho", "product"),
            L("En general, {un} {subj} muy {adj:recomendable}.",
              "{un} {subj} muy {adj:recomendable}"),
            L("{un} {subj} {adj:bueno} que volvería a {reread}.",
              "{un} {subj} {adj:bueno}, {lo} volvería a {reread}"),
            L("Me ha gustado bastante, la verdad.", "Me ha gustado bastante")],
        3: [L("{un} {subj} {adj:correcto}, sin más.", "{un} {subj} {adj:correcto}, sin más"),
            L("Tengo sentimientos encontrados con {este} {subj}.", "Sentimientos encontrados"),
            L("No está mal, pero esperaba bastante más.", "No está mal, pero esperaba más"),
            L("{un} {subj} {adj:normalito} que cumple sin más.", "{un} {subj} {adj:normalito}"),
            L("Está bien, pero nada del otro mundo.", "Está bien, pero nada del otro mundo")],
        2: [L("{este} {subj} me ha decepcionado.", "{este} {subj} me ha decepcionado"),
            L("Esperaba mucho más de {este} {subj}.", "Esperaba mucho más de {este} {subj}"),
            L("Por desgracia, no está a la altura de lo que prometía.",
              "No está a la altura de lo que prometía"),
            L("Tenía muchas ganas de que me gustara, pero no ha sido así.",
              "Tenía muchas ganas de que me gustara"),
            L("No es {un} {subj} que vaya a recomendar.", "No {lo} recomendaría")],
        1: [L("Es {el} peor {subj} que he {read} nunca.", "{el} peor {subj} que he {read}"),
            L("Una pérdida de tiempo y de dinero.", "Una pérdida de tiempo y de dinero"),
            L("Me arrepiento de haber comprado {este} {subj}.",
              "Me arrepiento de haber{lo} comprado"),
            L("Sinceramente, uno de los peores libros que he leído.",
              "Uno de los peores libros que he leído", "book"),
            L("Hazte un favor y no compres {este} {subj}.", "No compres {este} {subj}")],
    },
}

# Things that happened (pos/neg/mixed), each with a title that reuses its words.
EVENTS: dict[str, dict[str, list[Line]]] = {
    "en": {
        "pos": [
            L("I read it in one sitting.", "Read it in one sitting", "book"),
            L("I couldn't put it down.", "Couldn't put it down", "fiction"),
            L("It made me laugh out loud more than once.", "Made me laugh out loud", "fiction"),
            L("The last chapter had me in tears.", "The last chapter had me in tears", "fiction"),
            L("I have already recommended it to half my family.",
              "Already recommended it to my family",
              "book"),
            L("I learned a lot from it.", "I learned a lot from it", "nonfiction"),
            L("I have already tried several of the ideas in it.", "Full of ideas worth trying",
              "nonfiction"),
            L("The Kindle edition is well formatted and easy to read.",
              "Well formatted Kindle edition", "ebook"),
            L("It downloaded instantly and the links in the contents work.",
              "The Kindle version works well", "ebook"),
            L("The hardcover edition is lovely to hold.", "A lovely hardcover edition", "print"),
            L("It arrived a day earlier than expected.", "Arrived a day early", "product"),
            L("It was easy to set up in a few minutes.", "Easy to set up", "product"),
            L("It still works perfectly after months of daily use.",
              "Still works perfectly after months", "product"),
            L("It does exactly what it says.", "Does exactly what it says", "product"),
            L("It looks even better than in the photos.", "Better than in the photos", "product"),
            L("Food doesn't stick to it at all.", "Nothing sticks to it", "kitchen"),
            L("It is very easy to clean.", "Very easy to clean", "kitchen"),
            L("My kids play with it every day.", "My kids play with it every day", "toy"),
            L("It kept my daughter busy for hours.", "Kept my daughter busy for hours", "toy"),
            L("I use it for every workout.", "I use it for every workout", "sports"),
            L("It survived a whole season of training.", "Survived a whole season of training",
              "sports"),
            L("The battery lasts all day.", "The battery lasts all day", "electronics"),
            L("It paired with my phone straight away.", "Pairs straight away", "electronics"),
            L("My {animal} loves it.", "My {animal} loves it", "pet_products"),
            L("My {animal} took to it straight away.", "My {animal} took to it straight away",
              "pet_products"),
            L("It looks great in our living room.", "Looks great in the living room", "home"),
            L("It fits perfectly.", "Fits perfectly", "apparel"),
            L("It still looks new after many washes.", "Still looks new after many washes",
              "apparel"),
        ],
        "neg": [
            L("I gave up halfway through.", "Gave up halfway through", "book"),
            L("It took me weeks to get through it.", "Took me weeks to get through", "book"),
            L("I kept waiting for something to happen.", "Waiting for something to happen",
              "fiction"),
            L("I guessed the twist by chapter three.", "Guessed the twist by chapter three",
              "fiction"),
            L("There is nothing in it you can't find online for free.",
              "Nothing you can't find online", "nonfiction"),
            L("The ebook is full of typos and formatting errors.", "Full of typos", "ebook"),
            L("Several pages were missing from the Kindle edition.",
              "Missing pages in the Kindle edition", "ebook"),
            L("My copy arrived with a torn cover.", "Arrived with a torn cover", "print"),
            L("It stopped working after two weeks.", "Stopped working after two weeks", "product"),
            L("It broke the first time I used it.", "Broke the first time I used it", "product"),
            L("It looks nothing like the photos.", "Looks nothing like the photos", "product"),
            L("It arrived damaged and with parts missing.", "Arrived damaged", "product"),
            L("It feels much cheaper than the price suggests.", "Feels cheap", "product"),
            L("The coating started peeling after a month.", "Coating peeled after a month",
              "kitchen"),
            L("A piece snapped off on the first day.", "A piece snapped off on day one", "toy"),
            L("It started to tear after a few sessions.", "Tore after a few sessions", "sports"),
            L("It keeps disconnecting from my phone.", "Keeps disconnecting", "electronics"),
            L("My {animal} completely ignored it.", "My {animal} ignored it", "pet_products"),
            L("My {animal} destroyed it in two days.", "My {animal} destroyed it in two days",
              "pet_products"),
            L("The colour is nothing like the picture.", "Colour nothing like the picture", "home"),
            L("It shrank after the first wash.", "Shrank after the first wash", "apparel"),
            L("The size runs very small, so order one size up.", "Runs very small", "apparel"),
        ],
    },
    "es": {
        "pos": [
            L("{lo} leí de un tirón.", "Se lee de un tirón", "book"),
            L("No pude dejar de leer hasta el final.", "No pude dejar de leer", "fiction"),
            L("Me hizo reír a carcajadas más de una vez.", "Me hizo reír a carcajadas", "fiction"),
            L("El último capítulo me hizo llorar.", "El último capítulo me hizo llorar", "fiction"),
            L("Ya se {lo} he recomendado a media familia.", "Ya se {lo} he recomendado a todos",
              "book"),
            L("He aprendido muchísimo con {este} {subj}.", "He aprendido muchísimo", "nonfiction"),
            L("Ya he puesto en práctica varias de sus ideas.",
              "Ideas que se pueden poner en práctica",
              "nonfiction"),
            L("La edición para Kindle está bien maquetada y se lee muy bien.",
              "Edición Kindle bien maquetada", "ebook"),
            L("Se descargó al instante y el índice funciona perfectamente.",
              "La versión Kindle funciona perfectamente", "ebook"),
            L("La edición en tapa dura es preciosa.", "Preciosa edición en tapa dura", "print"),
            L("Llegó un día antes de lo previsto.", "Llegó antes de lo previsto", "product"),
            L("Se monta en pocos minutos y sin complicaciones.", "Se monta en pocos minutos",
              "product"),
            L("Después de meses de uso diario sigue funcionando perfectamente.",
              "Sigue funcionando perfectamente", "product"),
            L("Hace exactamente lo que promete.", "Hace exactamente lo que promete", "product"),
            L("Es todavía más {bonito} que en las fotos.", "Más {bonito} que en las fotos",
              "product"),
            L("No se pega absolutamente nada.", "No se pega nada", "kitchen"),
            L("Se limpia facilísimamente.", "Se limpia facilísimamente", "kitchen"),
            L("Mis hijos juegan con {el} {subj} todos los días.", "Mis hijos juegan todos los días",
              "toy"),
            L("Mi hija pasó horas entretenida con {el} {subj}.", "Horas de entretenimiento", "toy"),
            L("{lo} uso en todos mis entrenamientos.", "{lo} uso en todos mis entrenamientos",
              "sports"),
            L("Ha aguantado toda una temporada de entrenamientos.",
              "Ha aguantado toda una temporada", "sports"),
            L("La batería dura todo el día.", "La batería dura todo el día", "electronics"),
            L("Se conectó al móvil a la primera.", "Se conecta a la primera", "electronics"),
            L("A mi {animal} le encanta.", "A mi {animal} le encanta", "pet_products"),
            L("Mi {animal} {lo} usó desde el primer día.",
              "Mi {animal} {lo} usó desde el primer día",
              "pet_products"),
            L("Queda precios{o} en el salón.", "Queda precios{o} en el salón", "home"),
            L("Me queda perfect{o}.", "Me queda perfect{o}", "apparel"),
            L("Sigue como nuev{o} después de muchos lavados.", "Como nuev{o} tras muchos lavados",
              "apparel"),
        ],
        "neg": [
            L("{lo} dejé a la mitad.", "{lo} dejé a la mitad", "book"),
            L("Tardé semanas en terminar{lo}.", "Tardé semanas en terminar{lo}", "book"),
            L("Me pasé todo el libro esperando a que pasara algo.",
              "Esperando a que pase algo", "fiction"),
            L("Adiviné el giro final en el tercer capítulo.",
              "Adiviné el giro en el tercer capítulo",
              "fiction"),
            L("No hay nada que no encuentres gratis en internet.",
              "Nada que no esté en internet", "nonfiction"),
            L("El libro electrónico está lleno de erratas y errores de formato.",
              "Lleno de erratas", "ebook"),
            L("A la edición Kindle le faltan varias páginas.",
              "Faltan páginas en la edición Kindle",
              "ebook"),
            L("Mi ejemplar llegó con la portada rota.", "Llegó con la portada rota", "print"),
            L("Dejó de funcionar a las dos semanas.", "Dejó de funcionar a las dos semanas",
              "product"),
            L("Se rompió la primera vez que {lo} usé.", "Se rompió al primer uso", "product"),
            L("No se parece en nada a las fotos.", "No se parece en nada a las fotos", "product"),
            L("Llegó {roto} y con piezas de menos.", "Llegó {roto}", "product"),
            L("Parece mucho más barat{o} de lo que cuesta.", "Parece barat{o}", "product"),
            L("El antiadherente empezó a despegarse al mes.", "El antiadherente se despega al mes",
              "kitchen"),
            L("Una pieza se partió el primer día.", "Una pieza se partió el primer día", "toy"),
            L("Empezó a romperse a las pocas sesiones.",
              "Se rompió a las pocas sesiones", "sports"),
            L("Se desconecta del móvil continuamente.", "Se desconecta continuamente",
              "electronics"),
            L("Mi {animal} ni {lo} ha mirado.", "Mi {animal} ni {lo} mira", "pet_products"),
            L("Mi {animal} {lo} destrozó en dos días.", "Mi {animal} {lo} destrozó en dos días",
              "pet_products"),
            L("El color no tiene nada que ver con el de la foto.", "El color no es el de la foto",
              "home"),
            L("Encogió después del primer lavado.", "Encogió en el primer lavado", "apparel"),
            L("Tallan muy pequeño, así que pide una talla más.", "Talla muy pequeño", "apparel"),
        ],
    },
}

# Opening context sentences (no title of their own).
OPENERS: dict[str, list[Line]] = {
    "en": [
        L("I picked this up on a friend's recommendation.", scope="book"),
        L("I bought this for a long flight.", scope="book"),
        L("My book club chose this one for March.", scope="book"),
        L("I had read the author's previous book and wanted more.", scope="book"),
        L("I have been a fan of {genre} for years.", scope="book"),
        L("I downloaded it when it was on offer.", scope="ebook"),
        L("I read it on my Kindle over a rainy weekend.", scope="ebook"),
        L("It was a birthday present from my sister.", scope="print"),
        L("I needed something practical for work, so I gave this a go.", scope="nonfiction"),
        L("I bought this as a gift for my sister.", scope="product"),
        L("I needed a replacement for my old one.", scope="product"),
        L("After reading the reviews I decided to give it a try.", scope="product"),
        L("I have been using it for about three months now.", scope="product"),
        L("We ordered it for our new flat.", scope="home"),
        L("I bought it for my {animal}, who is very fussy.", scope="pet_products"),
        L("I was looking for something for the gym.", scope="sports"),
        L("We bought it for our son's sixth birthday.", scope="toy"),
        L("I cook every day, so I needed something that would last.", scope="kitchen"),
        L("I ordered my usual size.", scope="apparel"),
        L("I needed it to work with both my laptop and my phone.", scope="electronics"),
    ],
    "es": [
        L("{lo} compré por recomendación de una amiga.", scope="book"),
        L("{lo} compré para un viaje largo en tren.", scope="book"),
        L("{lo} elegimos en el club de lectura para este mes.", scope="book"),
        L("Había leído otro libro del autor y quería más.", scope="book"),
        L("Soy fan de {genre} desde hace años.", scope="book"),
        L("{lo} descargué cuando estaba de oferta.", scope="ebook"),
        L("{lo} leí en el Kindle durante un fin de semana lluvioso.", scope="ebook"),
        L("Me {lo} regalaron por mi cumpleaños.", scope="print"),
        L("Buscaba algo práctico para el trabajo y me decidí por {este}.", scope="nonfiction"),
        L("{lo} compré para regalar a mi hermana.", scope="product"),
        L("Necesitaba sustituir {el} que tenía.", scope="product"),
        L("Después de leer las opiniones decidí probar{lo}.", scope="product"),
        L("Llevo unos tres meses usándo{lo}.", scope="product"),
        L("{lo} pedimos para el piso nuevo.", scope="home"),
        L("{lo} compré para mi {animal}, que es muy exigente.", scope="pet_products"),
        L("Buscaba algo para el gimnasio.", scope="sports"),
        L("{lo} compramos para el sexto cumpleaños de nuestro hijo.", scope="toy"),
        L("Cocino a diario, así que necesitaba algo que durara.", scope="kitchen"),
        L("Pedí mi talla de siempre.", scope="apparel"),
        L("Necesitaba que funcionara con el portátil y con el móvil.", scope="electronics"),
    ],
}

# Closing recommendations, with titles sharing their words.
CLOSINGS: dict[str, dict[str, list[Line]]] = {
    "en": {
        "pos": [L("Highly recommended for fans of {genre}.", "Perfect for fans of {genre}", "book"),
                L("I can't wait for the next one in the series.", "Can't wait for the next one",
                  "fiction"),
                L("I would definitely buy it again.", "Would definitely buy it again", "product"),
                L("Great value for the price.", "Great value for the price", "product"),
                L("Highly recommended.", "Highly recommended to everyone"),
                L("Five stars from me.", "Five stars from me"),
                L("What more could you ask for?", "What more could you ask for?"),
                L("Essential reading for anyone who loves {genre}.",
                  "Essential reading for fans of {genre}", "book")],
        "mid": [L("Worth it if you find it on sale.", "Worth it on sale"),
                L("Fine for the price, but don't expect miracles.", "Fine for the price"),
                L("Fans of {genre} may enjoy it more than I did.", "Only for big fans of {genre}",
                  "book")],
        "neg": [L("I wouldn't recommend it.", "Would not recommend it"),
                L("Save your money.", "Save your money"),
                L("I'm sending it back.", "Sending it back", "product"),
                L("Not worth your time.", "Not worth your time", "book"),
                L("Not worth the money.", "Not worth the money"),
                L("Did nobody proofread this before publishing it?", "Did nobody proofread this?",
                  "book"),
                L("How can they sell something like this?", "How can they sell this?", "product")],
    },
    "es": {
        "pos": [L("Muy recomendable para los amantes de {genre}.",
                  "Imprescindible para los amantes de {genre}", "book"),
                L("Estoy deseando leer la siguiente entrega.", "Deseando leer la siguiente entrega",
                  "fiction"),
                L("{lo} volvería a comprar sin dudar{lo}.", "{lo} volvería a comprar", "product"),
                L("Muy buena relación calidad-precio.", "Muy buena relación calidad-precio",
                  "product"),
                L("Totalmente recomendable.", "Totalmente recomendable"),
                L("Cinco estrellas bien merecidas.", "Cinco estrellas bien merecidas"),
                L("¿Qué más se puede pedir?", "¿Qué más se puede pedir?"),
                L("No puede faltar en la biblioteca de cualquier amante de {genre}.",
                  "No puede faltar en tu biblioteca", "book")],
        "mid": [L("Merece la pena si {lo} encuentras de oferta.", "Merece la pena de oferta"),
                L("Por ese precio cumple, pero no esperes milagros.", "Cumple por ese precio"),
                L("A los amantes de {genre} quizá les guste más que a mí.",
                  "Solo para amantes de {genre}", "book")],
        "neg": [L("No {lo} recomiendo.", "No {lo} recomiendo"),
                L("No malgastes tu dinero.", "No malgastes tu dinero"),
                L("{lo} voy a devolver.", "{lo} voy a devolver", "product"),
                L("No pierdas el tiempo con {este} {subj}.", "No pierdas el tiempo", "book"),
                L("No merece la pena.", "No merece la pena"),
                L("¿Nadie lo revisó antes de publicarlo?", "¿Nadie lo revisó antes de publicarlo?",
                  "book"),
                L("¿Cómo pueden vender algo así?", "¿Cómo pueden vender algo así?", "product")],
    },
}

# One- and two-word titles per star rating.
SHORT_TITLES: dict[str, dict[int, list[str]]] = {
    "en": {5: ["Great", "Excellent", "Amazing", "Perfect", "Wonderful", "Five stars", "Loved it",
               "Love it", "Brilliant", "Fantastic", "Superb", "Awesome", "Highly recommended"],
           4: ["Very good", "Good", "Really good", "Nice", "Four stars", "Pretty good", "Solid",
               "Recommended", "Good stuff", "Liked it"],
           3: ["Okay", "OK", "Average", "Decent", "Three stars", "Not bad", "Meh", "Fine",
               "So-so", "Mixed feelings"],
           2: ["Disappointing", "Disappointed", "Not great", "Two stars", "Underwhelming",
               "Could be better", "Not impressed", "Mediocre"],
           1: ["Terrible", "Awful", "Rubbish", "One star", "Avoid", "Horrible", "Dreadful",
               "Don't bother", "Useless"]},
    "es": {5: ["Genial", "Excelente", "Perfecto", "Maravilloso", "Cinco estrellas", "Me encantó",
               "Muy recomendable", "Imprescindible", "Fantástico", "Buenísimo", "Espectacular",
               "Una maravilla"],
           4: ["Muy bueno", "Bueno", "Recomendable", "Cuatro estrellas", "Muy bien",
               "Bastante bueno", "Me gustó", "Buena compra"],
           3: ["Normal", "Correcto", "Regular", "Aceptable", "Tres estrellas", "Sin más",
               "Está bien", "Normalito", "Cumple"],
           2: ["Decepcionante", "Flojo", "Mejorable", "Dos estrellas", "No convence",
               "Me decepcionó", "Poca calidad"],
           1: ["Horrible", "Fatal", "Malísimo", "Una estrella", "Pésimo", "Nada recomendable",
               "Dinero tirado", "No comprar"]},
}
# "Great thriller", "Buena novela": {s} is the subject's one-word noun.
SHORT_SUBJECT_TITLES: dict[str, dict[int, list[str]]] = {
    "en": {5: ["Great {s}", "Fantastic {s}", "Brilliant {s}", "Superb {s}"],
           4: ["Good {s}", "Nice {s}", "Solid {s}", "Lovely {s}"],
           3: ["Average {s}", "Decent {s}", "Okay {s}"],
           2: ["Disappointing {s}", "Weak {s}", "Mediocre {s}"],
           1: ["Terrible {s}", "Awful {s}", "Dreadful {s}"]},
    "es": {5: ["Gran {s}", "{s} {adj:maravilloso}", "{s} {adj:estupendo}", "{s} genial"],
           4: ["{buen} {s}", "{s} {adj:recomendable}", "{s} {adj:bonito}"],
           3: ["{s} {adj:correcto}", "{s} {adj:normalito}", "{s} {adj:aceptable}"],
           2: ["{s} {adj:decepcionante}", "{s} {adj:flojo}", "{s} {adj:mediocre}"],
           1: ["{s} {adj:horrible}", "{adj:pésimo} {s}", "{s} {adj:malísimo}"]},
}
SHORT_BOOK_TITLES = {"en": {5: ["Must read", "Great read", "Unputdownable", "Page-turner"],
                            4: ["Good read", "Enjoyable", "Fun read"],
                            1: ["Boring", "Unreadable"], 2: ["Boring", "Slow"]},
                     "es": {5: ["Imprescindible", "Gran lectura", "Adictivo"],
                            4: ["Buena lectura", "Entretenido"],
                            1: ["Aburridísimo", "Infumable"], 2: ["Aburrido", "Lento"]}}


# --------------------------------------------------------------------------------------
# Composing a review
# --------------------------------------------------------------------------------------


def scopes(category: str, subject: Subject) -> set[str]:
    """The scopes of the banks' lines that fit a review of ``subject`` in ``category``."""
    if subject.kind == "product":
        return {"any", "product", category}
    edition = "ebook" if category == "digital_ebook_purchase" else "print"
    return {"any", "book", subject.kind, edition}


@dataclass
class Review:
    stars: int
    body: str
    title: str


class Composer:
    """Writes one review at a time in one language from a seeded random generator."""

    def __init__(self, lang: str, rng: random.Random) -> None:
        self.lang = lang
        self.rng = rng
        self.used_frames: set[str] = set()
        self.used_words: set[str] = set()

    def fill(self, template: str, subject: Subject) -> str:
        """Render a template about ``subject`` (its gender drives {el}, {lo}, {adj:...})."""
        book = subject.kind != "product"
        extra = {"subj": subject.noun.text, "genre": subject.genre, "animal": subject.animal}
        if self.lang == "en":
            extra.update(read="read" if book else "bought", reread="read" if book else "buy")
        else:
            g = subject.noun.gender
            extra.update(read="leído" if book else "comprado", reread="leer" if book else "comprar",
                         bonito=es_inflect("bonito", g, False), roto=es_inflect("roto", g, False),
                         o="a" if g == "f" else "o")  # perfect{o} -> perfecta
        return render(self.lang, template, subject.noun, **extra)

    def pick(self, lines: Sequence[Line], allowed: set[str]) -> Line | None:
        fitting = [line for line in lines if line.scope in allowed]
        return self.rng.choice(fitting) if fitting else None

    def aspect_sentence(self, aspect: Aspect, polarity: str,
                        plain: bool = False) -> tuple[str, str]:
        """A sentence on one aspect, and the adjective it used (``plain``: "The X is Y.")."""
        rng, lang = self.rng, self.lang
        adjectives = aspect.pos if polarity == "pos" else aspect.neg
        adjective = rng.choice([a for a in adjectives if a not in self.used_words] or adjectives)
        self.used_words.add(adjective)
        frames = ASPECT_FRAMES[lang][polarity]
        # not twice the same frame in a review, nor "impressed by how impressive"
        fresh = [frame for frame in frames
                 if frame not in self.used_frames and adjective[:5] not in frame.lower()]
        frame = frames[0] if plain or not fresh else rng.choice(fresh)
        self.used_frames.add(frame)  # no "I loved ... I loved ..." in one review
        adverb = "" if polarity == "minor" else rng.choice(ADVERBS[lang][polarity])
        if adjective in ABSOLUTE or " " in adjective:  # no "very perfect", "muy poco práctico"
            adverb = ""
        x = es_inflect(adjective, aspect.noun.gender, aspect.noun.plural) if lang == "es" \
            else adjective
        return cap(render(lang, frame, aspect.noun, x=x, adv=adverb)), adjective

    def aspect_phrase(self, aspect: Aspect, adjective: str) -> str:
        """ "gripping plot" / "trama absorbente" """
        if self.lang == "es":
            adj = es_inflect(adjective, aspect.noun.gender, aspect.noun.plural)
            return f"{aspect.noun.text} {adj}"
        return f"{adjective} {aspect.noun.text}"

    def review(self, category: str, subject: Subject, stars: int) -> Review:
        rng, lang = self.rng, self.lang
        self.used_frames, self.used_words = set(), set()
        allowed = scopes(category, subject)
        pool = list(ASPECTS[lang][subject.kind if subject.kind != "product" else "product"])
        if subject.kind == "product":
            pool += ASPECTS[lang].get(category, [])
            pool += ASPECTS[lang].get(category, [])  # the category's own aspects come up more
        else:
            pool += ASPECTS[lang]["ebook" if "ebook" in allowed else "print"]

        # What the reviewer says about aspects: (aspect, adjective, polarity, sentence)
        if stars == 5:
            plan = ["pos"] * rng.choice((1, 2, 2, 3))
        elif stars == 4:
            plan = ["pos"] * rng.choice((1, 2, 2)) + (["minor"] if rng.random() < 0.45 else [])
        elif stars == 3:
            plan = rng.choice((["pos", "neg"], ["neg", "pos"], ["pos", "neg", "neg"],
                               ["pos", "pos", "neg"]))
        elif stars == 2:
            plan = ["neg"] * rng.choice((1, 2, 2)) + (["redeem"] if rng.random() < 0.35 else [])
        else:
            plan = ["neg"] * rng.choice((1, 2, 2, 3))
        chosen: list[Aspect] = []
        for aspect in rng.sample(pool, len(pool)):
            if aspect not in chosen:
                chosen.append(aspect)
        said = []
        for i, polarity in enumerate(plan):
            aspect = chosen[i % len(chosen)]
            kind = "pos" if polarity == "redeem" else polarity
            sentence, adjective = self.aspect_sentence(aspect, kind, polarity == "redeem")
            if polarity == "redeem":
                sentence = rng.choice(REDEEM[lang]) + lower_first(sentence)
            elif i and stars == 3 and kind != plan[i - 1] and rng.random() < 0.7:
                sentence = rng.choice(TURNS[lang]) + lower_first(sentence)
            said.append((aspect, adjective, "neg" if kind == "minor" else kind, sentence,
                         polarity))

        mood = "pos" if stars >= 4 else "neg" if stars <= 2 else "mid"
        verdict = self.pick(VERDICTS[lang][stars], allowed)
        event = self.pick(EVENTS[lang][mood if mood != "mid" else rng.choice(("pos", "neg"))],
                          allowed)
        opener = self.pick(OPENERS[lang], allowed)
        closing = self.pick(CLOSINGS[lang][mood], allowed)

        use_opener = opener is not None and rng.random() < 0.4
        use_verdict = verdict is not None and rng.random() < 0.7
        use_event = event is not None and rng.random() < 0.45
        use_closing = closing is not None and rng.random() < 0.4
        middle = [s[3] for s in said]
        if use_event:
            middle.insert(rng.randrange(len(middle) + 1), self.fill(event.body, subject))
        if use_verdict:
            text = cap(self.fill(verdict.body, subject))
            if rng.random() < 0.65:
                middle.insert(0, text)
            else:
                middle.append(text)
        sentences = ([cap(self.fill(opener.body, subject))] if use_opener else []) + middle
        if use_closing:
            sentences.append(cap(self.fill(closing.body, subject)))
        if rng.random() < 0.08:  # some reviews are a single sentence, usually the verdict
            sentences = [middle[0]]
        sentences = [cap(s) for s in sentences[:7]]
        body = " ".join(sentences)

        title = self.title(stars, subject, allowed, said,
                           verdict if use_verdict else None, event if use_event else None,
                           closing if use_closing else None)
        return Review(stars, body, title)

    def title(self, stars: int, subject: Subject, allowed: set[str], said: list,
              verdict: Line | None, event: Line | None, closing: Line | None) -> str:
        rng, lang = self.rng, self.lang
        if rng.random() < SHORT_TITLE_SHARE:
            return self.short_title(stars, subject, allowed)
        options: list[tuple[float, Callable[[], str]]] = []
        if said:
            options.append((3.0, lambda: self.aspect_title(stars, subject, said)))
        for line, weight in ((verdict, 2.0), (event, 2.5), (closing, 1.0)):
            if line is not None and line.title:
                options.append((weight, lambda line=line: self.fill(line.title, subject)))
        options.append((0.7, lambda: self.fill(
            self.pick(VERDICTS[lang][stars], allowed).title, subject)))
        for _ in range(10):
            weights = [w for w, _ in options]
            make = rng.choices([m for _, m in options], weights)[0]
            title = cap(make())
            if 3 <= len(title.split()) <= 12:
                if rng.random() < 0.12 and stars >= 4 and not title.endswith("!"):
                    title = f"¡{title}!" if lang == "es" and not title.startswith("¡") \
                        else f"{title}!"
                return title
        return cap(self.fill(VERDICTS[lang][stars][0].title, subject))

    def short_title(self, stars: int, subject: Subject, allowed: set[str]) -> str:
        rng, lang = self.rng, self.lang
        roll = rng.random()
        if subject.kind != "product" and stars in SHORT_BOOK_TITLES[lang] and roll < 0.25:
            title = rng.choice(SHORT_BOOK_TITLES[lang][stars])
        elif roll < 0.55:
            template = rng.choice(SHORT_SUBJECT_TITLES[lang][stars])
            short = subject.short
            buen = "buen" if short.gender == "m" else "buena"
            title = cap(render(lang, template, short, s=short.text, buen=buen))
        else:
            title = rng.choice(SHORT_TITLES[lang][stars])
        if stars == 5 and rng.random() < 0.2:
            title = f"¡{title}!" if lang == "es" else f"{title}!"
        return title

    def aspect_title(self, stars: int, subject: Subject, said: list) -> str:
        """A title naming what the body praised or criticised."""
        rng, lang = self.rng, self.lang
        main = [s for s in said if s[4] != "redeem"]
        praised = [s for s in main if s[2] == "pos"]
        faulted = [s for s in main if s[2] == "neg"]
        if stars == 3 and praised and faulted:  # a mixed title for a mixed review
            main = [praised[0], faulted[0]] if rng.random() < 0.5 else [faulted[0], praised[0]]
        phrases = [self.aspect_phrase(s[0], s[1]) for s in main]
        if len(phrases) >= 2 and rng.random() < 0.7:
            first, second = phrases[0], phrases[1]
            if main[0][2] == main[1][2]:
                join = " and " if lang == "en" else " y "
            else:
                join = rng.choice([", ", " but "] if lang == "en" else [", ", " pero "])
            return cap(finish(lang, first + join + second))
        aspect, adjective = main[0][0], main[0][1]
        if rng.random() < 0.35 and adjective not in ABSOLUTE and " " not in adjective:
            # three words, often: "Really gripping plot", "Trama muy absorbente"
            if lang == "en":
                return f"{rng.choice(('Really', 'Very', 'Such'))} {adjective} {aspect.noun.text}"
            adj = es_inflect(adjective, aspect.noun.gender, aspect.noun.plural)
            return cap(f"{aspect.noun.text} {rng.choice(('muy', 'bastante'))} {adj}")
        if lang == "en":
            article = "" if aspect.noun.plural or aspect.noun.mass else "‹a› "
            template = rng.choice(["{a}{subj} with {art}{phrase}", "{subj} with {art}{phrase}"])
            text = template.format(a="‹a› ", subj=subject.noun.text, art=article,
                                   phrase=self.aspect_phrase(aspect, adjective))
        else:
            article = "" if aspect.noun.plural else es_words(aspect.noun)["un"] + " "
            lead = es_words(subject.noun)["un"] + " " if rng.random() < 0.5 else ""
            text = f"{lead}{subject.noun.text} con {article}" \
                   f"{self.aspect_phrase(aspect, adjective)}"
        return cap(finish(lang, text))


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def category_plan(rows: int, rng: random.Random) -> list[str]:
    """Exactly BOOK_SHARES of ``rows`` for the book categories, the rest shared evenly."""
    plan: list[str] = []
    for category, share in BOOK_SHARES.items():
        plan += [category] * round(rows * share)
    rest = rows - len(plan)
    for i, category in enumerate(PRODUCT_CATEGORIES):
        plan += [category] * (rest // len(PRODUCT_CATEGORIES)
                              + (i < rest % len(PRODUCT_CATEGORIES)))
    rng.shuffle(plan)
    return plan


def star_plan(rows: int, rng: random.Random) -> list[int]:
    plan = [1 + i % 5 for i in range(rows)]
    rng.shuffle(plan)
    return plan


def generate(seed: int = SEED) -> dict[str, str]:
    """``{file name: JSON Lines text}`` for every language and split."""
    files = {}
    for lang in LANGUAGES:
        rng = random.Random(f"marc-sample/{seed}/{lang}")
        composer = Composer(lang, rng)
        products: list[tuple[str, str, Subject]] = []
        reviewers: list[str] = []
        bodies: set[str] = set()
        for split, rows in SPLIT_SIZES.items():
            lines = []
            for i, (category, stars) in enumerate(zip(category_plan(rows, rng),
                                                      star_plan(rows, rng), strict=True)):
                bank = "book" if category in BOOK_SHARES else category
                same_category = [p for p in products if p[1] == category]
                if same_category and rng.random() < 0.1:
                    product_id, _, subject = rng.choice(same_category)
                else:
                    subject = rng.choice(SUBJECTS[lang][bank])
                    product_id = f"sample-product-{lang}-{len(products) + 1:04d}"
                    products.append((product_id, category, subject))
                if reviewers and rng.random() < 0.06:
                    reviewer_id = rng.choice(reviewers)
                else:
                    reviewer_id = f"sample-reviewer-{lang}-{len(reviewers) + 1:04d}"
                    reviewers.append(reviewer_id)
                review = composer.review(category, subject, stars)
                while review.body in bodies:  # no review twice (e.g. across splits)
                    review = composer.review(category, subject, stars)
                bodies.add(review.body)
                row = {
                    "review_id": f"sample-{lang}-{split}-{i + 1:04d}",
                    "product_id": product_id,
                    "reviewer_id": reviewer_id,
                    "stars": str(review.stars),
                    "review_body": review.body,
                    "review_title": review.title,
                    "language": lang,
                    "product_category": category,
                }
                assert tuple(row) == FIELDS
                lines.append(json.dumps(row, ensure_ascii=False) + "\n")
            files[f"dataset_{lang}_{split}.json"] = "".join(lines)
    return files


def write(out: Path, seed: int = SEED) -> list[Path]:
    written = []
    for name, text in generate(seed).items():
        write_text(out / name, text)
        written.append(out / name)
    return written


def check(out: Path, seed: int = SEED) -> list[str]:
    """Names of the files in ``out`` that differ from a fresh generation (or are missing)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write(Path(tmp), seed)
        return [path.name for path in fresh
                if not (out / path.name).is_file()
                or (out / path.name).read_bytes() != path.read_bytes()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sample",
                        help="folder to write (default: data/sample)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 unless the files in --out are reproduced")
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.out)
        if stale:
            print(f"error: not reproduced by scripts/make_sample.py: {', '.join(stale)}",
                  file=sys.stderr)
            return 1
        print(f"ok: {args.out} is reproduced byte for byte")
        return 0
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
