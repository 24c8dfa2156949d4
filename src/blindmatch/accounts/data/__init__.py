"""Data files of the normalization profiles (lists, the Public Suffix List); see MANIFEST.json."""
