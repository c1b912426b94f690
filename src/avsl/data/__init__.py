"""Datasets: the native (VGG-SS) layout, audio/image decoding, the synthetic benchmark."""
