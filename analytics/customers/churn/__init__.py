"""Will this customer buy again in the next 90 days? Features, labels and models.

- :mod:`~analytics.customers.churn.features`: the feature frame at a cutoff (:func:`customer_features`), the
  "buys again" labels (:func:`purchase_labels`) and the past/future split (:func:`time_split`);
- :mod:`~analytics.customers.churn.model`: :class:`ChurnModel`, five scikit-learn classifiers behind one
  interface, with model-agnostic explanations;
- :mod:`~analytics.customers.churn.compare`: :func:`compare_models` tunes the models and thresholds on the past,
  then scores them and the baselines once on the future.
"""
