"""Estimators and jobs about customers.

RFM, segments, loyalty, lifetime value, churn, offers, the scoring refresh and its report.
"""
