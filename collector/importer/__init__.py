"""Importing existing data sets: one reader per format (the mirror of collector.export), a
safe view of folders and zips, and the run that checks and stores every image."""
