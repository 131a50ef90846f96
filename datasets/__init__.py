"""The ILSVRC-2012 vocabulary, file-name matching and the dataset builder."""
