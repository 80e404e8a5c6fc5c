"""The audience stage: a crowd's mood every window (windows), its background (background), links, summary."""
