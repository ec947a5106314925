"""Dataset versions: immutable snapshots of confirmed samples, split, preprocessed and augmented."""
