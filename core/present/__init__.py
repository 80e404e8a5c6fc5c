"""Words and pictures for people: locale, names, reasons, refusals and the mood card."""
