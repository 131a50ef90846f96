"""The FiftyOne side: load, curate, check, write back and export."""
from scraping.cli import check_own_datasets

check_own_datasets()  # drawnet's `datasets`, not Hugging Face's of the same name
