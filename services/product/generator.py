"""A seeded, realistic catalogue in the import format (JSON Lines), for tests and benchmarks.

`generate(count, seed)` yields product documents (`ProductIn`-shaped dicts). It is deterministic:
the category tree and the brands depend only on `seed`, and product `i` on `(seed, i)` alone (its
Faker instance is seeded per index), so the first 1,000 products of a 100k catalogue are the
1,000-product catalogue. What makes it realistic enough for search and facets:

- ~200 categories in a three-level tree (department > group > leaf), ~300 brands, each brand
  selling in one or two departments; brands and leaf categories are drawn from a Zipf-like
  distribution (a few are very common, most are rare), like a real shop's long tail;
- 1-6 variants per product over size and colour axes that fit the department;
- prices in EUR for most products, some in USD, GBP, CHF, SEK and JPY (zero-decimal);
- names and descriptions made of real English words (Faker's word list plus the department's
  vocabulary), so full-text search has something to find;
- unique slugs and SKUs (both carry the product index).
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

# Department -> group -> leaves. Each leaf is "Name:noun" (the noun names its products) or just a
# name when the singular noun is the name itself.
TAXONOMY: dict[str, dict[str, list[str]]] = {
    "Clothing": {
        "Men": ["Shirts:Shirt", "T-Shirts:T-Shirt", "Jeans", "Trousers", "Jackets:Jacket",
                "Sweaters:Sweater", "Suits:Suit", "Shorts"],
        "Women": ["Dresses:Dress", "Blouses:Blouse", "Skirts:Skirt", "Jeans", "Coats:Coat",
                  "Cardigans:Cardigan", "Leggings", "Jumpsuits:Jumpsuit"],
        "Kids": ["Baby Clothing:Bodysuit", "Pyjamas", "Hoodies:Hoodie", "School Uniforms:Polo"],
        "Underwear": ["Socks", "Boxers", "Bras:Bra", "Thermals:Base Layer"],
        "Accessories": ["Scarves:Scarf", "Hats:Hat", "Belts:Belt", "Gloves"],
    },
    "Shoes": {
        "Sneakers": ["Running Shoes:Running Shoe", "Court Sneakers:Court Sneaker",
                     "Skate Shoes:Skate Shoe", "Slip-Ons:Slip-On"],
        "Boots": ["Chelsea Boots:Chelsea Boot", "Hiking Boots:Hiking Boot",
                  "Rain Boots:Rain Boot", "Winter Boots:Winter Boot"],
        "Formal Shoes": ["Oxfords:Oxford", "Loafers:Loafer", "Brogues:Brogue", "Pumps:Pump"],
        "Sandals": ["Flip-Flops:Flip-Flop", "Slides:Slide", "Espadrilles:Espadrille"],
    },
    "Electronics": {
        "Phones": ["Smartphones:Smartphone", "Phone Cases:Phone Case", "Chargers:Charger",
                   "Screen Protectors:Screen Protector"],
        "Computers": ["Laptops:Laptop", "Monitors:Monitor", "Keyboards:Keyboard", "Mice:Mouse",
                      "Docking Stations:Docking Station"],
        "Audio": ["Headphones", "Earbuds", "Speakers:Speaker", "Soundbars:Soundbar",
                  "Turntables:Turntable"],
        "Cameras": ["Mirrorless Cameras:Mirrorless Camera", "Lenses:Lens",
                    "Action Cameras:Action Camera", "Tripods:Tripod"],
        "Smart Home": ["Smart Bulbs:Smart Bulb", "Thermostats:Thermostat",
                       "Security Cameras:Security Camera", "Smart Plugs:Smart Plug"],
    },
    "Home & Kitchen": {
        "Cookware": ["Frying Pans:Frying Pan", "Saucepans:Saucepan", "Dutch Ovens:Dutch Oven",
                     "Woks:Wok"],
        "Kitchen Appliances": ["Coffee Machines:Coffee Machine", "Kettles:Kettle",
                               "Toasters:Toaster", "Blenders:Blender", "Stand Mixers:Stand Mixer"],
        "Tableware": ["Plates:Plate", "Mugs:Mug", "Glasses:Glass", "Cutlery Sets:Cutlery Set"],
        "Bedding": ["Duvet Covers:Duvet Cover", "Pillows:Pillow", "Sheets:Sheet Set",
                    "Blankets:Blanket"],
        "Furniture": ["Sofas:Sofa", "Desks:Desk", "Office Chairs:Office Chair",
                      "Bookcases:Bookcase", "Side Tables:Side Table"],
        "Decor": ["Lamps:Lamp", "Rugs:Rug", "Mirrors:Mirror", "Candles:Candle", "Vases:Vase"],
    },
    "Sports & Outdoors": {
        "Fitness": ["Yoga Mats:Yoga Mat", "Dumbbells:Dumbbell", "Resistance Bands:Resistance Band",
                    "Kettlebells:Kettlebell"],
        "Cycling": ["Road Bikes:Road Bike", "Bike Helmets:Bike Helmet", "Bike Lights:Bike Light",
                    "Cycling Jerseys:Cycling Jersey"],
        "Camping": ["Tents:Tent", "Sleeping Bags:Sleeping Bag", "Backpacks:Backpack",
                    "Camping Stoves:Camping Stove"],
        "Running": ["Running Jackets:Running Jacket", "Running Tights:Running Tights",
                    "Sports Watches:Sports Watch"],
        "Water Sports": ["Wetsuits:Wetsuit", "Swim Goggles:Swim Goggles",
                         "Paddle Boards:Paddle Board"],
    },
    "Beauty": {
        "Skincare": ["Moisturisers:Moisturiser", "Cleansers:Cleanser", "Serums:Serum",
                     "Sunscreens:Sunscreen"],
        "Makeup": ["Lipsticks:Lipstick", "Foundations:Foundation", "Mascaras:Mascara",
                   "Eyeshadow Palettes:Eyeshadow Palette"],
        "Hair Care": ["Shampoos:Shampoo", "Conditioners:Conditioner", "Hair Dryers:Hair Dryer",
                      "Straighteners:Straightener"],
        "Fragrances": ["Eau de Parfum", "Eau de Toilette", "Body Mists:Body Mist"],
    },
    "Toys & Games": {
        "Building Toys": ["Building Sets:Building Set", "Marble Runs:Marble Run",
                          "Magnetic Tiles:Magnetic Tile Set"],
        "Board Games": ["Strategy Games:Strategy Game", "Family Games:Family Game",
                        "Card Games:Card Game", "Puzzles:Puzzle"],
        "Outdoor Toys": ["Scooters:Scooter", "Trampolines:Trampoline", "Kites:Kite"],
        "Dolls & Figures": ["Dolls:Doll", "Action Figures:Action Figure",
                            "Plush Toys:Plush Toy"],
    },
    "Books": {
        "Fiction": ["Crime Novels:Crime Novel", "Science Fiction:Science Fiction Novel",
                    "Fantasy:Fantasy Novel", "Romance:Romance Novel"],
        "Non-Fiction": ["Biographies:Biography", "History:History Book",
                        "Popular Science:Science Book", "Travel Guides:Travel Guide"],
        "Cooking": ["Baking:Baking Book", "Vegetarian Cooking:Vegetarian Cookbook",
                    "World Cuisine:Cookbook"],
        "Children's Books": ["Picture Books:Picture Book", "Early Readers:Early Reader",
                             "Young Adult:Young Adult Novel"],
    },
    "Garden": {
        "Garden Tools": ["Spades:Spade", "Pruners:Pruner", "Hoses:Hose",
                         "Wheelbarrows:Wheelbarrow"],
        "Plants": ["Houseplants:Houseplant", "Seeds:Seed Pack", "Bulbs:Flower Bulb Pack"],
        "Outdoor Furniture": ["Garden Chairs:Garden Chair", "Parasols:Parasol",
                              "Hammocks:Hammock"],
        "Barbecues": ["Charcoal Grills:Charcoal Grill", "Gas Grills:Gas Grill",
                      "Grill Tools:Grill Tool Set"],
    },
}  # fmt: skip

# Variant axes per department: (axis name, values).
SIZES_APPAREL = ("XS", "S", "M", "L", "XL", "XXL")
SIZES_SHOES = tuple(str(s) for s in range(36, 47))
COLOURS = ("black", "white", "navy", "grey", "red", "green", "blue", "beige", "brown", "pink",
           "olive", "burgundy", "yellow", "orange", "purple", "silver")  # fmt: skip
AXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "Clothing": (("size", SIZES_APPAREL), ("colour", COLOURS)),
    "Shoes": (("size", SIZES_SHOES), ("colour", COLOURS)),
    "Electronics": (("colour", (*COLOURS[:4], "silver")), ("size", ("64GB", "128GB", "256GB"))),
    "Home & Kitchen": (("colour", COLOURS), ("size", ("small", "medium", "large"))),
    "Sports & Outdoors": (("size", SIZES_APPAREL), ("colour", COLOURS)),
    "Beauty": (
        ("size", ("30ml", "50ml", "100ml", "200ml")),
        ("colour", ("neutral", "rose", "nude", "coral")),
    ),
    "Toys & Games": (("colour", COLOURS[:10]), ("size", ("small", "large"))),
    "Books": (("format", ("Hardcover", "Paperback", "Ebook", "Audiobook")),),
    "Garden": (("size", ("small", "medium", "large")), ("colour", ("green", "black", "grey"))),
}
MATERIALS: dict[str, tuple[str, ...]] = {
    "Clothing": ("cotton", "organic cotton", "linen", "wool", "merino wool", "polyester",
                 "denim", "cashmere", "viscose", "recycled polyester"),
    "Shoes": ("leather", "suede", "canvas", "mesh", "rubber", "recycled nylon"),
    "Electronics": ("aluminium", "plastic", "glass", "stainless steel"),
    "Home & Kitchen": ("stainless steel", "cast iron", "ceramic", "oak", "walnut", "glass",
                       "porcelain", "bamboo", "cotton", "linen"),
    "Sports & Outdoors": ("nylon", "polyester", "neoprene", "carbon", "aluminium", "rubber"),
    "Beauty": ("vegan", "fragrance-free", "organic", "mineral"),
    "Toys & Games": ("wood", "plastic", "cardboard", "plush"),
    "Books": ("paper",),
    "Garden": ("steel", "teak", "plastic", "aluminium", "terracotta"),
}  # fmt: skip
ADJECTIVES = ("Classic", "Essential", "Premium", "Lightweight", "Everyday", "Vintage", "Modern",
              "Compact", "Pro", "Ultra", "Slim", "Relaxed", "Heritage", "Urban", "Alpine",
              "Coastal", "Nordic", "Deluxe", "Eco", "Signature", "Travel", "Performance",
              "Soft", "Rugged", "Field")  # fmt: skip
# Base price range in EUR cents per department (low, high).
PRICE_RANGE: dict[str, tuple[int, int]] = {
    "Clothing": (999, 19_999), "Shoes": (2_999, 24_999), "Electronics": (999, 249_999),
    "Home & Kitchen": (499, 149_999), "Sports & Outdoors": (999, 99_999),
    "Beauty": (399, 14_999), "Toys & Games": (499, 29_999), "Books": (699, 4_999),
    "Garden": (299, 89_999),
}  # fmt: skip
# Other currencies (share of products, EUR -> currency factor); the rest is EUR.
CURRENCIES = (("USD", 0.06, 1.08), ("GBP", 0.04, 0.86), ("JPY", 0.03, 160.0),
              ("CHF", 0.02, 0.96), ("SEK", 0.02, 11.4))  # fmt: skip
BRAND_WORDS = (
    "Aurora",
    "Summit",
    "Harbor",
    "Northwind",
    "Fjord",
    "Cedar",
    "Granite",
    "Meadow",
    "Atlas",
    "Beacon",
    "Compass",
    "Ember",
    "Falcon",
    "Glacier",
    "Horizon",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Raven",
    "Sierra",
    "Tundra",
    "Umber",
    "Vertex",
    "Willow",
    "Zephyr",
    "Copper",
    "Ivory",
    "Linden",
    "Marlow",
    "Otter",
    "Pebble",
    "Saffron",
    "Thistle",
    "Velvet",
    "Wren",
)
MODEL_NAMES = (
    "Aero",
    "Nova",
    "One",
    "Max",
    "Lite",
    "Air",
    "Edge",
    "Flex",
    "Core",
    "Prime",
    "Mini",
    "Plus",
    "X",
    "Trail",
    "City",
    "Home",
    "Go",
    "Duo",
    "Neo",
    "Zen",
)
ORIGINS = ("DE", "FR", "IT", "ES", "PT", "NL", "PL", "SE", "DK", "GB", "US", "CN", "JP", "VN",
           "IN", "TR", "BD", "KR", "TW", "CZ")  # fmt: skip
BRAND_COUNT = 300
BRAND_ZIPF = 1.07
LEAF_ZIPF = 0.9


@dataclass(frozen=True)
class Leaf:
    path: tuple[str, str, str]
    noun: str

    @property
    def department(self) -> str:
        return self.path[0]


@dataclass(frozen=True)
class Brand:
    name: str
    code: str
    departments: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    """What every product of one seed draws from: leaves and brands with Zipf weights."""

    leaves: tuple[Leaf, ...]
    leaf_weights: tuple[float, ...]  # cumulative
    brands_by_department: dict[str, tuple[Brand, ...]]
    brand_weights: dict[str, tuple[float, ...]]  # cumulative, per department


def leaves() -> list[Leaf]:
    found = []
    for department, groups in TAXONOMY.items():
        for group, names in groups.items():
            for entry in names:
                name, _, noun = entry.partition(":")
                found.append(Leaf((department, group, name), noun or name))
    return found


def category_count() -> int:
    """Departments, groups and leaves together."""
    groups = sum(len(g) for g in TAXONOMY.values())
    return len(TAXONOMY) + groups + len(leaves())


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("&", "and")).strip("-")


def _zipf_cumulative(n: int, exponent: float) -> tuple[float, ...]:
    return tuple(itertools.accumulate(1.0 / (rank**exponent) for rank in range(1, n + 1)))


@cache
def _faker_instance() -> Any:
    from faker import Faker  # a dev dependency: only the generator needs it

    return Faker("en_US")


def _faker(seed: int) -> Any:
    """The one Faker instance, reseeded (so the sequence depends on `seed` alone)."""
    fake = _faker_instance()
    fake.seed_instance(seed)
    return fake


def _brand_names(seed: int) -> list[str]:
    fake = _faker(seed)
    suffixes = ("", "", "", " & Co", " Studio", " Works", " Supply", " Labs", " Goods", " House")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < BRAND_COUNT:
        base = fake.last_name() if fake.random.random() < 0.6 else fake.random.choice(BRAND_WORDS)
        name = base + fake.random.choice(suffixes)
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return names


@cache
def catalogue(seed: int) -> Catalogue:
    rng = random.Random(f"kommerce-catalogue-{seed}")  # noqa: S311  # nosec B311 - test data
    all_leaves = leaves()
    rng.shuffle(all_leaves)  # which leaves are popular depends on the seed
    departments = list(TAXONOMY)
    by_department: dict[str, list[Brand]] = {d: [] for d in departments}
    codes: set[str] = set()
    for name in _brand_names(seed):
        letters = re.sub(r"[^A-Z]", "", name.upper())[:4] or "BRND"
        code, n = letters, 1
        while code in codes:
            n += 1
            code = f"{letters[:3]}{n}"
        codes.add(code)
        homes = tuple(rng.sample(departments, 1 if rng.random() < 0.7 else 2))
        brand = Brand(name, code, homes)
        for department in homes:
            by_department[department].append(brand)
    return Catalogue(
        leaves=tuple(all_leaves),
        leaf_weights=_zipf_cumulative(len(all_leaves), LEAF_ZIPF),
        brands_by_department={d: tuple(b) for d, b in by_department.items()},
        brand_weights={d: _zipf_cumulative(len(b), BRAND_ZIPF) for d, b in by_department.items()},
    )


def _pick(rng: random.Random, items: Sequence[Any], cumulative: Sequence[float]) -> Any:
    return items[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])]


def _words(rng: random.Random, vocabulary: Sequence[str], n: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(n))


@cache
def _word_list() -> tuple[str, ...]:
    from faker.providers.lorem.en_US import Provider

    return tuple(w for w in Provider.word_list if w.isalpha() and w.islower())


def _description(rng: random.Random, name: str, leaf: Leaf, material: str, brand: str) -> str:
    words = _word_list()
    noun = leaf.noun.lower()
    opening = rng.choice(
        (
            f"The {name} is a {material} {noun} from {brand}.",
            f"A {material} {noun} by {brand}, made for {leaf.path[1].lower()} who want more.",
            f"{brand} designed this {noun} in {material} for every day.",
            f"Meet the {name}: {material}, comfortable and built to last.",
        )
    )
    sentences = [opening]
    for _ in range(rng.randint(2, 4)):
        sentence = _words(rng, words, rng.randint(6, 14))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
    sentences.append(f"Part of our {leaf.path[2].lower()} range in {leaf.path[0].lower()}.")
    return " ".join(sentences)


def _price(rng: random.Random, department: str) -> tuple[int, str]:
    low, high = PRICE_RANGE[department]
    cents = int(low * (high / low) ** (rng.random() ** 1.6))  # skewed towards cheap
    roll = rng.random()
    for currency, share, factor in CURRENCIES:
        if roll < share:
            if currency == "JPY":  # zero-decimal: whole yen, ending in 80 or 00
                yen = max(100, int(cents / 100 * factor) // 100 * 100)
                return yen - (20 if rng.random() < 0.5 else 0), currency
            return max(99, int(cents * factor) // 100 * 100 + 99), currency
        roll -= share
    return cents // 100 * 100 + rng.choice((99, 95, 49, 0)), "EUR"


def _variants(
    rng: random.Random, leaf: Leaf, brand: Brand, index: int, base: int, currency: str
) -> list[dict[str, Any]]:
    axes = AXES[leaf.department]
    count = min(rng.choices((1, 2, 3, 4, 5, 6), weights=(30, 20, 18, 14, 10, 8))[0],
                *(len(values) for _, values in axes[:1]))  # fmt: skip
    combos: list[tuple[str, ...]] = []
    first_axis = rng.sample(axes[0][1], count)
    second = rng.choice(axes[1][1]) if len(axes) > 1 else None
    for value in sorted(first_axis, key=axes[0][1].index):
        combos.append((value,) if second is None else (value, second))
    base_weight = rng.randint(50, 3000)
    variants = []
    for position, combo in enumerate(combos):
        attributes = {axis: value for (axis, _), value in zip(axes, combo, strict=False)}
        code = "-".join(slugify(v).upper()[:4] for v in combo)
        step = 0 if currency == "JPY" else 100 * position
        variants.append(
            {
                "sku": f"{brand.code}-{index:07d}-{code}",
                "name": " / ".join(v.title() if v.islower() else v for v in combo),
                "attributes": attributes,
                "price": {"amount": base + step, "currency": currency},
                "weight_grams": base_weight + 10 * position,
            }
        )
    return variants


def product(index: int, seed: int = 42) -> dict[str, Any]:
    """Product `index` of the catalogue of `seed` (the same whatever the catalogue's size)."""
    cat = catalogue(seed)
    fake = _faker((seed << 32) ^ index)
    rng: random.Random = fake.random
    leaf: Leaf = _pick(rng, cat.leaves, cat.leaf_weights)
    department = leaf.department
    brand: Brand = _pick(rng, cat.brands_by_department[department], cat.brand_weights[department])
    material = rng.choice(MATERIALS[department])
    adjective = rng.choice(ADJECTIVES)
    name = f"{brand.name} {adjective} {leaf.noun}"
    if rng.random() < 0.4:
        name += f" {rng.choice(MODEL_NAMES)}"  # a model line, e.g. "Nordvik Pro Laptop Aero"
    base, currency = _price(rng, department)
    status = "active" if rng.random() < 0.93 else rng.choice(("draft", "archived"))
    return {
        "slug": f"{slugify(name)}-{index:x}",
        "name": name,
        "description": _description(rng, name, leaf, material, brand.name),
        "status": status,
        "brand": brand.name,
        "category": list(leaf.path),
        "attributes": {"material": material, "origin": rng.choice(ORIGINS)},
        "variants": _variants(rng, leaf, brand, index, base, currency),
    }


def generate(count: int, seed: int = 42) -> Iterator[dict[str, Any]]:
    """`count` product documents (the JSON Lines import format), deterministic for `seed`."""
    if count < 0:
        raise ValueError("count cannot be negative")
    for index in range(count):
        yield product(index, seed)
