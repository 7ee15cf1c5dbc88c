"""The monthly processes of the model, one small module each (see docs/ODD.md, section 3)."""
