"""Finding the product a customer means (analytics/usecases/catalogue_search.py), on a small hand-made catalogue."""

from __future__ import annotations

from decimal import Decimal

import pytest

from analytics.core.text import terms
from analytics.usecases.catalogue_search import CatalogIndex, Listing


def item(i: int, sku: str, name: str, popularity: int = 10, category: str = "Kitchen & Dining") -> Listing:
    return Listing(i, sku, name, category, Decimal("2.95"), True, popularity)


CATALOGUE = [
    item(1, "22423", "Regency Cakestand 3 Tier", 900),
    item(2, "37449", "Ceramic Cake Stand + Hanging Cakes", 30),
    item(3, "21527", "Red Retrospot Traditional Teapot", 13),
    item(4, "23173", "Regency Teapot Roses", 40),
    item(5, "20725", "Lunch Bag Red Retrospot", 160),
    item(6, "20726", "Lunch Bag Woodland", 120),
    item(7, "85123A", "White Hanging Heart T-Light Holder", 180),
    item(8, "21733", "Red Hanging Heart T-Light Holder", 90),
    item(9, "22941", "Christmas Lights 10 Reindeer", 28, "Christmas & Seasonal"),
    item(10, "22942", "Christmas Lights 10 Santas", 18, "Christmas & Seasonal"),
    item(11, "20682", "Red Retrospot Childrens Umbrella", 20),
    item(12, "22692", "Doormat Welcome To Our Home", 25),
    item(13, "48188", "Doormat Welcome Puppies", 30),
    item(14, "22151", "Do Not Touch My Stuff Door Hanger", 12),
]


@pytest.fixture(scope="module")
def index() -> CatalogIndex:
    return CatalogIndex(CATALOGUE)


def picked(index: CatalogIndex, text: str, **kwargs: object) -> str | None:
    one = index.link(text, **kwargs).pick()  # type: ignore[arg-type]
    return one.name if one else None


@pytest.mark.parametrize(
    ("question", "product"),
    [
        ("what goes well with the regency cakestand", "Regency Cakestand 3 Tier"),
        ("how much is the red retrospot teapot", "Red Retrospot Traditional Teapot"),
        ("hw much is the red retrospot teapto", "Red Retrospot Traditional Teapot"),
        ("price of 85123a", "White Hanging Heart T-Light Holder"),
        ("white hanging heart tea light holder", "White Hanging Heart T-Light Holder"),
        ("do you have kids umbrellas", "Red Retrospot Childrens Umbrella"),
    ],
)
def test_the_product_a_question_names_is_found_typos_compounds_and_synonyms_included(
    index: CatalogIndex, question: str, product: str
) -> None:
    assert picked(index, question) == product


def test_words_that_fit_several_products_equally_pick_none_and_offer_the_best_known_first(index: CatalogIndex) -> None:
    linked = index.link("how much is the lunch bag")
    assert linked.pick() is None
    assert [p.name for p in linked.options()] == ["Lunch Bag Red Retrospot", "Lunch Bag Woodland"]


def test_cake_stand_and_cakestand_find_each_other(index: CatalogIndex) -> None:
    names = {p.name for p in index.link("a cake stand").options()}
    assert names == {"Regency Cakestand 3 Tier", "Ceramic Cake Stand + Hanging Cakes"}


def test_everyday_words_of_a_message_do_not_outweigh_a_product_name(index: CatalogIndex) -> None:
    # "its" and "not" are catalogue words ("Do Not Touch ..."), but weigh little
    assert picked(index, "can i send back the regency cakestand its not what i expected") == "Regency Cakestand 3 Tier"


def test_real_words_that_name_no_product_are_not_stretched_onto_one(index: CatalogIndex) -> None:
    linked = index.link("where is my order, it was chipped")
    assert linked.candidates == () and not linked.names_something


def test_one_everyday_word_does_not_make_a_product_question(index: CatalogIndex) -> None:
    assert not index.link("lovely, and what else?").names_something
    assert index.link("do you sell lunch bags").names_something


def test_within_limits_the_search_to_some_products_and_their_words(index: CatalogIndex) -> None:
    order = ["20725", "21527"]
    assert (
        picked(index, "the 200 lunch bags came damp and smelling of mould", within=order) == "Lunch Bag Red Retrospot"
    )
    assert picked(index, "the teapot", within=order) == "Red Retrospot Traditional Teapot"
    assert index.link("the doormat", within=order).candidates == ()


def test_words_side_by_side_in_a_name_rank_first(index: CatalogIndex) -> None:
    best = index.link("christmas lights").best_group
    assert {c.listing.name for c in best} == {"Christmas Lights 10 Reindeer", "Christmas Lights 10 Santas"}


def test_terms_fold_plurals_hyphens_and_filler_words() -> None:
    assert terms("Do you have any LUNCH BAGS?").words == ("lunch", "bag")
    assert terms("t-lights").words == ("tlight",)
    assert terms("order 581474 please").words == ()


def test_a_names_own_misspelling_also_stands_for_the_word_it_misspells() -> None:
    # the catalogue spells "Strawbery" in one name and "Strawberry" in others: a customer's "strawbery"
    # may mean either, and the other words decide
    index = CatalogIndex(
        [
            item(1, "22059", "Ceramic Strawberry Design Mug"),
            item(2, "22055", "Mini Cake Stand Hanging Strawbery"),
            item(3, "22057", "Ceramic Plate Strawberry Design"),
        ]
    )
    assert picked(index, "the ceramic strawbery mugs came broken") == "Ceramic Strawberry Design Mug"
    assert picked(index, "the ceramic strawbery mugs", within=["22059", "22055"]) == "Ceramic Strawberry Design Mug"
    assert picked(index, "the hanging strawbery cake stand") == "Mini Cake Stand Hanging Strawbery"
    assert picked(index, "strawberry cake stand") == "Mini Cake Stand Hanging Strawbery"


def test_product_codes_in_a_message_are_found(index: CatalogIndex) -> None:
    assert index.skus_in("and 22423? or 85123a") == ["22423", "85123A"]
    assert index.skus_in("order 581474 and 99999") == []


def test_a_whole_name_standing_alone_in_a_chatty_message_is_that_product() -> None:
    shop = CatalogIndex(
        [
            item(1, "21452", "Toadstool Money Box", 15),
            item(2, "21439", "Basket Of Toadstools", 22),
            item(3, "22255", "Felt Toadstool Small", 11),
            item(4, "22254", "Felt Toadstool Large", 9),
            item(5, "22750", "Money Box First Ade Design", 5),
            item(6, "23000", "Ice Cream Sundae Lip Gloss", 5),
            item(7, "23001", "Doughnut Lip Gloss", 5),
            item(8, "22629", "Spaceboy Lunch Box", 40),
            item(9, "22630", "Dolly Girl Lunch Box", 30),
        ]
    )
    assert picked(shop, "oh quick question first, how much is the toadstool money box") == "Toadstool Money Box"
    # two whole names: both stay options; a name corrected to another: not the first one
    both = shop.link("how much are the spaceboy lunch box and the dolly girl lunch box")
    assert not any(c.how == "exact" for c in both.candidates)
    assert (
        picked(shop, "how much is doughnut lip gloss, no sorry i mean the ice cream sundae one") != "Doughnut Lip Gloss"
    )


def test_a_name_inside_a_longer_product_phrase_is_not_that_product(index: CatalogIndex) -> None:
    shop = CatalogIndex([*CATALOGUE, item(15, "99999", "Heart T-Light Holder", 5)])
    # "hanging" belongs to the phrase: the two hanging ones fit, not the plain one
    assert picked(shop, "how much is the hanging heart t-light holder") is None


def test_a_word_spelt_as_it_sounds_is_the_word_not_the_nearest_spelling() -> None:
    # by letters "nite" is nearer "invites" than "night": customers who type it mean the night lights
    index = CatalogIndex(
        [
            item(1, "22616", "Party Invites Spaceman", 50),
            item(2, "23084", "Owl Night Light"),
            item(3, "21731", "Bright Star Garland"),
        ]
    )
    assert picked(index, "do you have any nite lights") == "Owl Night Light"
    assert picked(index, "do you have any nite lites") == "Owl Night Light"
    assert picked(index, "the party invites") == "Party Invites Spaceman"


def test_a_number_in_the_question_picks_the_name_that_holds_it() -> None:
    shop = CatalogIndex(
        [
            item(1, "22149", "Dolly Cabinet 2 Drawers", 60),
            item(2, "22150", "Dolly Cabinet 3 Drawers", 20),
        ]
    )
    assert picked(shop, "dolly cabinet 3 drawers price") == "Dolly Cabinet 3 Drawers"
    assert picked(shop, "how much is the dolly cabinet with 2 drawers") == "Dolly Cabinet 2 Drawers"
    # an order number is not part of a name: both still fit
    assert picked(shop, "the dolly cabinet from order 581487") is None
