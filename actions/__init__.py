"""Custom actions for the assistant (rasa-sdk). Thin: read slots, call a
service, utter a response named in domain.yml, set slots."""
