"""Features, label checks, classifiers and their results."""
from scraping.cli import check_own_datasets

check_own_datasets()  # drawnet's `datasets`, not Hugging Face's of the same name
