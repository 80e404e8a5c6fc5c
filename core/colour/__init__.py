"""Colour science: sRGB/CIELAB, CIEDE2000, poster palettes and the colour psychology of each emotion."""
