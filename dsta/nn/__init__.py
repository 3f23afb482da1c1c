"""The torch building blocks the models share (none is a model): layers, attention, backbones, the RLE flow and its
loss, and checkpoint reading and writing."""
