"""Masking personal data in text shown to people or kept for NLU training."""

from __future__ import annotations

import pytest

from analytics.security.masking import mask_email, mask_name, mask_text


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("  Jane.Doe@Example.com ", "J***@Example.com"),
        ("x@shop.co.uk", "x***@shop.co.uk"),
        ("odd@name@example.com", "o***@example.com"),
        ("not-an-address", "n***"),
        ("", ""),
    ],
)
def test_mask_email_keeps_only_the_first_character_and_the_domain(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_mask_email_does_not_reveal_the_length_of_the_local_part() -> None:
    assert len(mask_email("al@example.com")) == len(mask_email("ab.cdefghij@example.com"))


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("Jane Doe", "J*** D***"),
        ("Jane van  Dijk", "J*** v*** D***"),
        ("O'Brien", "O***"),
        ("", ""),
    ],
)
def test_mask_name_keeps_initials(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_text_masks_every_kind_of_personal_data_in_one_message() -> None:
    text = "Hi, I'm Jane Doe (jane.doe@example.com), order 536365, call me on +44 7700 900123"
    assert mask_text(text, names=["Jane Doe"]) == (
        "Hi, I'm J*** D*** (j***@example.com), order ******, call me on +** **** ******"
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("where is 536365?", "where is ******?"),
        ("cancellation C536379 please", "cancellation C****** please"),
        ("order #581587", "order #******"),
        ("orders 536365, 536366", "orders ******, ******"),
    ],
)
def test_mask_text_masks_order_numbers(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("ring 07700 900123", "ring ***** ******"),
        ("ring (020) 7946-0958 today", "ring (***) ****-**** today"),
        ("ring 0044.20.7946.0958", "ring ****.**.****.****"),
        ("ring +1 415 555 2671.", "ring +* *** *** ****."),
    ],
)
def test_mask_text_masks_phone_numbers_in_common_layouts(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "I want 12 of the 85123A hearts for £2.55 each",
        "delivered on 2026-11-24 10:30",
        "set of 3 cake tins, 20 x 30 cm",
        "tracking JD0002212345678901",
        "1234567",  # 7 digits: neither an order number nor a phone number
    ],
)
def test_mask_text_leaves_prices_dates_quantities_and_codes_alone(text: str) -> None:
    assert mask_text(text) == text


def test_mask_text_masks_given_names_as_whole_words_in_any_case() -> None:
    text = "JANE said jane's parcel is late; Janet and Dijkstra are other people. Ask Mr van Dijk."
    masked = mask_text(text, names=["Jane", "van Dijk"])
    assert masked == "J*** said j***'s parcel is late; Janet and Dijkstra are other people. Ask Mr v*** D***."


def test_mask_text_prefers_the_full_name_to_its_parts() -> None:
    assert mask_text("Jane Doe and Jane", names=["Jane", "Jane Doe"]) == "J*** D*** and J***"


def test_mask_text_without_names_leaves_names_and_ignores_blank_entries() -> None:
    assert mask_text("Jane Doe here", names=["", "  "]) == "Jane Doe here"


def test_mask_text_reads_names_literally_not_as_patterns() -> None:
    assert mask_text("J. Smith and JX Smith", names=["J. Smith"]) == "J*** S*** and JX Smith"


def test_mask_text_masks_an_email_whose_local_part_holds_a_name_or_number() -> None:
    assert mask_text("jane.536365@example.com", names=["jane"]) == "j***@example.com"
