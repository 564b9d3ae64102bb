"""Customer tokens, attempt limits and masking of personal data in text."""
