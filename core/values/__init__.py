"""Value types at the bottom of core: the emotion labels and the result records every layer passes around."""
