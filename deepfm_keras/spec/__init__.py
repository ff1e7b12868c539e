"""What a model is made of, written once: the name rule (`names.py`); the features and tasks build on it."""
