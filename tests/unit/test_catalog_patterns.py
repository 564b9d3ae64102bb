"""Entity-ruler patterns from the catalog (bot/ops/catalog_patterns.py) and the spaCy pipeline built from them.

A customer writes "the lunch bags", "a tealight holder" or the full product
name; the assistant must recognise each as the product the shop sells and
hand the action one canonical value.
"""

from __future__ import annotations

import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from analytics.core.errors import InvalidInput
from analytics.ingest.categories import OTHER, category_names
from analytics.ingest.online_retail import import_online_retail
from analytics.store.models import Product
from analytics.store.uow import SqlAlchemyUnitOfWork
from bot.ops.catalog_patterns import (
    CATEGORY,
    PRODUCT,
    Pattern,
    PhraseRuler,
    build_patterns,
    product_types,
    read_patterns,
    synonyms_yaml,
    write_patterns,
)

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "retail" / "online_retail_sample.csv.gz"
SHIPPED_PATTERNS = ROOT / "data" / "catalog_patterns.jsonl"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
needs_rasa_env = pytest.mark.skipif(
    not RASA_PYTHON.exists(), reason="needs .venv-rasa (spaCy 3.4): create it with `make env`"
)

LUNCH_BAGS = [
    ("LUNCH BAG RED RETROSPOT", "Bags"),
    ("LUNCH BAG BLACK SKULL", "Bags"),
    ("LUNCH BAG CARS BLUE", "Bags"),
    ("LUNCH BAG SUKI DESIGN", "Bags"),
    ("LUNCH BAG WOODLAND", "Bags"),
]
CATALOG = [
    *LUNCH_BAGS,
    ("JUMBO BAG RED RETROSPOT", "Bags"),
    ("JUMBO BAGS BAROQUE", "Bags"),
    ("WHITE HANGING HEART T-LIGHT HOLDER", "Candles & Lighting"),
    ("RED HANGING HEART T-LIGHT HOLDER", "Candles & Lighting"),
    ("EMBOSSED GLASS TEALIGHT HOLDER", "Candles & Lighting"),
    ("HEART OF WICKER SMALL", "Home Decor"),
    ("REGENCY CAKESTAND 3 TIER", "Kitchen & Dining"),
    ("SWEETHEART CAKE STAND", "Kitchen & Dining"),
]


def by_surface(patterns: list[Pattern]) -> dict[str, Pattern]:
    return {p.pattern: p for p in patterns}


# --------------------------------------------------------------------------- learning product types


def test_a_phrase_many_products_share_becomes_a_product_type() -> None:
    assert product_types([d for d, _ in LUNCH_BAGS], min_products=5) == {"lunch bag": 5}


def test_a_phrase_in_too_few_products_is_not_a_type() -> None:
    assert "lunch bag" not in product_types([d for d, _ in LUNCH_BAGS[:4]], min_products=5)


def test_plurals_and_spellings_count_as_one_type() -> None:
    types = product_types(
        [
            "JUMBO BAG RED",
            "JUMBO BAGS PINK",
            "REGENCY CAKESTAND",
            "CAKE STAND WHITE",
            "TEALIGHT HOLDER",
            "T-LIGHT HOLDER",
        ],
        min_products=2,
    )
    assert types == {"cake stand": 2, "jumbo bag": 2, "t-light": 2, "t-light holder": 2}


def test_colours_sizes_and_everyday_words_are_not_types() -> None:
    names = [f"RED {noun} {i}X" for noun in ("BOX", "MUG") for i in range(5)] + [f"SMALL MUG {i}" for i in range(5)]
    types = product_types(names, min_products=5)
    assert "box" not in types  # "the box was crushed" is not about a product
    assert "mug" in types
    assert not any(t.startswith(("red ", "small ")) for t in types)


def test_min_products_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="min_products"):
        product_types(["LUNCH BAG"], min_products=0)


# --------------------------------------------------------------------------- patterns


def test_every_product_name_is_a_pattern_with_its_own_value() -> None:
    patterns = by_surface(build_patterns(CATALOG, min_products=2))
    for description, _ in CATALOG:
        name = description.lower()
        assert patterns[name] == Pattern(PRODUCT, name, name)


def test_names_are_also_found_in_the_order_customers_say_them() -> None:
    patterns = by_surface(build_patterns(CATALOG, min_products=2))
    assert patterns["red retrospot lunch bag"].id == "lunch bag red retrospot"
    assert patterns["small heart of wicker"].id == "heart of wicker small"


def test_plurals_and_spellings_of_a_type_give_one_value() -> None:
    patterns = by_surface(build_patterns(CATALOG, min_products=2))
    for surface in ("t-light holder", "t-light holders", "tealight holder", "tea light holders", "tlight holder"):
        assert patterns[surface] == Pattern(PRODUCT, surface, "t-light holder")
    assert patterns["cakestands"].id == "cake stand"


def test_every_category_is_found_by_name_and_everyday_word() -> None:
    patterns = by_surface(build_patterns(CATALOG, min_products=2))
    categories = {p.id for p in patterns.values() if p.label == CATEGORY}
    assert categories == set(category_names()) - {OTHER}
    assert patterns["kitchen"] == Pattern(CATEGORY, "kitchen", "Kitchen & Dining")
    assert patterns["kitchen and dining"].id == "Kitchen & Dining"
    assert patterns["kitchen & dining"].id == "Kitchen & Dining"


def test_a_category_word_is_never_a_product() -> None:
    patterns = build_patterns([*CATALOG, *[(f"WOODEN TOY {c}", "Toys & Games") for c in "ABCDE"]], min_products=2)
    assert by_surface(patterns)["toy"].label == CATEGORY
    surfaces = [p.pattern for p in patterns]
    assert len(surfaces) == len(set(surfaces))


def test_an_empty_catalog_is_refused() -> None:
    with pytest.raises(InvalidInput, match="no products"):
        build_patterns([])


# --------------------------------------------------------------------------- matching like the entity ruler


@pytest.fixture(scope="module")
def ruler() -> PhraseRuler:
    return PhraseRuler(build_patterns(CATALOG, min_products=2))


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("how much is the WHITE HANGING HEART T-LIGHT HOLDER?", [("white hanging heart t-light holder", PRODUCT)]),
        ("is the glass t-light holder in stock", [("t-light holder", PRODUCT)]),
        ("3 of the Tealight Holders", [("t-light holder", PRODUCT)]),
        ("something like the red retrospot lunch bag", [("lunch bag red retrospot", PRODUCT)]),
        ("any kitchen ideas under £20?", [("Kitchen & Dining", CATEGORY)]),
        ("a lunch bag and a jumbo bag", [("lunch bag", PRODUCT), ("jumbo bag", PRODUCT)]),
        ("lunchbags and t-lightholders", []),
        ("my bag was lost", []),
    ],
)
def test_the_ruler_finds_whole_phrases_longest_first(
    ruler: PhraseRuler, text: str, found: list[tuple[str, str]]
) -> None:
    assert [(m.id, m.label) for m in ruler.find(text)] == found


def test_a_match_spans_exactly_the_words_written(ruler: PhraseRuler) -> None:
    text = "Is the Lunch Bag in stock?"
    (match,) = ruler.find(text)
    assert text[match.start : match.end] == "Lunch Bag"


# --------------------------------------------------------------------------- files


def _add_products(uow: SqlAlchemyUnitOfWork, catalog: list[tuple[str, str]]) -> None:
    with uow:
        for i, (description, category) in enumerate(catalog):
            uow.session.add(
                Product(
                    sku=f"SKU{i:03d}",
                    name=description.title(),
                    description=description,
                    category=category,
                    unit_price=Decimal("1.95"),
                )
            )
        uow.commit()


def test_write_patterns_writes_the_store_catalog_as_jsonl(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    _add_products(sqlite_uow, CATALOG)
    path = tmp_path / "patterns.jsonl"
    written = write_patterns(sqlite_uow, path, min_products=2)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"label": p.label, "pattern": p.pattern, "id": p.id} for p in written
    ]
    assert {"label": PRODUCT, "pattern": "lunch bags", "id": "lunch bag"} in map(json.loads, lines)
    assert read_patterns(path) == written


def test_write_patterns_is_repeatable(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    _add_products(sqlite_uow, CATALOG)
    write_patterns(sqlite_uow, tmp_path / "a.jsonl")
    write_patterns(sqlite_uow, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_write_patterns_refuses_an_empty_store(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="import the product data"):
        write_patterns(sqlite_uow, tmp_path / "patterns.jsonl")
    assert not (tmp_path / "patterns.jsonl").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty"),
        ('{"label": "product", "pattern": "mug", "id": "mug"}\nnot json\n', "line 2: not JSON"),
        ('{"label": "colour", "pattern": "red", "id": "red"}\n', "line 1: label 'colour'"),
        ('{"label": "product", "pattern": "mug"}\n', "line 1: expected"),
        (
            '{"label": "product", "pattern": "mug", "id": "mug"}\n{"label": "product", "pattern": "MUG", "id": "x"}\n',
            "line 2",
        ),
    ],
)
def test_a_bad_patterns_file_is_refused_with_its_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "patterns.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        read_patterns(path)


def test_a_missing_patterns_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"python -m bot\.ops\.catalog_patterns"):
        read_patterns(tmp_path / "nope.jsonl")


def test_synonyms_map_what_customers_write_to_the_value_actions_get() -> None:
    text = synonyms_yaml(build_patterns(CATALOG, min_products=2))
    assert '  - synonym: "t-light holder"\n    examples: |\n' in text
    assert "      - tealight holders\n" in text
    assert '  - synonym: "Kitchen & Dining"' in text
    assert "      - lunch bag red retrospot\n" not in text  # a name already is its own value


@pytest.mark.slow
def test_the_shipped_patterns_are_those_of_the_shipped_sample(sqlite_uow: SqlAlchemyUnitOfWork, tmp_path: Path) -> None:
    import_online_retail(sqlite_uow, SAMPLE)
    write_patterns(sqlite_uow, tmp_path / "patterns.jsonl")
    assert (tmp_path / "patterns.jsonl").read_text(encoding="utf-8") == SHIPPED_PATTERNS.read_text(encoding="utf-8"), (
        "data/catalog_patterns.jsonl is out of date: run `python -m bot.ops.catalog_patterns data/catalog_patterns.jsonl "
        "data/nlu/synonyms.yml`"
    )


# --------------------------------------------------------------------------- the spaCy pipeline (Rasa environment)


def _build_spacy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RASA_PYTHON), "-m", "bot.rasa_runtime.nlu.build_spacy", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
        check=False,
    )


@pytest.mark.slow
@needs_rasa_env
def test_the_built_pipeline_finds_products_and_gives_their_value(tmp_path: Path) -> None:
    patterns = tmp_path / "patterns.jsonl"
    patterns.write_text("".join(p.as_json() + "\n" for p in build_patterns(CATALOG, min_products=2)), encoding="utf-8")
    out = tmp_path / "shop_en"
    assert _build_spacy(str(patterns), str(out)).returncode == 0
    first = (out / "entity_ruler" / "patterns.jsonl").read_bytes()
    assert _build_spacy(str(patterns), str(out)).returncode == 0  # building again replaces the pipeline
    assert (out / "entity_ruler" / "patterns.jsonl").read_bytes() == first
    script = (
        "import json, spacy, sys; nlp = spacy.load(sys.argv[1]);"
        "print(json.dumps([[e.text, e.label_, e.ent_id_] for e in nlp(sys.argv[2]).ents] + [nlp.pipe_names]))"
    )
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", script, str(out), "is the Lunch Bag in stock or the tealight holders"],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
        check=True,
    )
    *ents, pipes = json.loads(result.stdout)
    assert ents == [["Lunch Bag", "product", "lunch bag"], ["tealight holders", "product", "t-light holder"]]
    assert pipes == ["entity_ruler", "lemmatizer"]


@needs_rasa_env
@pytest.mark.parametrize("content", [None, "not json\n"])
def test_building_from_a_missing_or_invalid_file_fails_with_one_line(tmp_path: Path, content: str | None) -> None:
    patterns = tmp_path / "patterns.jsonl"
    if content is not None:
        patterns.write_text(content, encoding="utf-8")
    result = _build_spacy(str(patterns), str(tmp_path / "shop_en"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "shop_en").exists()
