"""The access layer: who the caller is, which pages they may use, which data they may see."""
